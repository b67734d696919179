"""Tiles over HTTP: feature counts against SQL, scope filtering, errors, ETag and Cache-Control."""

from __future__ import annotations

import mapbox_vector_tile
import psycopg
import pytest
from psycopg import sql

from layers.catalogue import BY_ID, CATALOGUE, Access
from tests.tiles.conftest import EAST, NORTH, SOUTH, WEST

pytestmark = pytest.mark.postgis

MARGIN = 64 / 4096  # default buffer / extent
PUBLIC_LAYERS = [la.id for la in CATALOGUE if la.public_filter is not None]


def tiles_over_district(z: int) -> list[tuple[int, int, int]]:
    from tiles.cache import _tile_range

    x0, x1, y0, y1 = _tile_range((WEST, SOUTH, EAST, NORTH), z, 0.0)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


SAMPLE = tiles_over_district(13) + tiles_over_district(14) + tiles_over_district(15)[::3]


_CONNS: dict[str, psycopg.Connection] = {}


def _conn(url: str) -> psycopg.Connection:
    conn = _CONNS.get(url)
    if conn is None or conn.closed:
        conn = _CONNS[url] = psycopg.connect(url, autocommit=True)
    return conn


@pytest.fixture(scope="module", autouse=True)
def _close_conns():
    yield
    for conn in _CONNS.values():
        conn.close()
    _CONNS.clear()


def ids_near(url: str, layer_id: str, z: int, x: int, y: int, who: str, margin: float) -> set[int]:
    """Ids of the view's rows meeting the tile envelope grown by ``margin`` tile widths, filtered
    by hand for the caller (written independently of tiles.mvt)."""
    layer = BY_ID[layer_id]
    if not layer.minzoom <= z <= layer.maxzoom:
        return set()
    cond = "true"
    if who == "public":
        cond = layer.public_filter or "false"
    elif who == "worker" and layer.access is Access.grid:
        cond = "grid_id = 1"
    query = sql.SQL(
        "SELECT id FROM {} WHERE ST_Intersects(ST_Transform(geom, 3857), "
        "ST_TileEnvelope(%s, %s, %s, margin => %s)) AND " + cond
    ).format(sql.Identifier("layers", layer.view))
    return {r[0] for r in _conn(url).execute(query, (z, x, y, margin))}


def assert_ids(got: set[int], url: str, layer_id: str, z: int, x: int, y: int, who: str) -> None:
    """The tile holds every row inside the buffered envelope and none outside it, give or take
    one tile unit at the edge (where ST_AsMVTGeom rounds to the grid)."""
    inner = ids_near(url, layer_id, z, x, y, who, (64 - 1) / 4096)
    outer = ids_near(url, layer_id, z, x, y, who, (64 + 1) / 4096)
    assert inner <= got <= outer, (layer_id, who, z, x, y, inner - got, got - outer)


def decode(content: bytes) -> dict:
    return mapbox_vector_tile.decode(content) if content else {}


@pytest.mark.parametrize("who", ["admin", "worker", "public"])
@pytest.mark.parametrize("layer_id", ["hazards", "units", "buildings", "roads", "stations",
                                      "hydrants", "grids", "sensors"])
async def test_tile_features_match_sql(district, who, layer_id):
    headers = {"admin": district.admin, "worker": district.worker, "public": {}}[who]
    if who == "public" and layer_id not in PUBLIC_LAYERS:
        r = await district.client.get(f"/tiles/{layer_id}/14/13349/7110.mvt")
        assert r.status_code == 404
        return
    seen = 0
    for z, x, y in SAMPLE:
        r = await district.client.get(f"/tiles/{layer_id}/{z}/{x}/{y}.mvt", headers=headers)
        assert r.status_code in (200, 204), r.text
        tile = decode(r.content)
        got = {f["id"] for f in tile.get(layer_id, {}).get("features", [])}
        assert_ids(got, district.url, layer_id, z, x, y, who)
        assert set(tile) <= {layer_id}
        assert (r.status_code == 204) == (not got)
        seen += len(got)
    assert seen > 0, f"no {layer_id} features in the sampled tiles"


async def test_properties_follow_the_scope(district):
    z, x, y = 14, 13349, 7110
    admin = decode((await district.client.get(f"/tiles/hazards/{z}/{x}/{y}.mvt",
                                              headers=district.admin)).content)
    public = decode((await district.client.get(f"/tiles/hazards/{z}/{x}/{y}.mvt")).content)
    worker = decode((await district.client.get(f"/tiles/hazards/{z}/{x}/{y}.mvt",
                                               headers=district.worker)).content)
    a = admin["hazards"]["features"]
    p = public["hazards"]["features"]
    assert a and p and len(p) < len(a)
    assert all(f["properties"]["reporter_name"] == "张伟" for f in a)
    for f in p:
        props = f["properties"]
        assert "reporter_name" not in props and "responsible_person" not in props
        assert props["published"] is True
        assert props["status"] in {"rectified", "rechecked", "closed"}
    assert {f["properties"]["grid_id"] for f in worker["hazards"]["features"]} == {1}
    assert a[0]["properties"]["reported_at"] == "2026-03-01T08:00:00Z"
    assert a[0]["geometry"]["type"] == "Point"
    units = await district.client.get(f"/tiles/units/{z}/{x}/{y}.mvt")
    assert units.status_code == 404  # not a public layer
    grids = decode((await district.client.get(f"/tiles/grids/{z}/{x}/{y}.mvt")).content)
    assert grids["grids"]["features"]
    assert all("worker_name" not in f["properties"] for f in grids["grids"]["features"])
    grids_admin = decode((await district.client.get(f"/tiles/grids/{z}/{x}/{y}.mvt",
                                                    headers=district.admin)).content)
    assert "t_worker_a" in {f["properties"].get("worker_name")
                            for f in grids_admin["grids"]["features"]}
    buildings = decode((await district.client.get(f"/tiles/buildings/{z}/{x}/{y}.mvt")).content)
    assert all("height_m" in f["properties"] for f in buildings["buildings"]["features"])


@pytest.mark.parametrize("who", ["admin", "public"])
async def test_multi_layer_tile_concatenates_visible_layers(district, who):
    headers = district.admin if who == "admin" else {}
    for z, x, y in tiles_over_district(14):
        r = await district.client.get(f"/tiles/all/{z}/{x}/{y}.mvt", headers=headers)
        assert r.status_code in (200, 204)
        tile = decode(r.content)
        allowed = {la.id for la in CATALOGUE} if who == "admin" else set(PUBLIC_LAYERS)
        assert set(tile) <= allowed
        for layer_id in allowed:
            got = {f["id"] for f in tile.get(layer_id, {}).get("features", [])}
            assert_ids(got, district.url, layer_id, z, x, y, who)
    # Below every point layer's minzoom only regions remain.
    r = await district.client.get("/tiles/all/9/417/222.mvt", headers=headers)
    assert set(decode(r.content)) <= {"regions", "grids", "stations", "risk-cells"}


async def test_pbf_suffix_and_media_type(district):
    r = await district.client.get("/tiles/hazards/14/13349/7110.pbf", headers=district.admin)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    mvt = await district.client.get("/tiles/hazards/14/13349/7110.mvt", headers=district.admin)
    assert mvt.content == r.content


async def test_unknown_layer_is_404_listing_valid_ids(district):
    r = await district.client.get("/tiles/nope/14/13349/7110.mvt")
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert "nope" in detail
    for layer_id in PUBLIC_LAYERS:
        assert layer_id in detail
    assert "sensors" not in detail  # the public is not told about non-public layers
    r = await district.client.get("/tiles/nope/14/13349/7110.mvt", headers=district.admin)
    assert r.status_code == 404
    assert "sensors" in r.json()["detail"]
    r = await district.client.get("/tiles/sensors.json")
    assert r.status_code == 404


@pytest.mark.parametrize("path", [
    "/tiles/hazards/25/0/0.mvt",
    "/tiles/hazards/14/16384/0.mvt",
    "/tiles/hazards/14/0/16384.mvt",
    "/tiles/hazards/-1/0/0.mvt",
    "/tiles/hazards/14/-3/0.mvt",
    "/tiles/hazards/a/b/c.mvt",
    "/tiles/hazards/14/1.5/2.mvt",
    "/tiles/hazards/14/13349/7110.png",
    "/tiles/all/31/0/0.mvt",
    "/tiles/all/2/4/0.pbf",
    "/tiles/hazards/99999999999999999999/0/0.mvt",
])
async def test_bad_tile_address_is_400(district, path):
    r = await district.client.get(path, headers=district.admin)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]


@pytest.mark.parametrize("path", [
    "/tiles/hazards/14/0/0.mvt",  # the Pacific
    "/tiles/hazards/5/26/14.mvt",  # below the layer's minzoom
    "/tiles/all/14/0/0.mvt",
])
async def test_empty_tile_is_204(district, path):
    r = await district.client.get(path, headers=district.admin)
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["etag"]


async def test_etag_and_304(district):
    path = "/tiles/hazards/14/13349/7110.mvt"
    r = await district.client.get(path)
    etag = r.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert r.headers["cache-control"].startswith("public, max-age=")
    again = await district.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = await district.client.get(path, headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    other = await district.client.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    private = await district.client.get(path, headers=district.admin)
    assert private.headers["cache-control"] == "private, max-age=0, must-revalidate"
    assert private.headers["etag"] != etag  # more rows for the admin
    assert "Authorization" in private.headers["vary"]
    combo = await district.client.get("/tiles/all/14/13349/7110.mvt")
    assert combo.status_code == 200
    again = await district.client.get("/tiles/all/14/13349/7110.mvt",
                                      headers={"If-None-Match": combo.headers["etag"]})
    assert again.status_code == 304


async def test_bad_token_is_401(district):
    r = await district.client.get("/tiles/hazards/14/13349/7110.mvt",
                                  headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
