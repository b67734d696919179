"""OGC API Features core, paging, parameters and CRS against a live server and SQL."""

from __future__ import annotations

import httpx
import pytest
from pyproj import Transformer

from layers.catalogue import CATALOGUE

pytestmark = pytest.mark.postgis


def _get(base, path, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{base}/ogc{path}", params={"f": "json", **params}, headers=headers,
                     timeout=30)


def test_landing_conformance_and_openapi(live_server):
    landing = _get(live_server, "/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"service-desc", "conformance", "data"} <= rels
    conf = set(_get(live_server, "/conformance").json()["conformsTo"])
    for c in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-2/1.0/conf/crs",
              "ogcapi-features-3/1.0/conf/filter", "ogcapi-features-3/1.0/conf/features-filter",
              "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/basic-cql2"):
        assert any(x.endswith(c) for x in conf), c
    doc = httpx.get(f"{live_server}/ogc/openapi", params={"f": "json"}, timeout=30).json()
    assert doc["openapi"].startswith("3.0")
    from openapi_spec_validator import validate

    validate(_offline(doc))
    paths = doc["paths"]
    assert "/collections/hazards/items" in paths
    assert "post" in paths["/collections/hazards/items"]  # Part 4 on the writable layer


def _offline(node, role=""):
    """Replace $refs to the OGC schema sites (no network here) with minimal local objects.

    ``role`` is what ``node`` is: "parameter", "response" or "" (anything else).
    """
    if isinstance(node, list):
        return [_offline(v, role) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref", "")
    if ref.startswith("http"):
        assert "opengis.net" in ref or "/opengeospatial/" in ref, ref
        name = ref.rsplit("/", 1)[-1].removesuffix(".yaml")
        if role == "parameter" and name in {"featureId", "collectionId"}:
            return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        if role == "parameter":
            return {"name": name, "in": "query", "schema": {}}
        if role == "response":
            return {"description": name}
        return {}
    out = {}
    for k, v in node.items():
        if k == "parameters":
            out[k] = _offline(v, "parameter")
        elif k == "responses" and isinstance(v, dict):
            out[k] = {code: _offline(r, "response") for code, r in v.items()}
        else:
            out[k] = _offline(v)
    return out


def test_admin_sees_every_collection_public_only_public_ones(live_server, tokens):
    admin = {c["id"] for c in _get(live_server, "/collections", tokens["admin"]).json()["collections"]}
    assert admin == {layer.id for layer in CATALOGUE}
    public = {c["id"] for c in _get(live_server, "/collections").json()["collections"]}
    assert public == {layer.id for layer in CATALOGUE if layer.public_filter is not None}
    assert "units" not in public
    assert _get(live_server, "/collections/units").status_code == 404
    assert _get(live_server, "/collections/units/items").status_code == 404


def test_bbox_matches_sql(live_server, tokens, ogc_conn):
    bbox = (118.93, 42.21, 118.97, 42.24)
    r = _get(live_server, "/collections/hazards/items", tokens["admin"],
             bbox=",".join(map(str, bbox)), limit=1000)
    assert r.status_code == 200
    got = {f["id"] for f in r.json()["features"]}
    want = {row[0] for row in ogc_conn.execute(
        "SELECT id FROM firetwin.hazard WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
        bbox)}
    assert got == want and len(want) > 10
    assert r.json()["numberMatched"] == len(want)


def test_paging_links_and_last_page(live_server, tokens):
    seen, url, pages = [], f"{live_server}/ogc/collections/hazards/items", 0
    params = {"f": "json", "limit": 100, "sortby": "id"}
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    while url:
        body = httpx.get(url, params=params, headers=headers, timeout=30).json()
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url, params, pages = (nxt[0] if nxt else None), None, pages + 1
        assert pages < 10
    assert pages == 3  # 240 features in pages of 100: no next link on the last page
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 240


def test_sortby_properties_skipgeometry_datetime(live_server, tokens, ogc_conn):
    r = _get(live_server, "/collections/hazards/items", tokens["admin"], limit=5,
             sortby="-reported_at", properties="code,tier", skipGeometry="true")
    feats = r.json()["features"]
    assert all(f["geometry"] is None for f in feats)
    assert all(set(f["properties"]) <= {"code", "tier"} for f in feats)
    want = [row[0] for row in ogc_conn.execute(
        "SELECT code FROM firetwin.hazard ORDER BY reported_at DESC, id LIMIT 5")]
    assert [f["properties"]["code"] for f in feats][:1] == want[:1]
    r = _get(live_server, "/collections/hazards/items", tokens["admin"], limit=1000,
             datetime="2025-01-01T00:00:00Z/2025-06-30T23:59:59Z")
    want_n = ogc_conn.execute(
        "SELECT count(*) FROM firetwin.hazard WHERE reported_at BETWEEN "
        "'2025-01-01T00:00:00Z' AND '2025-06-30T23:59:59Z'").fetchone()[0]
    assert r.json()["numberReturned"] == want_n > 0


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"bogus": "1"}, "unknown query parameter"),
        ({"limit": "abc"}, ""),
        ({"bbox": "1,2,3"}, ""),
        ({"bbox": "a,b,c,d"}, ""),
        ({"offset": "-1"}, ""),
        ({"sortby": "nope"}, ""),
        ({"filter": "tier = "}, ""),
        ({"crs": "http://www.opengis.net/def/crs/EPSG/0/9999999"}, ""),
        ({"datetime": "not-a-date"}, ""),
    ],
)
def test_bad_parameters_are_400_with_ogc_body(live_server, tokens, params, fragment):
    r = _get(live_server, "/collections/hazards/items", tokens["admin"], **params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] and body["description"]
    assert fragment in body["description"]


def test_unknown_collection_and_item(live_server, tokens):
    r = _get(live_server, "/collections/nope/items")
    assert r.status_code == 404 and "valid ids" in r.json()["description"]
    assert _get(live_server, "/collections/hazards/items/99999999", tokens["admin"]).status_code == 404
    assert _get(live_server, "/collections/hazards/items/abc", tokens["admin"]).status_code == 404


@pytest.mark.parametrize("epsg", [3857, 4490, 4326])
def test_crs_output_matches_proj(live_server, tokens, ogc_conn, epsg):
    lon, lat = ogc_conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM firetwin.hazard WHERE id = 1").fetchone()
    uri = f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"
    r = _get(live_server, "/collections/hazards/items/1", tokens["admin"], crs=uri)
    assert r.status_code == 200
    assert r.headers["Content-Crs"].strip("<>") == uri
    x, y = r.json()["geometry"]["coordinates"][:2]
    ex, ey = Transformer.from_crs("OGC:CRS84", f"EPSG:{epsg}").transform(lon, lat)
    assert x == pytest.approx(ex, abs=1e-6 if epsg != 3857 else 1e-2)
    assert y == pytest.approx(ey, abs=1e-6 if epsg != 3857 else 1e-2)
    if epsg in (4326, 4490):
        assert x == pytest.approx(lat, abs=1e-6)  # EPSG:4326/4490 are lat, lon


def test_default_output_is_crs84_lon_lat(live_server, tokens, ogc_conn):
    lon, lat = ogc_conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM firetwin.hazard WHERE id = 2").fetchone()
    f = _get(live_server, "/collections/hazards/items/2", tokens["admin"]).json()
    assert f["geometry"]["coordinates"][:2] == pytest.approx([lon, lat])


def test_every_collection_serves_items(live_server, tokens):
    for layer in CATALOGUE:
        r = _get(live_server, f"/collections/{layer.id}/items", tokens["admin"], limit=1)
        assert r.status_code == 200, (layer.id, r.text)
        assert "numberReturned" in r.json()
