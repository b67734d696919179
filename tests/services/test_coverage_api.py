"""Coverage, first-due and fire-lane endpoints on a real PostGIS lattice (with what-ifs).

The lattice: 8 x 8 nodes, 100 m blocks driven in 40 s (9 km/h), so the 240 s travel band
from a corner station reaches 6 blocks. Station 1 sits at node 0 (north-west corner),
station 2 at node 63 (south-east), station 3 is out of service. A 3 m lane (truck_ok
false) runs 300 m north from node 0 to a dead end beside building A; building B fronts the
7 m road between nodes 9 and 10 with a hydrant beside it.
"""

from __future__ import annotations

import geopandas as gpd
import psycopg
import pytest
from shapely.geometry import LineString, Point, shape

from gis.bulk import copy_frame
from routing import lattice_edges
from routing._geo import LocalProjection
from services.main import create_app
from services.routers import coverage as coverage_router
from tests.conftest import app_client, fresh_sibling_database

pytestmark = pytest.mark.postgis

ROWS, COLS = 8, 8
ORIGIN = (120.58, 30.08)
SPEED_KPH = 9.0  # 100 m in 40 s
SPUR_ID = 900
PROJ = LocalProjection(*ORIGIN)


def xy(x_m: float, y_m: float) -> tuple[float, float]:
    """Lon/lat of a point x_m east and y_m north of node 0."""
    p = PROJ.to_lonlat(Point(x_m, y_m))
    return p.x, p.y


def node_xy(n: int) -> tuple[float, float]:
    r, c = divmod(n, COLS)
    return xy(100.0 * c, -100.0 * r)


def square(cx: float, cy: float, half: float = 5.0):
    return PROJ.to_lonlat(Point(cx, cy).buffer(half, cap_style="square"))


@pytest.fixture(scope="module")
def net_db(db_url):
    url = fresh_sibling_database(db_url, "_routing2")
    edges = lattice_edges(ROWS, COLS, speed_kph=SPEED_KPH, origin=ORIGIN)
    spur = gpd.GeoDataFrame(
        {"id": [SPUR_ID], "source": [0], "target": [1000], "cost": [120.0],
         "reverse_cost": [120.0], "length_m": [300.0], "speed_kph": [SPEED_KPH],
         "road_class": ["service"], "width_m": [3.0], "maxheight_m": [None],
         "blocked": [False], "truck_ok": [False], "is_fire_lane": [False]},
        geometry=[PROJ.to_lonlat(LineString([(0, 0), (0, 300)]))], crs=4326)
    edges = gpd.GeoDataFrame(
        __import__("pandas").concat([edges, spur], ignore_index=True), crs=4326)
    frame = gpd.GeoDataFrame(
        edges.drop(columns=["geometry"]).assign(oneway=edges.reverse_cost < 0),
        geometry=edges.geometry, crs=4326)
    with psycopg.connect(url) as conn:
        copy_frame(conn, "road_edge", frame)
        copy_frame(conn, "station", gpd.GeoDataFrame(
            {"id": [1, 2, 3], "code": ["S1", "S2", "S3"], "name": ["一站", "二站", "停用站"],
             "kind": ["level1", "level2", "level1"],
             "status": ["on_duty", "on_duty", "out_of_service"]},
            geometry=[Point(node_xy(0)), Point(node_xy(63)), Point(node_xy(28))], crs=4326))
        copy_frame(conn, "building", gpd.GeoDataFrame(
            {"id": [1, 2], "name": ["A lane end", "B main road"], "use": ["residential"] * 2,
             "height_m": [9.0, 9.0]},
            geometry=[square(15, 250), square(150, -115)], crs=4326))
        copy_frame(conn, "facility", gpd.GeoDataFrame(
            {"id": [1, 2], "code": ["H1", "H2"], "kind": ["hydrant", "hydrant"],
             "status": ["in_service", "out_of_service"]},
            geometry=[Point(xy(170, -110)), Point(xy(10, 260))], crs=4326))
        # U1 near station 1, U2 near station 2, U3 mid-district (280 s from both).
        copy_frame(conn, "unit", gpd.GeoDataFrame(
            {"id": [1, 2, 3], "code": ["U1", "U2", "U3"], "name": ["甲", "乙", "丙"],
             "category": ["general"] * 3},
            geometry=[Point(xy(150, -10)), Point(xy(650, -710)), Point(xy(450, -310))],
            crs=4326))
        conn.commit()
    return url, edges


@pytest.fixture
async def client(net_db):
    app = create_app(database_url_override=net_db[0])
    async with app_client(app) as c:
        yield c


async def _coverage(client, **params):
    r = await client.get("/api/routing/coverage", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _area(body, station_id, band):
    [f] = [f for f in body["features"]
           if f["properties"]["station_id"] == station_id and f["properties"]["band_s"] == band]
    return f["properties"]["area_km2"], f["geometry"]


async def test_band_polygons_contain_station_and_grow(client):
    body = await _coverage(client, bands="240,300,480")
    assert body["type"] == "FeatureCollection"
    assert {f["properties"]["station_id"] for f in body["features"]} == {1, 2}
    for sid, node in ((1, 0), (2, 63)):
        areas = []
        for band in (240.0, 300.0, 480.0):
            area, geom = _area(body, sid, band)
            assert shape(geom).contains(Point(node_xy(node)))
            areas.append(area)
        assert areas[0] < areas[1] < areas[2]
    # 240 s from a corner: 6 blocks, not the whole lattice; the far corner is outside.
    assert not shape(_area(body, 1, 240.0)[1]).contains(Point(node_xy(63)))
    s = body["summary"]
    assert s["travel_band_s"] == 240.0 and s["turnout_s"] == 60.0
    assert s["units"] == {"total": 3, "reached": 2, "share": pytest.approx(0.6667)}
    # Building A is only on the narrow lane: a truck does not reach it.
    assert s["buildings"]["total"] == 2 and s["buildings"]["reached"] == 1
    assert body["scenario"]["what_if"] is False


async def test_what_ifs_change_coverage_but_not_live_state(client):
    live = await _coverage(client)
    without = await _coverage(client, without_station=2)
    assert {f["properties"]["station_id"] for f in without["features"]} == {1}
    assert without["summary"]["units"]["reached"] == 1
    assert without["summary"]["nodes_reached"] < live["summary"]["nodes_reached"]

    x, y = node_xy(28)
    added = await _coverage(client, add_station=f"{x},{y}")
    assert added["summary"]["units"]["reached"] == 3
    assert added["summary"]["nodes_reached"] > live["summary"]["nodes_reached"]
    assert shape(_area(added, "new-1", 240.0)[1]).contains(Point(x, y))

    # Closing the first road east of station 1 sends it round by the south.
    closed = await _coverage(client, close_edge=[1])
    assert closed["scenario"]["close_edge"] == [1]
    assert _area(closed, 1, 240.0)[0] < _area(live, 1, 240.0)[0]
    assert closed["summary"]["nodes_reached"] < live["summary"]["nodes_reached"]
    assert _area(closed, 2, 240.0)[0] == pytest.approx(_area(live, 2, 240.0)[0])

    both = await _coverage(client, without_station=1, close_edge="1,2", add_station=f"{x},{y}")
    assert both["scenario"]["what_if"] is True
    again = await _coverage(client)
    assert again == live


async def test_what_if_bad_input_is_400(client):
    for params in ({"without_station": 99}, {"add_station": "30.08,200"},
                   {"close_edge": "abc"}, {"bands": "0,300"}, {"bands": "x"}):
        r = await client.get("/api/routing/coverage", params=params)
        assert r.status_code == 400, (params, r.text)


async def test_first_due_partitions_between_stations(client):
    r = await client.get("/api/routing/first-due")
    assert r.status_code == 200, r.text
    body = r.json()
    props = {f["properties"]["station_id"]: f for f in body["features"]}
    assert set(props) == {1, 2}
    n1, n2 = props[1]["properties"]["nodes"], props[2]["properties"]["nodes"]
    assert n1 + n2 + body["unreached_nodes"] == ROWS * COLS + 1  # + the lane's dead end
    assert shape(props[1]["geometry"]).contains(Point(node_xy(0)))
    assert not shape(props[1]["geometry"]).contains(Point(node_xy(63)))
    r2 = (await client.get("/api/routing/first-due", params={"close_edge": [1, 2]})).json()
    assert {f["properties"]["station_id"]: f["properties"]["nodes"]
            for f in r2["features"]}[1] < n1
    r3 = (await client.get("/api/routing/first-due", params={"without_station": 2})).json()
    assert [f["properties"]["nodes"] for f in r3["features"]] == [ROWS * COLS]


async def test_fire_lane_report_flags_narrow_lane_only(client):
    minx, miny = xy(-50, -200)
    maxx, maxy = xy(300, 350)
    r = await client.get("/api/routing/fire-lanes", params={"bbox": f"{minx},{miny},{maxx},{maxy}"})
    assert r.status_code == 200, r.text
    feats = {f["properties"]["building_id"]: f["properties"] for f in r.json()["features"]}
    assert set(feats) == {1, 2}
    a, b = feats[1], feats[2]
    codes_a = {p["code"] for p in a["problems"]}
    assert a["truck_access"] is False and "NO_TRUCK_ACCESS" in codes_a
    assert "NO_HYDRANT_IN_RANGE" in codes_a  # its only hydrant is out of service
    assert any(SPUR_ID in p["edges"] for p in a["problems"])
    assert b["truck_access"] is True and b["problems"] == [] and b["ok"] is True
    assert b["hydrants_in_range"] == 1


async def test_fire_lane_bbox_limits(client, monkeypatch):
    minx, miny = xy(-50, -200)
    maxx, maxy = xy(300, 350)
    bbox = f"{minx},{miny},{maxx},{maxy}"
    monkeypatch.setattr(coverage_router, "MAX_FIRE_LANE_BUILDINGS", 1)
    r = await client.get("/api/routing/fire-lanes", params={"bbox": bbox})
    assert r.status_code == 400 and "smaller bbox" in r.json()["detail"]
    monkeypatch.undo()
    for bad in ("1,2,3", "121,30,120,31", "a,b,c,d"):
        r = await client.get("/api/routing/fire-lanes", params={"bbox": bad})
        assert r.status_code == 400, bad
    far = await client.get("/api/routing/fire-lanes", params={"bbox": "0,0,0.1,0.1"})
    assert far.status_code == 200 and far.json()["features"] == []


async def test_summary_only_and_cached_polygons(client, net_db):
    full = await _coverage(client)
    fast = await _coverage(client, polygons="false")
    assert fast["features"] == [] and fast["summary"] == full["summary"]
    # A new blockage is a new closure set: polygons are recomputed, not served stale.
    with psycopg.connect(net_db[0], autocommit=True) as c:
        c.execute(
            "INSERT INTO firetwin.hazard (code, category, subcategory, tier, source, title, "
            "road_edge_id, geom, h3_r7, h3_r9, h3_r11) VALUES ('BLK-C', 'fire_passage', "
            "'fire_lane_blocked', 'red', 'grid_worker', '消防通道被占', 1, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326), 1, 1, 1)", xy(50, 0))
        try:
            blocked = await _coverage(client)
            assert blocked["scenario"]["blocked_edges"] == [1]
            assert _area(blocked, 1, 240.0)[0] < _area(full, 1, 240.0)[0]
        finally:
            c.execute("DELETE FROM firetwin.hazard WHERE code = 'BLK-C'")
    assert await _coverage(client) == full
