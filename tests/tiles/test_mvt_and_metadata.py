"""get_tile without HTTP (as the OGC Tiles provider uses it), simplification, TileJSON, style."""

from __future__ import annotations

import json
import re

import mapbox_vector_tile
import psycopg
import pytest

from gis.errors import InvalidInputError
from layers.catalogue import BY_ID, CATALOGUE
from layers.scope import LayerForbidden, Scope
from tests.tiles.conftest import EAST, NORTH, SOUTH, WEST
from tiles.cache import _tile_range
from tiles.mvt import build_tile_query, get_tile
from tiles.settings import MVTSettings

pytestmark = pytest.mark.postgis


def district_tiles(z: int) -> list[tuple[int, int]]:
    x0, x1, y0, y1 = _tile_range((WEST, SOUTH, EAST, NORTH), z, 0.0)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


async def test_get_tile_takes_a_connection_and_a_scope(district):
    settings = MVTSettings()
    async with await psycopg.AsyncConnection.connect(district.url) as conn:
        data = await get_tile(conn, BY_ID["hazards"], 14, 13349, 7110,
                              scope=Scope.for_grids({2}), settings=settings)
        tile = mapbox_vector_tile.decode(data)
        assert {f["properties"]["grid_id"] for f in tile["hazards"]["features"]} == {2}
        # outside the layer's zoom range: empty, no query
        assert await get_tile(conn, BY_ID["hazards"], 10, 834, 444, scope=Scope.everything(),
                              settings=settings) == b""
        with pytest.raises(LayerForbidden):
            await get_tile(conn, BY_ID["sensors"], 14, 13349, 7110, scope=Scope.public(),
                           settings=settings)
        with pytest.raises(InvalidInputError):
            await get_tile(conn, BY_ID["hazards"], 14, 1 << 14, 0, scope=Scope.everything(),
                           settings=settings)
        capped = await get_tile(conn, BY_ID["hazards"], 13, 6674, 3555, scope=Scope.everything(),
                                settings=MVTSettings(max_features=5))
        assert len(mapbox_vector_tile.decode(capped)["hazards"]["features"]) == 5


def test_query_quotes_identifiers_and_binds_values():
    q = build_tile_query(BY_ID["hot-work"], Scope.for_grids({3, 1}), 14)
    text = q.as_string(None)
    assert '"layers"."hot_work"' in text
    assert "%(z)s" in text and "%(x)s" in text and "%(extent)s" in text
    assert "grid_id\" = ANY" in text and "'applicant'" not in text
    assert "ST_Transform(t.geom, 3857)" in text and "4326)" in text
    assert not re.search(r"ST_Transform\([^)]*'", text)  # integer SRIDs only
    public = build_tile_query(BY_ID["hazards"], Scope.public(), 14).as_string(None)
    assert "reporter_name" not in public and "responsible_person" not in public
    assert "ST_Simplify" in build_tile_query(BY_ID["roads"], Scope.everything(), 12).as_string(None)
    assert "ST_Simplify" not in build_tile_query(BY_ID["hazards"], Scope.everything(),
                                                 12).as_string(None)


async def test_simplification_shrinks_tiles_and_keeps_every_feature(district):
    plain = MVTSettings(simplify_px=0)
    simple = MVTSettings()
    sizes = {"plain": 0, "simple": 0}
    async with await psycopg.AsyncConnection.connect(district.url) as conn:
        for layer_id in ("roads", "grids", "buildings", "regions"):
            layer = BY_ID[layer_id]
            for z in (10, 11, 12, 13, 14):
                for x, y in district_tiles(z):
                    a = await get_tile(conn, layer, z, x, y, scope=Scope.everything(),
                                       settings=plain)
                    b = await get_tile(conn, layer, z, x, y, scope=Scope.everything(),
                                       settings=simple)
                    ids_a = {f["id"] for f in mapbox_vector_tile.decode(a).get(
                        layer_id, {}).get("features", [])} if a else set()
                    ids_b = {f["id"] for f in mapbox_vector_tile.decode(b).get(
                        layer_id, {}).get("features", [])} if b else set()
                    assert ids_a == ids_b, (layer_id, z, x, y)
                    assert len(b) <= len(a)
                    sizes["plain"] += len(a)
                    sizes["simple"] += len(b)
    assert sizes["simple"] < 0.9 * sizes["plain"], sizes


async def test_layer_tilejson(district):
    r = await district.client.get("/tiles/hazards.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://t/tiles/hazards/{z}/{x}/{y}.mvt"]
    assert (doc["minzoom"], doc["maxzoom"]) == (11, 22)
    w, s, e, n = doc["bounds"]
    assert WEST <= w < e <= EAST and SOUTH <= s < n <= NORTH
    assert w < WEST + 0.01 and e > EAST - 0.01
    [vl] = doc["vector_layers"]
    assert vl["id"] == "hazards"
    assert "tier" in vl["fields"] and "reporter_name" not in vl["fields"]
    assert vl["fields"]["supervised"].startswith("Boolean")
    assert r.headers["cache-control"].startswith("public")
    admin = (await district.client.get("/tiles/hazards.json", headers=district.admin)).json()
    assert "reporter_name" in admin["vector_layers"][0]["fields"]
    units = (await district.client.get("/tiles/units.json", headers=district.admin)).json()
    assert units["tiles"] == ["http://t/tiles/units/{z}/{x}/{y}.mvt"]
    assert (await district.client.get("/tiles/units.json")).status_code == 404


async def test_all_tilejson(district):
    doc = (await district.client.get("/tiles/all.json", headers=district.admin)).json()
    assert doc["tiles"] == ["http://t/tiles/all/{z}/{x}/{y}.mvt"]
    assert [v["id"] for v in doc["vector_layers"]] == [la.id for la in CATALOGUE]
    assert doc["minzoom"] == min(la.minzoom for la in CATALOGUE)
    public = (await district.client.get("/tiles/all.json")).json()
    assert {v["id"] for v in public["vector_layers"]} == {
        la.id for la in CATALOGUE if la.public_filter is not None}


def _urls(value: object) -> list[str]:
    text = json.dumps(value)
    return re.findall(r"[a-z][a-z0-9+.-]*://[^\"\s]+", text)


async def test_style_uses_our_tiles_and_every_layer(district):
    r = await district.client.get("/tiles/style.json", headers=district.admin)
    assert r.status_code == 200
    doc = r.json()
    assert doc["version"] == 8
    assert "glyphs" not in doc and "sprite" not in doc
    urls = _urls(doc)
    assert urls and all(u.startswith("http://t/tiles/") for u in urls), urls
    [source] = doc["sources"].values()
    assert source["type"] == "vector"
    assert source["tiles"] == ["http://t/tiles/all/{z}/{x}/{y}.mvt"]
    layers = {la["id"]: la for la in doc["layers"]}
    assert layers["background"]["type"] == "background"
    for layer in CATALOGUE:
        drawn = layers[layer.id]
        assert drawn["source-layer"] == layer.id
        assert drawn["type"] == layer.legend.kind
        assert drawn["minzoom"] == layer.minzoom
    assert not any(la["type"] == "symbol" for la in doc["layers"])  # no text, so no glyphs
    buildings = layers["buildings"]
    assert buildings["type"] == "fill-extrusion"
    assert buildings["paint"]["fill-extrusion-height"] == ["coalesce", ["get", "height_m"], 3]
    assert layers["hazards"]["paint"]["circle-color"] == BY_ID["hazards"].legend.color
    public = (await district.client.get("/tiles/style.json")).json()
    assert {la["id"] for la in public["layers"]} == {"background"} | {
        la.id for la in CATALOGUE if la.public_filter is not None}
