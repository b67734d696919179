"""OGC API Tiles for every catalogue layer, served from FireTwin's own MVT path.

pygeoapi's MVT-postgresql provider builds each tile with a text CRS in ST_Transform (seconds
per tile), so the tile routes under ``/ogc`` are FireTwin's: the same ``tiles.TileService``
(cache, scope, ETag) as ``/tiles``, addressed the OGC way — WebMercatorQuad,
``{tileMatrix}/{tileRow}/{tileCol}`` (row = y, column = x). Collection descriptions link to
them with ``rel=http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.routers.tiles import (
    MVT_MEDIA_TYPE,
    _base,
    _layer,
    _render,
    _tile_address,
    _tile_response,
    get_tile_caller,
    tile_service,
)

router = APIRouter(prefix="/ogc", tags=["ogc-tiles"])

WEB_MERCATOR_QUAD = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
TILES_CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
)
_WORLD = 20037508.342789244


def _tms() -> dict:
    matrices = []
    for z in range(0, 25):
        n = 2**z
        matrices.append({
            "id": str(z), "scaleDenominator": 559082264.0287178 / n,
            "cellSize": 156543.03392804097 / n, "cornerOfOrigin": "topLeft",
            "pointOfOrigin": [-_WORLD, _WORLD], "tileWidth": 256, "tileHeight": 256,
            "matrixWidth": n, "matrixHeight": n,
        })
    return {"id": WEB_MERCATOR_QUAD, "title": "Google Maps Compatible for the World",
            "uri": TMS_URI, "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
            "orderedAxes": ["X", "Y"], "tileMatrices": matrices}


@router.get("/tileMatrixSets")
async def read_tile_matrix_sets(request: Request) -> JSONResponse:
    """The tile matrix sets on offer (WebMercatorQuad)."""
    href = f"{_base(request)}/ogc/tileMatrixSets/{WEB_MERCATOR_QUAD}"
    return JSONResponse({"tileMatrixSets": [{
        "id": WEB_MERCATOR_QUAD, "title": "WebMercatorQuad", "uri": TMS_URI,
        "links": [{"rel": "self", "type": "application/json", "href": href}]}]})


@router.get("/tileMatrixSets/{tms_id}")
async def read_tile_matrix_set(tms_id: str) -> JSONResponse:
    """The WebMercatorQuad definition."""
    if tms_id != WEB_MERCATOR_QUAD:
        return JSONResponse({"code": "NotFound", "description":
                             f"tile matrix set {tms_id!r} not found; use WebMercatorQuad"},
                            status_code=404)
    return JSONResponse(_tms())


def _tileset(request: Request, layer) -> dict:
    base = f"{_base(request)}/ogc/collections/{layer.id}/tiles/{WEB_MERCATOR_QUAD}"
    return {
        "title": f"{layer.title} ({WEB_MERCATOR_QUAD})",
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": [{"tileMatrix": str(z), "minTileRow": 0, "maxTileRow": 2**z - 1,
                                 "minTileCol": 0, "maxTileCol": 2**z - 1}
                                for z in range(layer.minzoom, min(layer.maxzoom, 22) + 1)],
        "layers": [{"id": layer.id, "dataType": "vector",
                    "geometryDimension": {"Point": 0, "LineString": 1}.get(
                        layer.geometry_type, 2)}],
        "links": [
            {"rel": "self", "type": "application/json", "href": base},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
             "type": "application/json",
             "href": f"{_base(request)}/ogc/tileMatrixSets/{WEB_MERCATOR_QUAD}"},
            {"rel": "item", "type": MVT_MEDIA_TYPE, "templated": True,
             "href": f"{base}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"},
        ],
    }


@router.get("/collections/{collection_id}/tiles")
async def read_collection_tilesets(request: Request, collection_id: str) -> JSONResponse:
    """The vector tilesets of a collection."""
    caller = await get_tile_caller(request)
    layer = _layer(collection_id, caller.scope)
    return JSONResponse({"tilesets": [_tileset(request, layer)]})


@router.get("/collections/{collection_id}/tiles/{tms_id}")
async def read_collection_tileset(request: Request, collection_id: str, tms_id: str) -> JSONResponse:
    """One tileset's metadata."""
    caller = await get_tile_caller(request)
    layer = _layer(collection_id, caller.scope)
    if tms_id != WEB_MERCATOR_QUAD:
        return JSONResponse({"code": "NotFound", "description":
                             f"tile matrix set {tms_id!r} not found; use WebMercatorQuad"},
                            status_code=404)
    return JSONResponse(_tileset(request, layer))


@router.get("/collections/{collection_id}/tiles/{tms_id}/{tile_matrix}/{tile_row}/{tile_col}",
            response_class=Response)
async def read_collection_tile(request: Request, collection_id: str, tms_id: str,
                               tile_matrix: str, tile_row: str, tile_col: str) -> Response:
    """One MVT tile: tileMatrix = zoom, tileRow = y, tileCol = x."""
    caller = await get_tile_caller(request)
    layer = _layer(collection_id, caller.scope)
    if tms_id != WEB_MERCATOR_QUAD:
        return JSONResponse({"code": "NotFound", "description":
                             f"tile matrix set {tms_id!r} not found; use WebMercatorQuad"},
                            status_code=404)
    service = tile_service(request)
    z, x, y = _tile_address(tile_matrix, tile_col, tile_row, "mvt")
    result = await _render(service, [layer], z, x, y, caller.scope)
    return _tile_response(request, result, caller.scope, service.settings)
