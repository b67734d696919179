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


#: While the last attempt to get a connection failed, later requests wait only this long for
#: one (503 at once during an outage instead of after the whole pool timeout each).
FAIL_FAST_S = 0.5


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """Yield a pooled connection; commits on success, rolls back on error.

    ``ConnDep`` closes it when the endpoint returns (``scope="function"``), before the
    response is sent: a write is committed before the client hears 2xx, and a commit that
    fails (the database went away) answers 503 instead of a 2xx for a lost write.
    """
    state = request.app.state
    pool: AsyncConnectionPool = state.pool
    # The pool's timeout (FIRETWIN_POOL_TIMEOUT_S) normally; short while the database is away.
    timeout = FAIL_FAST_S if getattr(state, "db_unreachable", False) else None
    try:
        ctx = pool.connection(timeout=timeout)
        conn = await ctx.__aenter__()
    except Exception as e:  # PoolTimeout or OperationalError while the database is down
        state.db_unreachable = True
        raise ServiceUnavailable from e
    state.db_unreachable = False
    try:
        yield conn
    except BaseException as e:
        await ctx.__aexit__(type(e), e, e.__traceback__)
        raise
    else:
        await ctx.__aexit__(None, None, None)


ConnDep = Annotated[AsyncConnection, Depends(get_conn, scope="function")]
PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
