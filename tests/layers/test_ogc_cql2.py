"""CQL2 text and JSON filters (attribute and spatial) return exactly what SQL returns."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.postgis

POLY = "POLYGON((118.92 42.21, 118.96 42.21, 118.96 42.24, 118.92 42.24, 118.92 42.21))"
CASES = [
    ("tier = 'red'", "tier = 'red'"),
    ("tier IN ('red', 'orange') AND status <> 'closed'",
     "tier IN ('red', 'orange') AND status <> 'closed'"),
    ("category = 'ebike' OR tier = 'blue'", "category = 'ebike' OR tier = 'blue'"),
    ("reported_at > TIMESTAMP('2025-06-01T00:00:00Z')", "reported_at > '2025-06-01T00:00:00Z'"),
    ("code LIKE '红山-消防-中-0001%'", "code LIKE '红山-消防-中-0001%'"),
    (f"S_INTERSECTS(geom, {POLY})",
     f"ST_Intersects(geom, ST_GeomFromText('{POLY}', 4326))"),
    (f"S_WITHIN(geom, {POLY}) AND tier = 'yellow'",
     f"ST_Within(geom, ST_GeomFromText('{POLY}', 4326)) AND tier = 'yellow'"),
    ("S_INTERSECTS(geom, BBOX(118.95, 42.20, 119.0, 42.23))",
     "geom && ST_MakeEnvelope(118.95, 42.20, 119.0, 42.23, 4326)"),
]


def _ids(base, token, **params):
    r = httpx.get(f"{base}/ogc/collections/hazards/items",
                  params={"f": "json", "limit": 1000, **params},
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return {f["id"] for f in r.json()["features"]}


@pytest.mark.parametrize(("cql", "where"), CASES)
def test_cql2_text_matches_sql(live_server, tokens, ogc_conn, cql, where):
    want = {r[0] for r in ogc_conn.execute(f"SELECT id FROM firetwin.hazard WHERE {where}")}
    got = _ids(live_server, tokens["admin"], filter=cql, **{"filter-lang": "cql2-text"})
    assert got == want
    assert 0 < len(want) < 240  # the case is selective


def test_spatial_filter_axis_order_is_lon_lat(live_server, tokens, ogc_conn):
    # A polygon covering only grid B (east half): every hit must be east of 118.95.
    poly = "POLYGON((118.95 42.20, 119.0 42.20, 119.0 42.25, 118.95 42.25, 118.95 42.20))"
    got = _ids(live_server, tokens["admin"], filter=f"S_INTERSECTS(geom, {poly})")
    east = {r[0] for r in ogc_conn.execute(
        "SELECT id FROM firetwin.hazard WHERE ST_X(geom) >= 118.95")}
    assert got == east


def test_filter_crs_epsg4326_is_lat_lon(live_server, tokens, ogc_conn):
    # The same east-half polygon written lat,lon with filter-crs EPSG:4326.
    poly = "POLYGON((42.20 118.95, 42.20 119.0, 42.25 119.0, 42.25 118.95, 42.20 118.95))"
    got = _ids(live_server, tokens["admin"], filter=f"S_INTERSECTS(geom, {poly})",
               **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    east = {r[0] for r in ogc_conn.execute(
        "SELECT id FROM firetwin.hazard WHERE ST_X(geom) >= 118.95")}
    assert got == east


def test_cql2_json_get_and_post_match_sql(live_server, tokens, ogc_conn):
    expr = {"op": "and", "args": [
        {"op": "=", "args": [{"property": "category"}, "electrical"]},
        {"op": "s_intersects", "args": [{"property": "geom"}, {
            "type": "Polygon",
            "coordinates": [[[118.92, 42.21], [118.96, 42.21], [118.96, 42.24],
                             [118.92, 42.24], [118.92, 42.21]]]}]},
    ]}
    want = {r[0] for r in ogc_conn.execute(
        f"SELECT id FROM firetwin.hazard WHERE category = 'electrical' "
        f"AND ST_Intersects(geom, ST_GeomFromText('{POLY}', 4326))")}
    got = _ids(live_server, tokens["admin"], filter=json.dumps(expr),
               **{"filter-lang": "cql2-json"})
    assert got == want and want
    r = httpx.post(f"{live_server}/ogc/collections/hazards/items?f=json&limit=1000",
                   content=json.dumps(expr),
                   headers={"Content-Type": "application/query-cql-json",
                            "Authorization": f"Bearer {tokens['admin']}"}, timeout=30)
    assert r.status_code == 200, r.text
    assert {f["id"] for f in r.json()["features"]} == want


@pytest.mark.parametrize("bad", [
    "tier = ",
    "nosuchfield = 1",
    "tier = 'red'; DROP TABLE firetwin.hazard",
    "S_INTERSECTS(geom, POLYGON((1 2, 3 4)))",
    "' OR 1=1 --",
])
def test_malformed_or_hostile_filters_are_400(live_server, tokens, ogc_conn, bad):
    r = httpx.get(f"{live_server}/ogc/collections/hazards/items",
                  params={"f": "json", "filter": bad},
                  headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["description"]
    assert ogc_conn.execute("SELECT count(*) FROM firetwin.hazard").fetchone()[0] >= 240


def test_queryables_list_fields(live_server, tokens):
    r = httpx.get(f"{live_server}/ogc/collections/hazards/queryables", params={"f": "json"},
                  headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=30)
    props = r.json()["properties"]
    assert {"tier", "status", "category", "reported_at"} <= set(props)
