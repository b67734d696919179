"""A live FireTwin server on loopback over a small, deterministic dataset, for real OGC clients.

The data go to a database of their own (``<test db>_ogc``) and are committed, because the server
runs in another process. Tests that write clean up after themselves.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import psycopg
import pytest
from shapely.geometry import LineString, Point, box

from gis.bulk import copy_frame
from gis.indexing import grid_polygons
from services.auth import mint_token
from tests.conftest import fresh_sibling_database, live_server_process

SECRET = "test-secret-key-for-ogc-tests-0123456789abcdef"
# Two ordinary grids side by side near Chifeng; hazards scattered over both.
GRID_A = box(118.90, 42.20, 118.95, 42.25)
GRID_B = box(118.95, 42.20, 119.00, 42.25)
N_HAZARDS = 240


def _fill(conn: psycopg.Connection) -> None:
    rng = np.random.default_rng(20261122)
    copy_frame(conn, "region", gpd.GeoDataFrame(
        {"id": [1], "code": ["150402"], "name": ["红山区"], "level": ["district"]},
        geometry=[box(118.90, 42.20, 119.00, 42.25)], crs=4326))
    copy_frame(conn, "grid", gpd.GeoDataFrame(
        {"id": [1, 2], "code": ["G-A", "G-B"], "name": ["甲网格", "乙网格"],
         "kind": ["ordinary", "ordinary"], "community_id": [1, 1]},
        geometry=[GRID_A, GRID_B], crs=4326))
    grids = grid_polygons(conn)
    users = [(1, "admin", "admin"), (2, "worker_a", "grid_worker"), (3, "planner", "planner"),
             (4, "worker_b", "grid_worker")]
    for uid, name, role in users:
        conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) "
                     "VALUES (%s, %s, %s, %s)", (uid, name, name, role))
    conn.execute("INSERT INTO firetwin.user_grid (user_id, grid_id) VALUES (2, 1), (4, 2)")
    n = N_HAZARDS
    xs = rng.uniform(118.901, 118.999, n)
    ys = rng.uniform(42.201, 42.249, n)
    statuses = rng.choice(["reported", "verified", "rectifying", "rectified", "closed"], n)
    days = rng.integers(0, 365 * 2, n)
    reported = [np.datetime64("2024-07-01T08:00:00") + np.timedelta64(int(d), "D") for d in days]
    cats = rng.choice(["ebike", "fire_passage", "electrical"], n)
    sub = {"ebike": "ebike_indoor_charging", "fire_passage": "corridor_clutter",
           "electrical": "illegal_wiring"}
    copy_frame(conn, "hazard", gpd.GeoDataFrame({
        "id": np.arange(1, n + 1),
        "code": [f"红山-消防-中-{i:06d}" for i in range(1, n + 1)],
        "category": cats,
        "subcategory": [sub[c] for c in cats],
        "tier": rng.choice(["blue", "yellow", "orange", "red"], n),
        "status": statuses,
        "source": rng.choice(["grid_worker", "public", "inspection"], n),
        "title": [f"隐患 {i}" for i in range(1, n + 1)],
        "published": rng.random(n) < 0.7,
        "reporter_name": rng.choice(["张伟", "王芳", "李娜"], n),
        "responsible_person": "赵强",
        "reported_at": [str(t) + "+00:00" for t in reported],
    }, geometry=[Point(x, y) for x, y in zip(xs, ys, strict=True)], crs=4326), grids=grids)
    conn.execute("SELECT setval('firetwin.hazard_id_seq', 100000)")
    copy_frame(conn, "unit", gpd.GeoDataFrame(
        {"id": [1, 2], "code": ["U1", "U2"], "name": ["老王小吃", "红山商场"],
         "category": ["small_place", "key_unit"], "small_place_type": ["small_restaurant", None],
         "key_unit_type": [None, "mall"], "colour_code": ["yellow", "green"],
         "responsible_person": ["王老板", "刘经理"]},
        geometry=[Point(118.92, 42.22), Point(118.97, 42.23)], crs=4326), grids=grids)
    copy_frame(conn, "station", gpd.GeoDataFrame(
        {"id": [1, 2], "code": ["S1", "S2"], "name": ["红山消防站", "微型消防站1"],
         "kind": ["level1", "micro"]},
        geometry=[Point(118.93, 42.21), Point(118.98, 42.24)], crs=4326), grids=grids)
    copy_frame(conn, "facility", gpd.GeoDataFrame(
        {"id": [1, 2, 3], "code": ["H1", "H2", "H3"], "kind": ["hydrant"] * 3,
         "status": ["in_service", "out_of_service", "in_service"], "owner_person": "市政"},
        geometry=[Point(118.91, 42.21), Point(118.96, 42.22), Point(118.99, 42.24)], crs=4326),
        grids=grids)
    copy_frame(conn, "building", gpd.GeoDataFrame(
        {"id": [1, 2], "use": ["residential", "office"], "floors": [11, 2],
         "height_m": [33.0, 7.0]},
        geometry=[box(118.921, 42.221, 118.922, 42.222), box(118.971, 42.231, 118.972, 42.232)],
        crs=4326), grids=grids)
    copy_frame(conn, "road_edge", gpd.GeoDataFrame(
        {"id": [1, 2], "source": [1, 2], "target": [2, 3], "cost": [30.0, 40.0],
         "reverse_cost": [30.0, -1.0], "length_m": [400.0, 500.0], "speed_kph": [48.0, 45.0],
         "road_class": ["primary", "residential"], "width_m": [12.0, 3.5],
         "truck_ok": [True, False], "oneway": [False, True]},
        geometry=[LineString([(118.91, 42.215), (118.94, 42.215)]),
                  LineString([(118.94, 42.215), (118.99, 42.215)])], crs=4326), grids=grids)


@pytest.fixture(scope="session")
def ogc_db_url(db_url: str) -> str:
    url = fresh_sibling_database(db_url, "_ogc")
    with psycopg.connect(url) as conn:
        _fill(conn)
    return url


@pytest.fixture(scope="session")
def live_server(ogc_db_url: str):
    """Base URL of a FireTwin server (uvicorn, own process) on a free loopback port."""
    with live_server_process(ogc_db_url, SECRET, ready_path="/ogc/collections?f=json") as base:
        yield base


@pytest.fixture(scope="session")
def tokens() -> dict[str, str]:
    return {name: mint_token(SECRET, user_id=uid, role=role)
            for uid, name, role in [(1, "admin", "admin"), (2, "worker_a", "grid_worker"),
                                    (3, "planner", "planner"), (4, "worker_b", "grid_worker")]}


@pytest.fixture
def ogc_conn(ogc_db_url: str):
    with psycopg.connect(ogc_db_url, autocommit=True) as c:
        yield c
