"""Every conformance class FireTwin declares is exercised here or in the other OGC tests."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.postgis


def _conf(base):
    return set(httpx.get(f"{base}/ogc/conformance?f=json", timeout=30).json()["conformsTo"])


def test_html_pages(live_server, tokens):
    assert any(c.endswith("ogcapi-features-1/1.0/conf/html") for c in _conf(live_server))
    for path in ("/ogc/?f=html", "/ogc/collections?f=html", "/ogc/collections/hazards?f=html",
                 "/ogc/collections/hazards/items?f=html&limit=5"):
        r = httpx.get(f"{live_server}{path}", timeout=30)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert "<html" in r.text.lower()


def test_geojson_media_type(live_server):
    r = httpx.get(f"{live_server}/ogc/collections/stations/items?f=json", timeout=30)
    assert r.headers["content-type"].startswith("application/geo+json")


def test_queryables_query_parameters_match_sql(live_server, tokens, ogc_conn):
    assert any(c.endswith("queryables-query-parameters") for c in _conf(live_server))
    r = httpx.get(f"{live_server}/ogc/collections/hazards/items",
                  params={"f": "json", "tier": "red", "status": "closed", "limit": 1000},
                  headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=30)
    want = {row[0] for row in ogc_conn.execute(
        "SELECT id FROM firetwin.hazard WHERE tier = 'red' AND status = 'closed'")}
    assert {f["id"] for f in r.json()["features"]} == want and want


def test_schema_endpoint(live_server, tokens):
    assert any(c.endswith("ogcapi-common-3/1.0/conf/schemas") for c in _conf(live_server))
    r = httpx.get(f"{live_server}/ogc/collections/hazards/schema?f=json",
                  headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=30)
    assert r.status_code == 200
    props = r.json()["properties"]
    assert "tier" in props and props["tier"]["type"] == "string"
    public = httpx.get(f"{live_server}/ogc/collections/hazards/schema?f=json", timeout=30).json()
    assert "reporter_name" not in public["properties"]


def test_gdal_mvt_driver_reads_an_ogc_tile(live_server, tmp_path, ogc_conn):
    import math
    import subprocess

    z = 12
    n = 2**z
    x = int((118.95 + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(42.225))) / math.pi) / 2 * n)
    tile = httpx.get(f"{live_server}/ogc/collections/hazards/tiles/WebMercatorQuad/{z}/{y}/{x}",
                     timeout=30)
    assert tile.status_code == 200
    path = tmp_path / f"{z}_{x}_{y}.pbf"
    path.write_bytes(tile.content)
    out = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-oo", f"X={x}", "-oo", f"Y={y}", "-oo", f"Z={z}",
         f"MVT:{path}", "hazards"], capture_output=True, text=True, timeout=60, check=True).stdout
    count = int(out.split("Feature Count:")[1].split()[0])
    want = ogc_conn.execute(
        "SELECT count(*) FROM firetwin.hazard WHERE published AND status IN "
        "('rectified', 'rechecked', 'closed') AND ST_Intersects(ST_Transform(geom, 3857), "
        "ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096))", (z, x, y)).fetchone()[0]
    assert count == want > 0
