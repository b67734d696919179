"""Test fixtures: a real PostGIS (the embedded cluster, or FIRETWIN_TEST_DATABASE_URL).

The session fixture ``db_url`` creates the test database if needed, drops FireTwin's schemas
and migrates from scratch, so every run starts from the same empty schema. ``conn`` gives each
test a connection inside a transaction that is rolled back afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from psycopg import sql

from gis import migrate
from gis.db import test_database_url
from gis.settings import DatabaseSettings


def _create_database_if_missing(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server_process(database_url: str, secret: str, *, ready_path: str = "/health",
                        env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``uvicorn services.main:app`` in its own process on a free loopback port; its URL."""
    port = free_port()
    full_env = dict(os.environ, FIRETWIN_DATABASE_URL=database_url, FIRETWIN_SECRET_KEY=secret,
                    FIRETWIN_PORT=str(port), FIRETWIN_PUBLIC_URL=f"http://127.0.0.1:{port}",
                    **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "services.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=full_env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"{base}{ready_path}", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the FireTwin server did not start")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@asynccontextmanager
async def app_client(app) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on a started FireTwin app (lifespan run: pool, tiles, OGC)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


def fresh_sibling_database(db_url: str, suffix: str, *, migrated: bool = True) -> str:
    """Drop and create ``<test db><suffix>`` beside the test database; migrate it; its URL.

    For tests whose data must be committed (a server in another process or the app's own pool
    reads it) without disturbing the rolled-back ``conn`` tests.
    """
    parts = urlsplit(db_url)
    name = parts.path.lstrip("/") + suffix
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(parts._replace(path=f"/{name}"))
    if migrated:
        migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def db_url() -> str:
    """URL of a freshly migrated test database."""
    url = test_database_url(DatabaseSettings())
    _create_database_if_missing(url)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP SCHEMA IF EXISTS firetwin CASCADE")
        c.execute("DROP SCHEMA IF EXISTS demo_truth CASCADE")
    migrate.upgrade(url)
    return url


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(db_url) as c:
        yield c
        c.rollback()
