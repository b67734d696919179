"""Request-scoped dependencies (``Annotated`` aliases)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.errors import ServiceUnavailable


def get_pool(request: Request) -> AsyncConnectionPool:
    """The application's connection pool."""
    return request.app.state.pool


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """Yield a pooled connection; commits on success, rolls back on error."""
    pool: AsyncConnectionPool = request.app.state.pool
    try:
        ctx = pool.connection(timeout=5)
        conn = await ctx.__aenter__()
    except Exception as e:  # PoolTimeout or OperationalError while the database is down
        raise ServiceUnavailable from e
    try:
        yield conn
    except BaseException as e:
        await ctx.__aexit__(type(e), e, e.__traceback__)
        raise
    else:
        await ctx.__aexit__(None, None, None)


ConnDep = Annotated[AsyncConnection, Depends(get_conn)]
PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
