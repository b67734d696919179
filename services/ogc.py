"""OGC API Features (pygeoapi) mounted at ``/ogc``, with the caller's scope.

pygeoapi's own Starlette app reads its configuration from environment variables at import
time; FireTwin instead builds a ``pygeoapi.api.API`` per application from the layer catalogue
(``layers.ogc_config``) and routes requests to pygeoapi's API functions itself, so that

- several apps (tests, workers) can run with different databases in one process;
- every request runs with the caller's scope in a context variable that the provider reads
  (``layers.provider.CALLER``); the call runs in a worker thread with that context copied;
- unknown query parameters are refused with 400 and an OGC exception body, as the issue asks
  (pygeoapi would treat them as property filters or ignore them).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import psycopg
import pygeoapi.api as core_api
import sqlalchemy.exc
from pygeoapi.api import API, APIRequest, apply_gzip
from pygeoapi.api import itemtypes as itemtypes_api
from pygeoapi.openapi import get_oas
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from gis.settings import DatabaseSettings
from layers.catalogue import BY_ID, CATALOGUE
from layers.ogc_config import build_config
from layers.provider import CALLER, CallerContext
from layers.scope import fields_for, visible
from services.auth import Caller, Unauthorized, caller_from_header
from services.errors import RETRY_AFTER_S

LOGGER = logging.getLogger(__name__)

ITEM_PARAMS = frozenset({
    "f", "lang", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "sortby",
    "properties", "skipGeometry", "filter", "filter-lang", "filter-crs", "resulttype", "q",
})
GENERAL_PARAMS = frozenset({"f", "lang"})


def _valid_datetime(value: str) -> bool:
    """RFC 3339 instant, date, or interval with ``..`` open ends."""
    from datetime import date, datetime

    parts = value.split("/")
    if len(parts) > 2 or not value:
        return False
    for part in parts:
        if part in ("..", "") and len(parts) == 2:
            continue
        try:
            if "T" in part or " " in part:
                datetime.fromisoformat(part.replace("Z", "+00:00"))
            else:
                date.fromisoformat(part)
        except ValueError:
            return False
    return True


def _ogc_error(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"code": code, "type": code, "description": description},
                        status_code=status)


#: Part 3 filtering and CQL2: declared together (QGIS >= 3.32 pushes filters down only then);
#: tests/layers/test_ogc_cql2.py checks each of them against SQL.
FILTER_CLASSES = (
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
)


def _add_conformance(response: Response) -> Response:
    from services.routers.ogc_tiles import TILES_CONFORMANCE

    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return response
    body = json.loads(response.body)
    body["conformsTo"] = sorted(
        set(body.get("conformsTo", [])) | set(FILTER_CLASSES) | set(TILES_CONFORMANCE)
    )
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(json.dumps(body), status_code=200, headers=headers)


class OgcService:
    """pygeoapi for one application: configuration, OpenAPI document and routes."""

    def __init__(self, database_url: str, *, base_url: str, pool, secret_key: str,
                 db: DatabaseSettings | None = None) -> None:
        db = db or DatabaseSettings()
        self.config = build_config(database_url, base_url=base_url,
                                   statement_timeout_ms=db.statement_timeout_ms,
                                   connect_timeout_s=db.connect_timeout_s,
                                   pool_timeout_s=db.pool_timeout_s)
        self.openapi = get_oas(self.config, fail_on_invalid_collection=False)
        self.api = API(self.config, self.openapi)
        self.pool = pool
        self.secret_key = secret_key
        self.router = Router(routes=self._routes())

    # --------------------------------------------------------------- callers

    async def caller(self, request: Request) -> Caller:
        """The caller, resolved once per request (services.auth)."""
        if (cached := getattr(request.state, "caller", None)) is not None:
            return cached
        caller = await caller_from_header(request.headers.get("authorization", ""),
                                          key=self.secret_key, pool=self.pool)
        request.state.caller = caller
        return caller

    # -------------------------------------------------------------- dispatch

    async def _execute(self, request: Request, fn: Callable[..., tuple], *args: Any,
                       allowed: frozenset[str] | None = GENERAL_PARAMS) -> Response:
        if allowed is not None:
            unknown = sorted(set(request.query_params) - allowed)
            if unknown:
                return _ogc_error(400, "InvalidParameterValue",
                                  f"unknown query parameter(s): {', '.join(unknown)}")
        try:
            caller = await self.caller(request)
        except Unauthorized as e:
            return _ogc_error(401, "Unauthorized", e.user_msg)
        params = request.query_params
        if (dt := params.get("datetime")) is not None and not _valid_datetime(dt):
            return _ogc_error(400, "InvalidParameterValue",
                              "datetime must be an RFC 3339 instant or interval "
                              "(e.g. 2025-01-01T00:00:00Z/.. or 2025-01-01/2025-06-30)")
        api_request = await APIRequest.from_starlette(request, self.api.locales)
        if params.get("filter-lang") == "cql2-json" and "filter" in params:
            # CQL2 JSON in the query string: pygeoapi only reads it from a request body.
            api_request._data = params["filter"].encode()
            api_request._args = {k: v for k, v in params.items() if k != "filter"}
        ctx = contextvars.copy_context()
        ctx.run(CALLER.set, CallerContext(caller.scope, caller.role, caller.user_id))
        call = functools.partial(ctx.run, fn, self.api, api_request, *args)
        headers, status, content = await asyncio.to_thread(call)
        if status != HTTPStatus.NO_CONTENT:
            content = apply_gzip(headers, content)
        response = Response(content, status_code=status)
        response.headers.update(headers)
        if (fn in (itemtypes_api.get_collection_items, itemtypes_api.get_collection_item)
                and status == 200
                and response.headers.get("content-type", "").startswith("application/json")):
            # OGC API Features Part 1, requirement /req/geojson/content: GeoJSON media type.
            response.headers["content-type"] = "application/geo+json"
        return response

    def _collection_guard(self, request: Request, collection_id: str) -> Response | None:
        if collection_id not in BY_ID:
            valid = ", ".join(layer.id for layer in CATALOGUE)
            return _ogc_error(404, "NotFound",
                              f"collection {collection_id!r} not found; valid ids: {valid}")
        return None

    # ---------------------------------------------------------------- routes

    def _routes(self) -> list[Route]:
        async def landing(request: Request) -> Response:
            return await self._execute(request, core_api.landing_page)

        async def openapi(request: Request) -> Response:
            return await self._execute(request, core_api.openapi_, allowed=None)

        async def conformance(request: Request) -> Response:
            response = await self._execute(request, core_api.conformance)
            return _add_conformance(response)

        async def collections(request: Request) -> Response:
            cid = request.path_params.get("collection_id")
            if cid is not None and (err := self._collection_guard(request, cid)):
                return err
            response = await self._execute(request, core_api.describe_collections, cid)
            return await self._filter_collections(request, response, cid)

        async def queryables(request: Request) -> Response:
            cid = request.path_params["collection_id"]
            if err := self._collection_guard(request, cid):
                return err
            return await self._execute(request, itemtypes_api.get_collection_queryables, cid,
                                       allowed=GENERAL_PARAMS | {"profile"})

        async def schema(request: Request) -> Response:
            cid = request.path_params["collection_id"]
            if err := self._collection_guard(request, cid):
                return err
            return await self._execute(request, core_api.get_collection_schema, cid,
                                       allowed=GENERAL_PARAMS | {"profile"})

        async def items(request: Request) -> Response:
            cid = request.path_params["collection_id"]
            if err := self._collection_guard(request, cid):
                return err
            if request.method == "POST":
                ctype = (request.headers.get("content-type") or "").split(";")[0].strip()
                if ctype == "application/json":
                    body = await request.body()
                    ctype = "application/geo+json" if b'"Feature"' in body[:4096] else (
                        "application/query-cql-json")
                if ctype == "application/geo+json":
                    return await self._execute(request, itemtypes_api.manage_collection_item,
                                               "create", cid)
                if ctype == "application/query-cql-json":
                    return await self._execute(request, itemtypes_api.get_collection_items,
                                               cid, allowed=ITEM_PARAMS)
                return _ogc_error(415, "InvalidParameterValue",
                                  "POST a GeoJSON Feature (application/geo+json) to create, "
                                  "or a CQL2 JSON filter (application/query-cql-json) to query")
            try:
                caller = await self.caller(request)
            except Unauthorized as e:
                return _ogc_error(401, "Unauthorized", e.user_msg)
            return await self._execute(request, itemtypes_api.get_collection_items, cid,
                                       allowed=self._item_params(cid, caller))

        async def item(request: Request) -> Response:
            cid = request.path_params["collection_id"]
            iid = request.path_params["item_id"]
            if err := self._collection_guard(request, cid):
                return err
            if request.method == "PUT":
                return await self._execute(request, itemtypes_api.manage_collection_item,
                                           "update", cid, iid)
            if request.method == "DELETE":
                return await self._execute(request, itemtypes_api.manage_collection_item,
                                           "delete", cid, iid)
            return await self._execute(request, itemtypes_api.get_collection_item, cid, iid,
                                       allowed=GENERAL_PARAMS | {"crs"})

        return [
            Route("/", landing),
            Route("/openapi", openapi),
            Route("/conformance", conformance),
            Route("/collections", collections),
            Route("/collections/{collection_id}", collections),
            Route("/collections/{collection_id}/queryables", queryables),
            Route("/collections/{collection_id}/schema", schema),
            Route("/collections/{collection_id}/items", items, methods=["GET", "POST"]),
            Route("/collections/{collection_id}/items/{item_id}", item,
                  methods=["GET", "PUT", "DELETE"]),
        ]

    def _item_params(self, cid: str, caller: Caller) -> frozenset[str]:
        # property=value filters are OGC Features Part 1 "parameters for filtering on
        # feature properties": allow the fields of the layer the caller may see.
        return ITEM_PARAMS | frozenset(fields_for(BY_ID[cid], caller.scope))

    async def _filter_collections(self, request: Request, response: Response,
                                  cid: str | None) -> Response:
        """Hide collections the caller may not see (the public sees public layers only)."""
        if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
            return response
        try:
            caller = await self.caller(request)
        except Unauthorized:
            return response
        body = json.loads(response.body)
        if cid is not None:
            if not visible(BY_ID[cid], caller.scope):
                return _ogc_error(404, "NotFound", f"collection {cid!r} not found")
            self._add_tiles_link(body)
        else:
            body["collections"] = [
                c for c in body.get("collections", [])
                if c.get("id") in BY_ID and visible(BY_ID[c["id"]], caller.scope)
            ]
            for c in body["collections"]:
                self._add_tiles_link(c)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(json.dumps(body, ensure_ascii=False), status_code=200, headers=headers)

    def _add_tiles_link(self, collection: dict) -> None:
        from services.routers.ogc_tiles import TILESETS_VECTOR

        base = self.api.base_url.rstrip("/")
        collection.setdefault("links", []).append({
            "rel": TILESETS_VECTOR, "type": "application/json", "title": "Vector tilesets",
            "href": f"{base}/collections/{collection['id']}/tiles",
        })

    async def __call__(self, scope, receive, send) -> None:
        started = False

        async def send_tracked(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.router(scope, receive, send_tracked)
        except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as e:
            # The database is down, or a statement ran past the statement timeout: the
            # transaction rolled back, nothing changed; the client retries.
            if started:
                raise
            LOGGER.warning("OGC API: database unavailable: %s", type(e).__name__)
            response = _ogc_error(503, "ServiceUnavailable",
                                  "database temporarily unavailable or too slow to answer; "
                                  "nothing was changed: retry shortly")
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            await response(scope, receive, send)


class LazyOgc:
    """ASGI app mounted at /ogc when the app is created; the service is built on first use.

    Building reads the layer views from the database, so it waits until the database is up
    (a request while it is down gets 503 and the next one tries again).
    """

    def __init__(self) -> None:
        self.factory: Callable[[], OgcService] | None = None
        self.service: OgcService | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if self.service is None and self.factory is not None:
            async with self._lock:
                if self.service is None:
                    try:
                        self.service = await asyncio.to_thread(self.factory)
                    except Exception:
                        LOGGER.exception("OGC API could not start")
        if self.service is None:
            response = _ogc_error(503, "ServiceUnavailable", "OGC API unavailable, retry shortly")
            await response(scope, receive, send)
            return
        await self.service(scope, receive, send)


__all__ = ["LazyOgc", "OgcService"]
