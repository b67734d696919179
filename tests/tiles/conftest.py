"""A small deterministic district, committed, for the tile tests.

The API reads through its own pool connections, so the data are committed (not rolled back) and
truncated when the module is done. Two ordinary grids side by side in Guangzhou; hazards, units
and sensors scattered over both; buildings, roads, stations and hydrants as reference data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import psycopg
import pytest
from shapely.geometry import LineString, Point, box

from gis.bulk import copy_frame
from gis.indexing import grid_polygons
from services.auth import mint_token
from services.main import create_app

WEST, SOUTH, EAST, NORTH = 113.300, 23.100, 113.360, 23.140
MID = (WEST + EAST) / 2
GRID_A = box(WEST, SOUTH, MID, NORTH)
GRID_B = box(MID, SOUTH, EAST, NORTH)
ADMIN, WORKER_A = 9001, 9002

TABLES = (
    "hazard", "unit", "sensor", "facility", "station", "vehicle", "building", "road_edge",
    "incident", "hot_work_permit", "risk_score", "risk_cell", "user_grid", "app_user", "grid",
    "region", "tile_change",
)


def _points(rng: np.random.Generator, n: int) -> list[Point]:
    xs = rng.uniform(WEST + 0.0005, EAST - 0.0005, n)
    ys = rng.uniform(SOUTH + 0.0005, NORTH - 0.0005, n)
    return [Point(x, y) for x, y in zip(xs, ys, strict=True)]


def fill(conn: psycopg.Connection) -> None:
    """Insert the test district (the caller commits)."""
    rng = np.random.default_rng(20261123)
    copy_frame(conn, "region", gpd.GeoDataFrame(
        {"id": [1, 2], "code": ["440104", "440104001"], "name": ["越秀区", "北京街"],
         "level": ["district", "street"], "parent_id": pd.array([None, 1], dtype="Int64")},
        geometry=[box(WEST, SOUTH, EAST, NORTH), box(WEST, SOUTH, EAST, NORTH)], crs=4326))
    copy_frame(conn, "grid", gpd.GeoDataFrame(
        {"id": [1, 2], "code": ["G-A", "G-B"], "name": ["甲网格", "乙网格"],
         "kind": ["ordinary", "ordinary"], "community_id": [2, 2], "street_id": [2, 2]},
        geometry=[GRID_A, GRID_B], crs=4326))
    grids = grid_polygons(conn)
    for uid, name, role in [(ADMIN, "t_admin", "admin"), (WORKER_A, "t_worker_a", "grid_worker")]:
        conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) "
                     "VALUES (%s, %s, %s, %s)", (uid, name, name, role))
    conn.execute("INSERT INTO firetwin.user_grid (user_id, grid_id) VALUES (%s, 1)", (WORKER_A,))
    conn.execute("UPDATE firetwin.grid SET worker_user_id = %s WHERE id = 1", (WORKER_A,))

    n = 160
    statuses = rng.choice(["reported", "verified", "rectifying", "rectified", "rechecked",
                           "closed"], n)
    copy_frame(conn, "hazard", gpd.GeoDataFrame({
        "code": [f"TT-{i:05d}" for i in range(n)],
        "category": "ebike",
        "subcategory": "ebike_indoor_charging",
        "tier": rng.choice(["blue", "yellow", "orange", "red"], n),
        "status": statuses,
        "source": rng.choice(["grid_worker", "public", "inspection"], n),
        "title": [f"隐患 {i}" for i in range(n)],
        "published": rng.random(n) < 0.6,
        "reporter_name": "张伟",
        "responsible_person": "赵强",
        "reported_at": "2026-03-01T08:00:00+00:00",
    }, geometry=_points(rng, n), crs=4326), grids=grids)

    m = 40
    copy_frame(conn, "unit", gpd.GeoDataFrame({
        "code": [f"TU-{i}" for i in range(m)],
        "name": [f"单位 {i}" for i in range(m)],
        "category": "small_place",
        "small_place_type": "small_shop",
        "colour_code": rng.choice(["red", "yellow", "green"], m),
        "responsible_person": "王老板",
        "responsible_phone": "13800000000",
    }, geometry=_points(rng, m), crs=4326), grids=grids)

    s = 30
    copy_frame(conn, "sensor", gpd.GeoDataFrame({
        "code": [f"TS-{i}" for i in range(s)],
        "kind": "smoke",
        "status": rng.choice(["online", "alarm", "offline"], s),
        "last_value": rng.uniform(0, 1, s),
    }, geometry=_points(rng, s), crs=4326), grids=grids)

    copy_frame(conn, "station", gpd.GeoDataFrame({
        "code": ["ST-1", "ST-2", "ST-3"], "name": ["越秀消防站", "北京街微型站", "东山站"],
        "kind": ["level1", "micro", "level2"], "staff": [30, 6, 20], "phone": "119",
    }, geometry=_points(rng, 3), crs=4326), grids=grids)
    conn.execute("INSERT INTO firetwin.vehicle (station_id, call_sign, kind) "
                 "SELECT id, 'TV-' || id, 'pumper' FROM firetwin.station WHERE code LIKE 'ST-%'")

    h = 25
    copy_frame(conn, "facility", gpd.GeoDataFrame({
        "code": [f"TH-{i}" for i in range(h)],
        "kind": "hydrant",
        "status": rng.choice(["in_service", "faulty"], h, p=[0.8, 0.2]),
        "owner_person": "水务",
    }, geometry=_points(rng, h), crs=4326), grids=grids)

    b = 80
    centres = _points(rng, b)
    sizes = rng.uniform(0.00008, 0.0003, b)
    copy_frame(conn, "building", gpd.GeoDataFrame({
        "use": rng.choice(["residential", "commercial", "office"], b),
        "floors": rng.integers(1, 30, b),
        "height_m": rng.uniform(3, 90, b).round(1),
    }, geometry=[box(p.x - d, p.y - d, p.x + d, p.y + d) for p, d in
                 zip(centres, sizes, strict=True)], crs=4326), grids=grids)

    lines = []
    for i in range(12):  # a lattice of streets, each a wiggly polyline across the district
        y = SOUTH + 0.003 + i * 0.003
        xs = np.linspace(WEST + 0.001, EAST - 0.001, 60)
        lines.append(LineString([(x, y + 0.0002 * np.sin(k)) for k, x in enumerate(xs)]))
    for i in range(10):
        x = WEST + 0.003 + i * 0.006
        ys = np.linspace(SOUTH + 0.001, NORTH - 0.001, 40)
        lines.append(LineString([(x + 0.0002 * np.cos(k), y) for k, y in enumerate(ys)]))
    r = len(lines)
    copy_frame(conn, "road_edge", gpd.GeoDataFrame({
        "id": np.arange(1, r + 1), "source": np.arange(1, r + 1) * 2,
        "target": np.arange(1, r + 1) * 2 + 1, "cost": 60.0, "reverse_cost": 60.0,
        "length_m": 5000.0, "speed_kph": 30.0, "road_class": "residential",
        "name": [f"路 {i}" for i in range(r)], "width_m": rng.uniform(3, 12, r).round(1),
        "truck_ok": rng.random(r) < 0.8,
    }, geometry=lines, crs=4326), grids=grids)

    k = 10
    copy_frame(conn, "incident", gpd.GeoDataFrame({
        "kind": ["fire"] * k, "occurred_at": "2026-02-01T03:00:00+00:00", "cause": "electrical",
        "severity": 2,
    }, geometry=_points(rng, k), crs=4326), grids=grids)


def truncate(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE " + ", ".join(f"firetwin.{t}" for t in TABLES) + " CASCADE")


@dataclass
class District:
    url: str
    app: object
    client: httpx.AsyncClient
    admin: dict[str, str]
    worker: dict[str, str]


@pytest.fixture(scope="module")
def district_db(db_url: str) -> Iterator[str]:
    with psycopg.connect(db_url) as conn:
        truncate(conn)
        fill(conn)
        conn.commit()
    yield db_url
    with psycopg.connect(db_url) as conn:
        truncate(conn)
        conn.commit()


@pytest.fixture(scope="module")
async def district(district_db: str) -> AsyncIterator[District]:
    app = create_app(database_url_override=district_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            key = app.state.secret_key
            yield District(
                url=district_db,
                app=app,
                client=client,
                admin={"Authorization": "Bearer " + mint_token(key, user_id=ADMIN, role="admin")},
                worker={"Authorization": "Bearer "
                        + mint_token(key, user_id=WORKER_A, role="grid_worker")},
            )
