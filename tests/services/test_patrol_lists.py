"""A patroller's list for a date (colour cadence, hazards, sensors), routed; GPS check-ins."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import psycopg
import pytest
from shapely.geometry import Point, box

from gis.bulk import copy_frame
from routing import build_graph, lattice_edges
from services.auth import mint_token
from services.main import create_app
from tests.conftest import app_client, fresh_sibling_database

pytestmark = pytest.mark.postgis

DAY = date(2026, 6, 30)


@pytest.fixture(scope="module")
def patrol_db(db_url):
    url = fresh_sibling_database(db_url, "_patrol")
    edges = lattice_edges(6, 6)  # 6 x 6 streets, 100 m blocks near (120.58, 30.08)
    G = build_graph(edges)
    xs = [G.nodes[n]["x"] for n in G]
    ys = [G.nodes[n]["y"] for n in G]
    with psycopg.connect(url) as conn:
        copy_frame(conn, "grid", gpd.GeoDataFrame(
            {"id": [1, 2], "code": ["P1", "P2"], "name": ["巡一", "巡二"],
             "kind": ["ordinary", "ordinary"]},
            geometry=[box(min(xs) - 0.001, min(ys) - 0.001, max(xs) + 0.001, max(ys) + 0.001),
                      box(121.0, 31.0, 121.1, 31.1)], crs=4326))
        copy_frame(conn, "road_edge", gpd.GeoDataFrame(
            edges.drop(columns=["geometry"]).assign(road_class="residential"),
            geometry=edges.geometry, crs=4326))

        def at(n):
            return Point(G.nodes[n]["x"] + 0.0002, G.nodes[n]["y"])

        copy_frame(conn, "unit", gpd.GeoDataFrame({
            "id": [1, 2, 3, 4, 5, 6],
            "code": ["RED-1", "RED-OK", "YEL-DUE", "YEL-OK", "GRN-DUE", "KEY-1"],
            "name": ["红码", "红码已查", "黄码到期", "黄码未到期", "绿码到期", "重点单位"],
            "category": ["general"] * 5 + ["key_unit"],
            "key_unit_type": [None] * 5 + ["hospital"],
            "colour_code": ["red", "red", "yellow", "yellow", "green", "green"]},
            geometry=[at(n) for n in (3, 8, 14, 20, 27, 33)], crs=4326))
        # Last visits: RED-OK today, YEL-OK 3 days ago, YEL-DUE 9 days ago, GRN-DUE 40 days ago.
        for uid, when in ((2, "2026-06-30T09:00Z"), (4, "2026-06-27T09:00Z"),
                          (3, "2026-06-21T09:00Z"), (5, "2026-05-21T09:00Z"),
                          (6, "2026-06-29T09:00Z")):
            conn.execute(
                "INSERT INTO firetwin.inspection (kind, unit_id, inspected_at, result, geom, "
                "h3_r7, h3_r9, h3_r11) SELECT 'patrol', id, %s, 'pass', geom, h3_r7, h3_r9, "
                "h3_r11 FROM firetwin.unit WHERE id = %s", (when, uid))
        copy_frame(conn, "hazard", gpd.GeoDataFrame({
            "id": [1, 2], "code": ["HZ-V", "HZ-C"], "category": ["ebike", "ebike"],
            "subcategory": ["ebike_indoor_charging"] * 2, "tier": ["red", "blue"],
            "status": ["reported", "closed"], "source": ["grid_worker"] * 2,
            "title": ["待核实", "已闭环"], "reported_at": ["2026-06-29T08:00Z"] * 2},
            geometry=[at(10), at(11)], crs=4326))
        copy_frame(conn, "sensor", gpd.GeoDataFrame(
            {"id": [1, 2], "code": ["SN-OFF", "SN-ON"], "kind": ["smoke", "smoke"],
             "status": ["offline", "online"]}, geometry=[at(22), at(23)], crs=4326))
        for uid, name, role in ((1, "w1", "grid_worker"), (2, "w2", "grid_worker"),
                                (3, "boss", "admin"), (4, "plan", "planner")):
            conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) "
                         "VALUES (%s, %s, %s, %s)", (uid, name, name, role))
        conn.execute("INSERT INTO firetwin.user_grid VALUES (1, 1), (2, 2)")
    return url, G


@pytest.fixture
async def client(patrol_db):
    app = create_app(database_url_override=patrol_db[0])
    async with app_client(app) as c:
        c.token = lambda uid, role: {  # type: ignore[attr-defined]
            "Authorization": f"Bearer {mint_token(app.state.secret_key, user_id=uid, role=role)}"}
        yield c


async def test_due_stops_follow_cadence_and_are_routed(client, patrol_db):
    _, G = patrol_db
    start = f"{G.nodes[0]['x']},{G.nodes[0]['y']}"
    r = await client.get("/api/patrols/today", params={"start": start, "day": DAY.isoformat()},
                         headers=client.token(1, "grid_worker"))
    assert r.status_code == 200, r.text
    body = r.json()
    codes = {s["code"] for s in body["stops"]}
    assert codes == {"RED-1", "YEL-DUE", "GRN-DUE", "KEY-1", "HZ-V", "SN-OFF"}
    assert body["stops"][0]["priority"] == 0  # key unit / red hazard first
    assert body["totals"]["stops"] == 6 and body["totals"]["distance_m"] > 0
    legs = [leg for shift in body["shifts"] for leg in shift]
    assert [leg["stop"] for leg in legs] == body["order"]
    assert all(leg["geometry"]["type"] == "LineString" for leg in legs if leg["distance_m"] > 0)


async def test_other_grid_has_nothing_due_and_roles_are_checked(client, patrol_db):
    _, G = patrol_db
    start = f"{G.nodes[0]['x']},{G.nodes[0]['y']}"
    r = await client.get("/api/patrols/today", params={"start": start, "day": DAY.isoformat()},
                         headers=client.token(2, "grid_worker"))
    assert r.status_code == 200 and r.json()["due"] == 0
    assert (await client.get("/api/patrols/today", params={"start": start})).status_code == 401
    assert (await client.get("/api/patrols/today", params={"start": start},
                             headers=client.token(4, "planner"))).status_code == 403
    assert (await client.get("/api/patrols/today", params={"start": start},
                             headers=client.token(3, "admin"))).status_code == 400
    assert (await client.get("/api/patrols/today", params={"start": start, "grid": 2},
                             headers=client.token(1, "grid_worker"))).status_code == 403
    assert (await client.get("/api/patrols/today", params={"start": "x"},
                             headers=client.token(1, "grid_worker"))).status_code == 400


async def test_check_in_records_gps_and_flags_far_ones(client, patrol_db):
    url, _ = patrol_db
    with psycopg.connect(url) as c:
        ux, uy = c.execute("SELECT ST_X(geom), ST_Y(geom) FROM firetwin.unit WHERE id = 1").fetchone()
    near = await client.post("/api/patrols/check-in", json={"unit_id": 1, "lon": ux, "lat": uy},
                             headers=client.token(1, "grid_worker"))
    assert near.status_code == 201, near.text
    assert near.json()["flagged_far"] is False
    far = await client.post("/api/patrols/check-in",
                            json={"unit_id": 1, "lon": ux + 0.01, "lat": uy},
                            headers=client.token(1, "grid_worker"))
    assert far.json()["flagged_far"] is True
    assert far.json()["distance_from_unit_m"] > 500
    with psycopg.connect(url) as c:
        rows = c.execute("SELECT grid_id, h3_r9 IS NOT NULL, inspector_user_id FROM "
                         "firetwin.inspection WHERE id = ANY(%s)",
                         ([near.json()["id"], far.json()["id"]],)).fetchall()
    # grid_id is where the check-in was made: the far one lies outside every grid here.
    assert sorted(rows, key=lambda r: r[0] is None) == [(1, True, 1), (None, True, 1)]
    other = await client.post("/api/patrols/check-in", json={"unit_id": 1, "lon": ux, "lat": uy},
                              headers=client.token(2, "grid_worker"))
    assert other.status_code == 403
    bad = await client.post("/api/patrols/check-in", json={"unit_id": 1, "lon": 500, "lat": uy},
                            headers=client.token(1, "grid_worker"))
    assert bad.status_code == 422
    missing = await client.post("/api/patrols/check-in", json={"unit_id": 999, "lon": ux, "lat": uy},
                                headers=client.token(1, "grid_worker"))
    assert missing.status_code == 404


async def test_station_siting_covers_the_uncovered_red_unit(client, patrol_db):
    # The lattice has no station: the best single site covers the most red/key units.
    r = await client.get("/api/routing/station-siting", params={"n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rule"].startswith("key units and red")
    assert body["targets"] == 3  # RED-1, RED-OK, KEY-1
    first = body["features"][0]["properties"]
    assert first["covered_before"] == 0
    assert first["covered_after"] == first["newly_covered"] > 0
    assert all(f["properties"]["covered_after"] <= 3 for f in body["features"])


async def test_refresh_network_layers_publishes_gaps_and_problems(client, patrol_db):
    import mapbox_vector_tile

    url, G = patrol_db
    with psycopg.connect(url) as c:
        x, y = G.nodes[35]["x"], G.nodes[35]["y"]
        c.execute(
            "INSERT INTO firetwin.building (id, use, height_m, geom, h3_r7, h3_r9, h3_r11) "
            "VALUES (900, 'residential', 40, ST_Multi(ST_Expand(ST_SetSRID(ST_MakePoint(%s, %s),"
            " 4326), 0.0001)), 1, 1, 1)", (x + 0.0003, y))
    assert (await client.post("/api/routing/refresh-layers",
                              headers=client.token(1, "grid_worker"))).status_code == 403
    r = await client.post("/api/routing/refresh-layers", headers=client.token(3, "admin"))
    assert r.status_code == 200, r.text
    counts = r.json()
    # No station on this lattice: every unit and the building lie in coverage gaps.
    assert counts["coverage_gaps"] > 0 and counts["buildings_checked"] == 1
    with psycopg.connect(url) as c:
        units, buildings = c.execute(
            "SELECT sum(units), sum(buildings) FROM firetwin.coverage_gap").fetchone()
        assert (units, buildings) == (6, 1)
        problems = {row[0] for row in c.execute("SELECT problem FROM firetwin.fire_lane_problem")}
    assert "NO_HYDRANT_IN_RANGE" in problems
    again = (await client.post("/api/routing/refresh-layers",
                               headers=client.token(3, "admin"))).json()
    assert again == counts  # replaced, not appended
    import math

    z = 14
    n = 2**z
    tx = int((x + 180) / 360 * n)
    ty = int((1 - math.asinh(math.tan(math.radians(y))) / math.pi) / 2 * n)
    tile = await client.get(f"/tiles/coverage-gaps/{z}/{tx}/{ty}.mvt",
                            headers=client.token(3, "admin"))
    assert tile.status_code == 200
    assert mapbox_vector_tile.decode(tile.content)["coverage-gaps"]["features"]
