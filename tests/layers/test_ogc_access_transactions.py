"""Scoped access through the OGC API, and Part 4 transactions on hazards with validation."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.postgis


def _h(token=None, ctype=None):
    h = {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if ctype:
        h["Content-Type"] = ctype
    return h


def _items(base, token=None, collection="hazards", **params):
    return httpx.get(f"{base}/ogc/collections/{collection}/items",
                     params={"f": "json", "limit": 1000, **params}, headers=_h(token), timeout=30)


def test_public_sees_only_published_rectified_without_personal_data(live_server, ogc_conn):
    body = _items(live_server).json()
    want = {r[0] for r in ogc_conn.execute(
        "SELECT id FROM firetwin.hazard WHERE published AND status IN "
        "('rectified', 'rechecked', 'closed')")}
    assert {f["id"] for f in body["features"]} == want and want
    for f in body["features"]:
        assert "reporter_name" not in f["properties"]
        assert "responsible_person" not in f["properties"]
    hidden = ogc_conn.execute(
        "SELECT id FROM firetwin.hazard WHERE NOT published LIMIT 1").fetchone()[0]
    r = httpx.get(f"{live_server}/ogc/collections/hazards/items/{hidden}?f=json", timeout=30)
    assert r.status_code == 404


@pytest.mark.parametrize("probe", [
    {"filter": "reporter_name = '张伟'"},
    {"sortby": "reporter_name"},
    {"properties": "reporter_name"},
    {"reporter_name": "张伟"},
])
def test_public_cannot_probe_personal_fields(live_server, probe):
    r = _items(live_server, **probe)
    assert r.status_code == 400, r.text


def test_grid_worker_sees_own_grid_only(live_server, tokens, ogc_conn):
    got = {f["id"] for f in _items(live_server, tokens["worker_a"]).json()["features"]}
    want = {r[0] for r in ogc_conn.execute("SELECT id FROM firetwin.hazard WHERE grid_id = 1")}
    assert got == want and want
    other = ogc_conn.execute("SELECT id FROM firetwin.hazard WHERE grid_id = 2 LIMIT 1").fetchone()[0]
    r = httpx.get(f"{live_server}/ogc/collections/hazards/items/{other}?f=json",
                  headers=_h(tokens["worker_a"]), timeout=30)
    assert r.status_code == 404
    units = {f["properties"]["code"] for f in
             _items(live_server, tokens["worker_a"], collection="units").json()["features"]}
    assert units == {"U1"}
    # reference layers are whole for every signed-in caller
    assert len(_items(live_server, tokens["worker_a"], collection="stations").json()["features"]) == 2


def test_tampered_and_expired_tokens_are_401(live_server, tokens):
    from services.auth import mint_token

    bad = tokens["admin"][:-3] + ("abc" if not tokens["admin"].endswith("abc") else "xyz")
    assert _items(live_server, bad).status_code == 401
    expired = mint_token("test-secret-key-for-ogc-tests-0123456789abcdef", user_id=1, role="admin", ttl_s=-10)
    assert _items(live_server, expired).status_code == 401
    forged = mint_token("another-key-another-key-another-key-0123", user_id=1, role="admin")
    assert _items(live_server, forged).status_code == 401


def _feature(lon=118.925, lat=42.225, **props):
    base = {"category": "ebike", "subcategory": "ebike_corridor_parking", "tier": "yellow",
            "title": "楼道停放电动车"}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {**base, **props}}


def _post(base, token, body, ctype="application/geo+json"):
    return httpx.post(f"{base}/ogc/collections/hazards/items",
                      content=body if isinstance(body, str | bytes) else json.dumps(body),
                      headers=_h(token, ctype), timeout=30)


def test_create_hazard_in_scope_is_indexed_and_has_history(live_server, tokens, ogc_conn):
    r = _post(live_server, tokens["worker_a"], _feature())
    assert r.status_code == 201, r.text
    hid = int(r.headers["Location"].rsplit("/", 1)[-1])
    try:
        row = ogc_conn.execute(
            "SELECT status, grid_id, h3_r9 IS NOT NULL, reporter_user_id, code FROM "
            "firetwin.hazard WHERE id = %s", (hid,)).fetchone()
        assert row[:4] == ("reported", 1, True, 2)
        assert ogc_conn.execute("SELECT count(*) FROM firetwin.hazard_event WHERE hazard_id = %s",
                                (hid,)).fetchone()[0] == 1
        got = httpx.get(f"{live_server}/ogc/collections/hazards/items/{hid}?f=json",
                        headers=_h(tokens["worker_a"]), timeout=30).json()
        assert got["properties"]["title"] == "楼道停放电动车"
    finally:
        ogc_conn.execute("DELETE FROM firetwin.hazard WHERE id = %s", (hid,))


@pytest.mark.parametrize(("body", "fragment"), [
    (_feature(lon=200.0), "outside lon/lat range"),
    (_feature(lon=float("nan")), ""),
    ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
      "properties": _feature()["properties"]}, "Point"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [118.9]},
      "properties": _feature()["properties"]}, "[lon, lat]"),
    (_feature(category="nope"), "category must be one of"),
    (_feature(subcategory="gas_leak"), "subcategory"),
    (_feature(tier="purple"), "tier must be one of"),
    (_feature(status="closed"), "not accepted: status"),
    (_feature(grid_id=2), "not accepted: grid_id"),
    (_feature(title=""), "missing required"),
    (_feature(unit_id=999999), "does not exist"),
    ("{not json", "not valid JSON"),
    ({"type": "FeatureCollection", "features": []}, "GeoJSON Feature"),
])
def test_bad_features_are_400_and_nothing_stored(live_server, tokens, ogc_conn, body, fragment):
    before = ogc_conn.execute("SELECT count(*), max(id) FROM firetwin.hazard").fetchone()
    payload = json.dumps(body, allow_nan=True) if not isinstance(body, str) else body
    r = _post(live_server, tokens["admin"], payload)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["description"]
    assert ogc_conn.execute("SELECT count(*), max(id) FROM firetwin.hazard").fetchone() == before


def test_write_outside_scope_or_role_is_refused(live_server, tokens, ogc_conn):
    before = ogc_conn.execute("SELECT count(*) FROM firetwin.hazard").fetchone()[0]
    assert _post(live_server, tokens["worker_a"], _feature(lon=118.975)).status_code == 403
    assert _post(live_server, tokens["planner"], _feature()).status_code == 403
    assert _post(live_server, None, _feature()).status_code == 403
    r = httpx.delete(f"{live_server}/ogc/collections/hazards/items/1",
                     headers=_h(tokens["worker_a"]), timeout=30)
    assert r.status_code in (403, 404)
    assert ogc_conn.execute("SELECT count(*) FROM firetwin.hazard").fetchone()[0] == before


def test_update_and_delete(live_server, tokens, ogc_conn):
    hid = int(_post(live_server, tokens["admin"], _feature()).headers["Location"].rsplit("/", 1)[-1])
    r = httpx.put(f"{live_server}/ogc/collections/hazards/items/{hid}",
                  content=json.dumps(_feature(lon=118.93, title="已移位")),
                  headers=_h(tokens["admin"], "application/geo+json"), timeout=30)
    assert r.status_code == 204, r.text
    title, x = ogc_conn.execute("SELECT title, ST_X(geom) FROM firetwin.hazard WHERE id = %s",
                                (hid,)).fetchone()
    assert (title, x) == ("已移位", pytest.approx(118.93))
    bad = httpx.put(f"{live_server}/ogc/collections/hazards/items/{hid}",
                    content=json.dumps({"type": "Feature", "geometry": None,
                                        "properties": {"status": "closed"}}),
                    headers=_h(tokens["admin"], "application/geo+json"), timeout=30)
    assert bad.status_code == 400
    assert httpx.delete(f"{live_server}/ogc/collections/hazards/items/{hid}",
                        headers=_h(tokens["admin"]), timeout=30).status_code == 200
    assert ogc_conn.execute("SELECT count(*) FROM firetwin.hazard WHERE id = %s",
                            (hid,)).fetchone()[0] == 0
