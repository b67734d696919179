"""OGC API Tiles on the live server: tilesets, WebMercatorQuad, row/col order, decoded tiles."""

from __future__ import annotations

import math

import httpx
import mapbox_vector_tile
import pytest

pytestmark = pytest.mark.postgis


def _tile_of(lon, lat, z):
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_conformance_and_collection_links(live_server, tokens):
    conf = httpx.get(f"{live_server}/ogc/conformance?f=json", timeout=30).json()["conformsTo"]
    assert any(c.endswith("ogcapi-tiles-1/1.0/conf/mvt") for c in conf)
    coll = httpx.get(f"{live_server}/ogc/collections/hazards?f=json", timeout=30).json()
    rels = {link["rel"]: link["href"] for link in coll["links"]}
    href = rels["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"]
    assert href.endswith("/ogc/collections/hazards/tiles")
    tms = httpx.get(f"{live_server}/ogc/tileMatrixSets/WebMercatorQuad", timeout=30).json()
    assert tms["tileMatrices"][12]["matrixWidth"] == 4096


def test_tile_row_col_order_and_counts_match_sql(live_server, tokens, ogc_conn):
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    sets = httpx.get(f"{live_server}/ogc/collections/hazards/tiles", headers=headers,
                     timeout=30).json()["tilesets"]
    template = next(link["href"] for link in sets[0]["links"] if link["rel"] == "item")
    z = 13
    x, y = _tile_of(118.95, 42.225, z)
    url = (template.replace("{tileMatrix}", str(z)).replace("{tileRow}", str(y))
           .replace("{tileCol}", str(x)))
    r = httpx.get(url, headers=headers, timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.mapbox-vector-tile")
    feats = mapbox_vector_tile.decode(r.content)["hazards"]["features"]
    want = ogc_conn.execute(
        "SELECT count(*) FROM firetwin.hazard WHERE ST_Intersects(ST_Transform(geom, 3857), "
        "ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096))", (z, x, y)).fetchone()[0]
    assert len(feats) == want > 0
    swapped = httpx.get(url.replace(f"/{z}/{y}/{x}", f"/{z}/{x}/{y}"), headers=headers, timeout=30)
    assert swapped.status_code in (204, 200)
    if swapped.status_code == 200:
        assert len(mapbox_vector_tile.decode(swapped.content).get("hazards", {}).get(
            "features", [])) != want


def test_public_tiles_hide_unpublished_and_personal(live_server, ogc_conn):
    z = 12
    x, y = _tile_of(118.95, 42.225, z)
    r = httpx.get(f"{live_server}/ogc/collections/hazards/tiles/WebMercatorQuad/{z}/{y}/{x}",
                  timeout=30)
    assert r.status_code == 200
    feats = mapbox_vector_tile.decode(r.content)["hazards"]["features"]
    want = ogc_conn.execute(
        "SELECT count(*) FROM firetwin.hazard WHERE published AND status IN "
        "('rectified', 'rechecked', 'closed') AND ST_Intersects(ST_Transform(geom, 3857), "
        "ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096))", (z, x, y)).fetchone()[0]
    assert len(feats) == want > 0
    assert all("reporter_name" not in f["properties"] for f in feats)
    units = httpx.get(f"{live_server}/ogc/collections/units/tiles", timeout=30)
    assert units.status_code == 404
