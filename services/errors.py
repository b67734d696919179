"""Service errors and the one place that maps every error to an HTTP status.

Clients get ``{"detail": "<safe message>"}``; the full exception goes to the log.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gis.errors import (
    ConflictError,
    DatabaseUnavailableError,
    GisError,
    InvalidInputError,
    NotFoundError,
)
from routing.errors import GraphContractError, RoutingError

logger = logging.getLogger("firetwin")

#: Seconds a client should wait before retrying while the database is unavailable.
RETRY_AFTER_S = 5


class FireSafetyError(Exception):
    """Base service error. ``user_msg`` is shown to clients; the full error is logged."""

    status_code: int = 500
    default_msg: str = "internal error (check the server log)"

    def __init__(self, msg: str | None = None, *, user_msg: str | None = None) -> None:
        super().__init__(msg or user_msg or self.default_msg)
        self.user_msg = user_msg or msg or self.default_msg


class BadRequest(FireSafetyError):
    status_code = 400
    default_msg = "bad request"


class NotFound(FireSafetyError):
    status_code = 404
    default_msg = "not found"


class Conflict(FireSafetyError):
    status_code = 409
    default_msg = "conflict"


class ServiceUnavailable(FireSafetyError):
    status_code = 503
    default_msg = "service temporarily unavailable, retry shortly"
    retry_after_s = RETRY_AFTER_S


class InsufficientStorage(FireSafetyError):
    """The server cannot store what it was sent (a full disk); nothing was kept."""

    status_code = 507
    default_msg = "not enough storage on the server to keep this file; nothing was stored"


#: Domain errors of gis/ and routing/ (which know nothing of HTTP) → status.
DEFAULT_STATUS_CODES: dict[type[Exception], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 400,
    DatabaseUnavailableError: 503,
    GisError: 500,
    GraphContractError: 500,
    RoutingError: 422,
}


def status_for(exc: Exception) -> int:
    """HTTP status of a domain exception (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in DEFAULT_STATUS_CODES:
            return DEFAULT_STATUS_CODES[cls]
    return 500


def add_exception_handlers(app: FastAPI) -> None:
    """Render service, domain and driver errors with one shape."""

    @app.exception_handler(FireSafetyError)
    async def _service(request: Request, exc: FireSafetyError) -> JSONResponse:
        if exc.status_code in (503, 507):  # a degraded dependency, not a bug: no traceback
            logger.warning("%s %s: %d %s (%s)", request.method, request.url.path,
                           exc.status_code, exc.user_msg, exc.__cause__ or exc)
        elif exc.status_code >= 500:
            logger.error("request failed: %s %s", request.method, request.url.path, exc_info=exc)
        headers = ({"Retry-After": str(exc.retry_after_s)}
                   if getattr(exc, "retry_after_s", None) else None)
        return JSONResponse({"detail": exc.user_msg}, status_code=exc.status_code,
                            headers=headers)

    @app.exception_handler(GisError)
    async def _domain(request: Request, exc: GisError) -> JSONResponse:
        status = status_for(exc)
        if status == 503:
            logger.warning("database unavailable: %s %s: %s", request.method, request.url.path,
                           exc.__cause__ or exc)
            return JSONResponse({"detail": exc.user_msg}, status_code=status,
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        if status >= 500:
            logger.error("request failed: %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": exc.user_msg}, status_code=status)

    @app.exception_handler(RoutingError)
    async def _routing(request: Request, exc: RoutingError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            logger.error("routing failed: %s %s", request.method, request.url.path, exc_info=exc)
            return JSONResponse({"detail": FireSafetyError.default_msg}, status_code=status)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(psycopg.errors.DataError)
    async def _bad_value(request: Request, exc: psycopg.errors.DataError) -> JSONResponse:
        # A value the database cannot take (an id beyond 32 bits, a malformed number): the
        # client's input, not a server fault. Nothing was stored (the transaction rolled back).
        primary = exc.diag.message_primary or "invalid value"
        return JSONResponse({"detail": f"invalid value in the request: {primary}"},
                            status_code=400)

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        # The database went away (restart, network), the pool had no connection in time
        # (PoolTimeout), a statement ran past the statement timeout (QueryCanceled), a lock or
        # serialisation failure: the transaction rolled back, nothing was stored; retry.
        if isinstance(exc, psycopg.errors.QueryCanceled):
            db = getattr(request.app.state, "db_settings", None)
            limit = f" ({db.statement_timeout_ms / 1000:g} s)" if db is not None else ""
            detail = (f"the database did not answer within the statement timeout{limit}; "
                      "nothing was changed: retry later or narrow the request")
        else:
            detail = "database temporarily unavailable; nothing was changed: retry shortly"
        logger.warning("database unavailable: %s %s: %s", request.method, request.url.path,
                       type(exc).__name__)
        return JSONResponse({"detail": detail}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error: %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": FireSafetyError.default_msg}, status_code=500)
