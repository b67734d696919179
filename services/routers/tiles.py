"""Vector tiles, TileJSON and the map style (``/tiles/...``), built from the layer catalogue.

Tile requests the cache can answer never reach FastAPI's routing and dependency machinery:
:class:`TileFastPath`, a pure-ASGI middleware, resolves the caller, asks
:meth:`tiles.service.TileService.cached` (which catches up with the change log first, so an
answer is as fresh as a rendered one) and writes the response itself, with the same headers,
ETag/304 and scope rules as the routes below. Anything else (a miss, an error, a bad address)
goes on to the routes, which render the tile and fill the cache.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as ASGIScope

from gis.errors import InvalidInputError
from layers.catalogue import CATALOGUE, Layer, get_layer
from layers.scope import Scope, visible
from services.auth import Caller, caller_from_header, get_caller
from services.errors import BadRequest, NotFound
from tiles.service import TileResult, TileService
from tiles.settings import MVTSettings
from tiles.tilejson import style, tilejson

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
FORMATS = frozenset({"mvt", "pbf"})
PRIVATE_CACHE = "private, max-age=0, must-revalidate"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One tile service (cache and change feed) per worker, closed at shutdown."""
    service = _service_for(app)
    await service.open()
    try:
        yield
    finally:
        await service.close()
        app.state.tile_service = None


router = APIRouter(prefix="/tiles", tags=["tiles"], lifespan=lifespan)


def _service_for(app: FastAPI) -> TileService:
    service = getattr(app.state, "tile_service", None)
    if service is None:
        service = TileService(app.state.pool, app.state.database_url, MVTSettings())
        app.state.tile_service = service
    return service


def tile_service(request: Request) -> TileService:
    """The worker's tile service (a plain call: a dependency would cost more than the lookup)."""
    return _service_for(request.app)


#: The caller of a tile request: the public (no token) costs no database round trip.
get_tile_caller = get_caller


TileCallerDep = Annotated[Caller, Depends(get_tile_caller)]


def _visible_layers(scope: Scope) -> list[Layer]:
    return [layer for layer in CATALOGUE if visible(layer, scope)]


def _layer(layer_id: str, scope: Scope) -> Layer:
    """The layer, or 404 listing the valid ids (a layer the scope may not see does not exist)."""
    layer = get_layer(layer_id)
    if layer is None or not visible(layer, scope):
        valid = ", ".join(la.id for la in _visible_layers(scope))
        msg = f"unknown layer {layer_id[:64]!r}; valid layer ids: {valid}"
        raise NotFound(msg)
    return layer


def _tile_address(z: str, x: str, y: str, fmt: str) -> tuple[int, int, int]:
    if fmt not in FORMATS:
        msg = f"unknown tile format {fmt[:16]!r}: use .mvt or .pbf"
        raise BadRequest(msg)
    try:
        return int(z), int(x), int(y)
    except ValueError as e:
        msg = f"tile address {z[:8]}/{x[:12]}/{y[:12]} is not three integers z/x/y"
        raise BadRequest(msg) from e


def _cache_control(scope: Scope, settings: MVTSettings) -> str:
    if scope.is_public:
        return f"public, max-age={settings.public_max_age_s}"
    return PRIVATE_CACHE


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2)."""
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _tile_response(
    request: Request, result: TileResult, scope: Scope, settings: MVTSettings
) -> Response:  # keep in step with TileFastPath._send
    headers = {
        "ETag": result.etag,
        "Cache-Control": _cache_control(scope, settings),
        "Vary": "Authorization",
    }
    inm = request.headers.get("if-none-match")
    if inm and _etag_matches(inm, result.etag):
        return Response(status_code=304, headers=headers)
    if not result.data:
        return Response(status_code=204, headers=headers)
    return Response(result.data, media_type=MVT_MEDIA_TYPE, headers=headers)


async def _render(
    service: TileService, layers: Sequence[Layer], z: int, x: int, y: int, scope: Scope
) -> TileResult:
    try:
        return await service.tile(layers, z, x, y, scope=scope)
    except InvalidInputError as e:
        raise BadRequest(e.user_msg) from e


def _json(body: dict[str, Any], scope: Scope, settings: MVTSettings) -> JSONResponse:
    return JSONResponse(
        body, headers={"Cache-Control": _cache_control(scope, settings), "Vary": "Authorization"}
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "Mapbox Vector Tile"},
    204: {"description": "Empty tile"},
    304: {"description": "Not modified (If-None-Match)"},
    400: {"description": "Not a tile of the WebMercatorQuad grid"},
    404: {"description": "Unknown layer"},
}


@router.get("/style.json")
async def read_style(request: Request, caller: TileCallerDep) -> JSONResponse:
    """MapLibre style v8 of every layer the caller may see, drawn from our own tiles."""
    service = tile_service(request)
    layers = _visible_layers(caller.scope)
    bounds = await service.bounds(layers, scope=caller.scope)
    body = style(layers, tiles_url=f"{_base(request)}/tiles/all/{{z}}/{{x}}/{{y}}.mvt",
                 bounds=bounds)
    return _json(body, caller.scope, service.settings)


@router.get("/all.json")
async def read_all_tilejson(
    request: Request, caller: TileCallerDep
) -> JSONResponse:
    """TileJSON 3.0.0 of the multi-layer tiles (every layer the caller may see)."""
    service = tile_service(request)
    layers = _visible_layers(caller.scope)
    bounds = await service.bounds(layers, scope=caller.scope)
    body = tilejson(
        layers,
        tiles_url=f"{_base(request)}/tiles/all/{{z}}/{{x}}/{{y}}.mvt",
        bounds=bounds,
        scope=caller.scope,
        name="all",
        description="All FireTwin layers visible to the caller, one tile per z/x/y.",
    )
    return _json(body, caller.scope, service.settings)


@router.get("/all/{z}/{x}/{y}.{fmt}", response_class=Response, responses=_TILE_RESPONSES)
async def read_all_tile(
    request: Request,
    caller: TileCallerDep,
    z: str,
    x: str,
    y: str,
    fmt: str,
) -> Response:
    """Every layer the caller may see at z/x/y, concatenated into one tile."""
    service = tile_service(request)
    zi, xi, yi = _tile_address(z, x, y, fmt)
    result = await _render(service, _visible_layers(caller.scope), zi, xi, yi, caller.scope)
    return _tile_response(request, result, caller.scope, service.settings)


@router.get("/{layer_id}.json")
async def read_tilejson(
    request: Request, caller: TileCallerDep, layer_id: str
) -> JSONResponse:
    """TileJSON 3.0.0 of one layer."""
    service = tile_service(request)
    layer = _layer(layer_id, caller.scope)
    bounds = await service.bounds([layer], scope=caller.scope)
    body = tilejson(
        [layer],
        tiles_url=f"{_base(request)}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt",
        bounds=bounds,
        scope=caller.scope,
        name=layer.id,
        description=layer.description,
    )
    return _json(body, caller.scope, service.settings)


@router.get("/{layer_id}/{z}/{x}/{y}.{fmt}", response_class=Response, responses=_TILE_RESPONSES)
async def read_tile(
    request: Request,
    caller: TileCallerDep,
    layer_id: str,
    z: str,
    x: str,
    y: str,
    fmt: str,
) -> Response:
    """One layer's Mapbox Vector Tile at z/x/y (``.mvt`` or ``.pbf``)."""
    service = tile_service(request)
    layer = _layer(layer_id, caller.scope)
    zi, xi, yi = _tile_address(z, x, y, fmt)
    result = await _render(service, [layer], zi, xi, yi, caller.scope)
    return _tile_response(request, result, caller.scope, service.settings)


# ----------------------------------------------------------------------------- fast path

_TILE_PATH = re.compile(r"/tiles/([A-Za-z0-9_-]+)/(\d{1,2})/(\d{1,10})/(\d{1,10})\.(?:mvt|pbf)")
_OGC_TILE_PATH = re.compile(
    r"/ogc/collections/([A-Za-z0-9_-]+)/tiles/WebMercatorQuad/(\d{1,2})/(\d{1,10})/(\d{1,10})"
)
_VARY = (b"vary", b"Authorization")
_MVT = (b"content-type", MVT_MEDIA_TYPE.encode())


class TileFastPath:
    """Answers GETs of cached tiles (``/tiles/...`` and OGC API Tiles) in pure ASGI.

    Same caller resolution, scope, zoom range, change-log freshness, ETag, 304 and
    Cache-Control as the routes; everything it cannot answer from the cache goes on to ``app``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(("/tiles/", "/ogc/collections/"))
            and await self._answer(scope, send)
        ):
            return
        await self.app(scope, receive, send)

    async def _answer(self, scope: ASGIScope, send: Send) -> bool:
        """Send the tile and return True, or return False having sent nothing."""
        app = scope.get("app")
        service: TileService | None = getattr(getattr(app, "state", None), "tile_service", None)
        if service is None:
            return False
        path = scope["path"]
        if (m := _TILE_PATH.fullmatch(path)) is not None:
            layer_id, z, x, y = m.group(1, 2, 3, 4)
        elif (m := _OGC_TILE_PATH.fullmatch(path)) is not None:
            layer_id, z, y, x = m.group(1, 2, 3, 4)  # {tileMatrix}/{tileRow}/{tileCol}
            if layer_id == "all":
                return False
        else:
            return False
        auth = inm = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value.decode("latin-1")
            elif name == b"if-none-match":
                inm = value.decode("latin-1")
        try:
            caller = await caller_from_header(auth, key=app.state.secret_key, pool=app.state.pool)
        except Exception:  # the route resolves it again and answers the error
            return False
        scope.setdefault("state", {})["caller"] = caller  # the route's get_caller reuses it
        if layer_id == "all":
            layers = _visible_layers(caller.scope)
        else:
            layer = get_layer(layer_id)
            if layer is None or not visible(layer, caller.scope):
                return False
            layers = [layer]
        try:
            result = await service.cached(layers, int(z), int(x), int(y), scope=caller.scope)
        except (InvalidInputError, psycopg.Error):  # the route answers (503: database down)
            return False
        if result is None:
            return False
        await self._send(send, result, inm, _cache_control(caller.scope, service.settings))
        return True

    @staticmethod
    async def _send(send: Send, result: TileResult, inm: str, cache_control: str) -> None:
        headers = [(b"etag", result.etag.encode()), (b"cache-control", cache_control.encode()),
                   _VARY]
        if inm and _etag_matches(inm, result.etag):
            status, body = 304, b""
        elif not result.data:
            status, body = 204, b""
        else:
            status, body = 200, result.data
            headers += [(b"content-length", str(len(body)).encode()), _MVT]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
