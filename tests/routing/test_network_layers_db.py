"""Station isochrones and first-due areas published as layers (OGC API + tiles), on PostGIS.

The lattice of tests/services/test_coverage_api.py: 8 x 8 nodes, 100 m blocks driven in 40 s,
station 1 at node 0 (north-west corner), station 2 at node 63 (south-east), station 3 out of
service at node 28; a 3 m lane (no trucks) runs north from node 0.
"""

from __future__ import annotations

import math

import mapbox_vector_tile
import psycopg
import pytest
from shapely.geometry import Point, shape

from services.auth import mint_token
from tests.services import test_coverage_api as lattice

pytestmark = pytest.mark.postgis

net_db = lattice.net_db
client = lattice.client
node_xy = lattice.node_xy
ADMIN = 77


@pytest.fixture
def admin(client, net_db):
    with psycopg.connect(net_db[0]) as c:
        c.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) VALUES "
                  "(%s, 'iso-admin', 'iso-admin', 'admin') ON CONFLICT DO NOTHING", (ADMIN,))
    key = client._transport.app.state.secret_key
    return {"Authorization": f"Bearer {mint_token(key, user_id=ADMIN, role='admin')}"}


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


async def test_refresh_publishes_station_rings_and_first_due_areas(client, net_db, admin):
    r = await client.post("/api/routing/refresh-layers", headers=admin)
    assert r.status_code == 200, r.text
    counts = r.json()
    # Two stations in service, three rings each (0-240, 240-300, 300-480 s), one area each.
    assert counts["isochrones"] == 6 and counts["first_due_areas"] == 2
    with psycopg.connect(net_db[0]) as c:
        rings = c.execute(
            "SELECT station_id, from_s, to_s, area_km2, ST_AsText(geom) FROM "
            "firetwin.station_isochrone ORDER BY station_id, from_s").fetchall()
        overlap = c.execute(
            "SELECT max(ST_Area(ST_Intersection(a.geom, b.geom)::geography)) FROM "
            "firetwin.station_isochrone a JOIN firetwin.station_isochrone b "
            "ON a.station_id = b.station_id AND a.id < b.id").fetchone()[0]
        areas = c.execute("SELECT station_id, nodes, ST_AsText(geom) FROM "
                          "firetwin.first_due_area ORDER BY station_id").fetchall()
    assert [(s, f, t) for s, f, t, _, _ in rings] == [
        (1, 0.0, 240.0), (1, 240.0, 300.0), (1, 300.0, 480.0),
        (2, 0.0, 240.0), (2, 240.0, 300.0), (2, 300.0, 480.0)]
    assert all(a > 0 for *_, a, _ in rings)
    assert overlap < 1.0  # a station's rings only touch (m²)
    from shapely import wkt

    inner1 = wkt.loads(rings[0][4])
    assert inner1.contains(Point(node_xy(0))) and not inner1.contains(Point(node_xy(63)))
    # Node 4 is 4 blocks = 160 s from station 1; node 7 is 280 s: in the 4-5 min ring.
    assert inner1.contains(Point(node_xy(4)))
    assert wkt.loads(rings[1][4]).contains(Point(node_xy(7)))
    # First due: the lattice splits along the anti-diagonal; the lane's end node is unreached.
    (s1, n1, g1), (s2, n2, g2) = areas
    assert (s1, s2) == (1, 2) and n1 + n2 == 64
    assert wkt.loads(g1).contains(Point(node_xy(0))) and wkt.loads(g2).contains(
        Point(node_xy(63)))
    assert not wkt.loads(g1).contains(Point(node_xy(63)))
    again = (await client.post("/api/routing/refresh-layers", headers=admin)).json()
    assert again == counts  # replaced, not appended


async def test_isochrones_and_first_due_areas_are_ogc_and_tile_layers(client, net_db, admin):
    assert (await client.post("/api/routing/refresh-layers", headers=admin)).status_code == 200
    r = await client.get("/ogc/collections/isochrones/items",
                         params={"f": "json", "limit": 50}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["numberMatched"] == 6
    props = {(f["properties"]["station_code"], f["properties"]["band"])
             for f in body["features"]}
    assert ("S1", "0–4 min") in props and ("S2", "5–8 min") in props
    assert shape(body["features"][0]["geometry"]).geom_type in {"Polygon", "MultiPolygon"}
    r = await client.get("/ogc/collections/first-due-areas/items", params={"f": "json"},
                         headers=admin)
    assert r.status_code == 200 and r.json()["numberMatched"] == 2
    # Not public: the public does not see them.
    assert (await client.get("/ogc/collections/isochrones/items")).status_code != 200
    lon, lat = node_xy(0)
    x, y = _tile(lon, lat, 14)
    for layer in ("isochrones", "first-due-areas"):
        tile = await client.get(f"/tiles/{layer}/14/{x}/{y}.mvt", headers=admin)
        assert tile.status_code == 200, tile.text
        feats = mapbox_vector_tile.decode(tile.content)[layer]["features"]
        assert any(f["properties"]["station_id"] == 1 for f in feats)
