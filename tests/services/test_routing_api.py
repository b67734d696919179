"""Routing endpoints on a real PostGIS road network: routes, nearest stations, blockages."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import psycopg
import pytest
from shapely.geometry import Point

from gis.bulk import copy_frame
from routing import build_graph, lattice_edges
from services.main import create_app
from tests.conftest import app_client, fresh_sibling_database

pytestmark = pytest.mark.postgis

ROWS, COLS = 8, 8  # an 8 x 8 street lattice, ~100 m blocks near (120.58, 30.08)


@pytest.fixture(scope="module")
def net_db(db_url):
    url = fresh_sibling_database(db_url, "_routing")
    edges = lattice_edges(ROWS, COLS)
    # One narrow lane (3 m) that a fire engine may not use.
    edges.loc[edges.id == 5, ["width_m", "truck_ok"]] = [3.0, False]
    frame = gpd.GeoDataFrame(edges.drop(columns=["geometry"]).assign(
        road_class="residential", oneway=edges.reverse_cost < 0), geometry=edges.geometry,
        crs=4326)
    with psycopg.connect(url) as conn:
        copy_frame(conn, "road_edge", frame)
        g0 = frame.geometry.iloc[0].coords[0]
        far = frame.geometry.iloc[-1].coords[-1]
        copy_frame(conn, "station", gpd.GeoDataFrame(
            {"id": [1, 2, 3], "code": ["S1", "S2", "S3"], "name": ["一站", "二站", "停用站"],
             "kind": ["level1", "level2", "level1"],
             "status": ["on_duty", "on_duty", "out_of_service"]},
            geometry=[Point(g0), Point(far), Point(g0)], crs=4326))
    return url, edges


@pytest.fixture
async def client(net_db):
    app = create_app(database_url_override=net_db[0])
    async with app_client(app) as c:
        yield c


def _mid(edges, edge_id):
    line = edges.loc[edges.id == edge_id, "geometry"].iloc[0]
    p = line.interpolate(0.5, normalized=True)
    return p.x, p.y


async def test_route_matches_networkx_between_nodes(client, net_db):
    _, edges = net_db
    G = build_graph(edges)
    a, b = 0, ROWS * COLS - 1
    ax, ay = G.nodes[a]["x"], G.nodes[a]["y"]
    bx, by = G.nodes[b]["x"], G.nodes[b]["y"]
    r = await client.get("/api/routing/route", params={"from": f"{ax},{ay}", "to": f"{bx},{by}"})
    assert r.status_code == 200, r.text
    body = r.json()
    def truck(u, v, d):
        ok = [x["travel_time_s"] for x in d.values() if x.get("truck_ok", True)]
        return min(ok) if ok else None

    want = nx.dijkstra_path_length(G, a, b, weight=truck)
    assert body["travel_time_s"] == pytest.approx(want, abs=0.2)
    assert body["geometry"]["type"] == "LineString"
    assert body["geometry"]["coordinates"][0] == pytest.approx([ax, ay], abs=1e-6)


async def test_nearest_stations_orders_by_eta_and_skips_out_of_service(client, net_db):
    _, edges = net_db
    lon, lat = _mid(edges, 3)  # close to station 1's corner
    r = await client.get("/api/routing/nearest-stations", params={"lon": lon, "lat": lat, "k": 3})
    assert r.status_code == 200, r.text
    st = r.json()["stations"]
    assert [s["station_id"] for s in st] == [1, 2]  # station 3 is out of service
    assert st[0]["eta_s"] == pytest.approx(st[0]["travel_time_s"] + 60.0, abs=0.2)
    assert st[0]["eta_s"] <= st[1]["eta_s"]
    assert st[0]["meets_5min"] is True
    assert st[0]["geometry"]["type"] == "LineString"
    nfpa = (await client.get("/api/routing/nearest-stations",
                             params={"lon": lon, "lat": lat, "turnout": "nfpa"})).json()
    assert nfpa["stations"][0]["eta_s"] == pytest.approx(st[0]["eta_s"] + 20.0, abs=0.2)


async def test_fire_lane_blockage_reroutes_until_hazard_closes(client, net_db):
    url, edges = net_db
    G = build_graph(edges)
    a, b = 0, 1  # one block; closing it means driving around (3 blocks)
    frm = f"{G.nodes[a]['x']},{G.nodes[a]['y']}"
    to = f"{G.nodes[b]['x']},{G.nodes[b]['y']}"
    before = (await client.get("/api/routing/route", params={"from": frm, "to": to})).json()
    edge_id = int(edges[(edges.source == 0) & (edges.target == 1)].id.iloc[0])
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(
            "INSERT INTO firetwin.hazard (code, category, subcategory, tier, source, title, "
            "road_edge_id, geom, h3_r7, h3_r9, h3_r11) VALUES ('BLK-1', 'fire_passage', "
            "'fire_lane_blocked', 'red', 'grid_worker', '消防通道被占', %s, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326), 1, 1, 1)", (edge_id, *_mid(edges, edge_id)))
        try:
            during = (await client.get("/api/routing/route",
                                       params={"from": frm, "to": to})).json()
            assert edge_id in during["closed_edges"]
            assert during["travel_time_s"] == pytest.approx(3 * before["travel_time_s"])
            c.execute("UPDATE firetwin.hazard SET status = 'closed' WHERE code = 'BLK-1'")
            after = (await client.get("/api/routing/route", params={"from": frm, "to": to})).json()
            assert after["travel_time_s"] == pytest.approx(before["travel_time_s"])
        finally:
            c.execute("DELETE FROM firetwin.hazard WHERE code = 'BLK-1'")


async def test_graph_follows_road_changes(client, net_db):
    url, edges = net_db
    G = build_graph(edges)
    frm = f"{G.nodes[0]['x']},{G.nodes[0]['y']}"
    to = f"{G.nodes[1]['x']},{G.nodes[1]['y']}"
    before = (await client.get("/api/routing/route", params={"from": frm, "to": to})).json()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("UPDATE firetwin.road_edge SET cost = cost * 10, reverse_cost = "
                  "reverse_cost * 10, speed_kph = speed_kph / 10 WHERE source = 0 AND target = 1")
        try:
            after = (await client.get("/api/routing/route", params={"from": frm, "to": to})).json()
            assert after["travel_time_s"] == pytest.approx(3 * before["travel_time_s"])
        finally:
            c.execute("UPDATE firetwin.road_edge SET cost = cost / 10, reverse_cost = "
                      "reverse_cost / 10, speed_kph = speed_kph * 10 "
                      "WHERE source = 0 AND target = 1")


@pytest.mark.parametrize(("params", "status", "fragment"), [
    ({"from": "42.27,118.95", "to": "120.58,30.08"}, 400, "LON,LAT"),
    ({"from": "abc", "to": "120.58,30.08"}, 400, "LON,LAT"),
    ({"from": "200,30", "to": "120.58,30.08"}, 400, "outside lon/lat"),
    ({"from": "10.0,10.0", "to": "120.58,30.08"}, 422, ""),
])
async def test_bad_points_are_4xx(client, params, status, fragment):
    r = await client.get("/api/routing/route", params=params)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"]
