"""Database URLs, connections and pools.

``database_url(settings)`` is the one place that decides which PostGIS FireTwin talks to:
``FIRETWIN_DATABASE_URL`` when set, else the embedded cluster (started on demand).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import AsyncConnectionPool

from gis import cluster
from gis.errors import ConflictError, DatabaseUnavailableError, InvalidInputError, NotFoundError
from gis.settings import DatabaseSettings

__all__ = [
    "connect",
    "database_url",
    "new_pool",
    "open_pool",
    "sqlalchemy_url",
    "test_database_url",
    "translate_db_errors",
]


def database_url(settings: DatabaseSettings, *, start: bool = True) -> str:
    """URL of the database in use; starts the embedded cluster when needed and ``start``."""
    if settings.database_url:
        return settings.database_url
    if start:
        state = cluster.ensure_running(settings)
    else:
        state = cluster.load_state(settings)
        if state is None:
            msg = "the embedded database is not initialised: run `firetwin db start`"
            raise DatabaseUnavailableError(msg)
    return state.url(settings.db_name)


def test_database_url(settings: DatabaseSettings) -> str:
    """URL of the separate test database (``<db>_test`` beside the main one by default)."""
    if settings.test_database_url:
        return settings.test_database_url
    if settings.database_url:
        parts = urlsplit(settings.database_url)
        name = parts.path.lstrip("/") or "postgres"
        return urlunsplit(parts._replace(path=f"/{name}_test"))
    name = f"{settings.db_name}_test"
    state = cluster.ensure_running(settings, dbnames=(settings.db_name, name))
    return state.url(name)


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy with the psycopg 3 driver."""
    scheme, rest = url.split("://", 1)
    if scheme in {"postgresql", "postgres", "postgresql+psycopg2"}:
        scheme = "postgresql+psycopg"
    return f"{scheme}://{rest}"


@contextmanager
def connect(url: str, **kwargs) -> Iterator[psycopg.Connection]:
    """A synchronous connection (CLI, import, bulk load); commits on success."""
    try:
        conn = psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as e:
        msg = f"cannot connect to the database: {e}"
        raise DatabaseUnavailableError(msg, user_msg="database unavailable") from e
    with conn:
        yield conn


def new_pool(url: str, settings: DatabaseSettings, *, direct: bool = False,
             max_size: int | None = None) -> AsyncConnectionPool:
    """An unopened async pool with FireTwin's connection options.

    Every connection carries the statement timeout; a connection is checked (an empty query)
    before it is handed out, so the ones a database restart killed are replaced instead of
    failing a request; the pool waits ``pool_timeout_s`` for a connection at most. Behind
    PgBouncer in transaction mode (``settings.pgbouncer_transaction_mode``, unless ``direct``:
    the URL is the server itself) consecutive statements of a connection may run on different
    server connections, so psycopg prepares nothing (``prepare_threshold=None``).
    """
    kwargs: dict = {"options": f"-c statement_timeout={settings.statement_timeout_ms}",
                    "connect_timeout": settings.connect_timeout_s}
    if settings.pgbouncer_transaction_mode and not direct:
        kwargs["prepare_threshold"] = None
    return AsyncConnectionPool(
        url,
        min_size=min(settings.pool_min_size, max_size or settings.pool_max_size),
        max_size=max_size or settings.pool_max_size,
        timeout=settings.pool_timeout_s,
        reconnect_timeout=settings.pool_reconnect_timeout_s,
        check=AsyncConnectionPool.check_connection,
        kwargs=kwargs,
        open=False,
    )


async def open_pool(url: str, settings: DatabaseSettings) -> AsyncConnectionPool:
    """Open an async connection pool; the caller owns closing it."""
    pool = new_pool(url, settings)
    await pool.open(wait=True, timeout=30)
    return pool


@asynccontextmanager
async def translate_db_errors() -> AsyncIterator[None]:
    """Re-raise driver errors as domain errors (cf. stac-fastapi-pgstac db.py)."""
    try:
        yield
    except psycopg.errors.UniqueViolation as e:
        raise ConflictError(user_msg="already exists") from e
    except psycopg.errors.NoDataFound as e:
        raise NotFoundError from e
    except (psycopg.errors.CheckViolation, psycopg.errors.NotNullViolation) as e:
        raise InvalidInputError(user_msg=f"rejected by a data rule: {e.diag.message_primary}") from e
    except psycopg.OperationalError as e:
        raise DatabaseUnavailableError from e
