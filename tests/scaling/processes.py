"""Real processes for the scaling tests: PgBouncer, Redis and gunicorn with uvicorn workers.

Each is the machine's own binary (Debian's ``pgbouncer`` and ``redis-server``, the venv's
gunicorn), started privately on a free loopback port and stopped afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from gis.settings import DatabaseSettings
from tests.conftest import free_port


def _wait(check, what: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not start (exit {proc.poll()})")
        time.sleep(0.2)


@contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server (no persistence); its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: scripts/install-system.sh installs it")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        _wait(lambda: redis.Redis.from_url(url).ping(), "redis-server", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def pgbouncer(upstream_url: str, *, pool_mode: str = "transaction") -> Iterator[str]:
    """A private PgBouncer in front of ``upstream_url``'s server; the same URL through it.

    PgBouncer refuses to run as root; under root it runs as the embedded cluster's OS user.
    ``options`` (the statement timeout FireTwin sends) is ignored, as docs/scaling.md says.
    """
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.fail("pgbouncer is not installed: scripts/install-system.sh installs it")
    u = urlsplit(upstream_url)
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="firetwin-pgbouncer-"))
    user, password = unquote(u.username or ""), unquote(u.password or "")
    (home / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    (home / "pgbouncer.ini").write_text(f"""[databases]
* = host={u.hostname} port={u.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {home}/userlist.txt
pool_mode = {pool_mode}
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits, options
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
""")
    cmd = [binary, str(home / "pgbouncer.ini")]
    if os.geteuid() == 0:
        os_user = DatabaseSettings().db_os_user
        pw = pwd.getpwnam(os_user)
        for p in (home, *home.iterdir()):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        cmd = ["runuser", "-u", os_user, "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = urlunsplit(u._replace(netloc=f"{u.netloc.rsplit('@', 1)[0]}@127.0.0.1:{port}"))
    try:
        _wait(lambda: psycopg.connect(url, connect_timeout=2).close() is None, "pgbouncer", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2,
             app: str = "tests.scaling.worker_app:app") -> Iterator[str]:
    """FireTwin under gunicorn with ``workers`` uvicorn workers on a free port; its base URL."""
    port = free_port()
    full_env = dict(os.environ, FIRETWIN_PORT=str(port),
                    FIRETWIN_PUBLIC_URL=f"http://127.0.0.1:{port}", **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", app, "--workers", str(workers),
         "--worker-class", "uvicorn_worker.UvicornWorker", "--bind", f"127.0.0.1:{port}",
         "--keep-alive", "120", "--graceful-timeout", "10", "--log-level", "warning"],
        env=full_env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{base}/health", timeout=10).status_code == 200,
              "gunicorn", proc, timeout_s=120)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def clients_per_worker(base: str, workers: int, *, rounds: int = 20
                             ) -> dict[str, httpx.AsyncClient]:
    """One keep-alive client bound to each gunicorn worker, by worker pid.

    Connections are accepted by whichever worker wakes first, so clients are opened in
    concurrent batches until every worker holds one; the others are closed.
    """
    import asyncio

    bound: dict[str, httpx.AsyncClient] = {}
    for _ in range(rounds):
        batch = [httpx.AsyncClient(base_url=base, timeout=60,
                                   limits=httpx.Limits(max_connections=1))
                 for _ in range(4 * workers)]
        replies = await asyncio.gather(*(c.get("/health") for c in batch))
        for c, r in zip(batch, replies, strict=True):
            pid = r.headers["x-worker-pid"]
            if pid not in bound:
                bound[pid] = c
            else:
                await c.aclose()
        if len(bound) == workers:
            return bound
    for c in bound.values():
        await c.aclose()
    pytest.fail(f"could not reach {workers} distinct workers: {sorted(bound)}")


def through(url: str) -> str:
    """``url`` with its password masked (for messages)."""
    u = urlsplit(url)
    return urlunsplit(u._replace(netloc=u.netloc.replace(u.password or "", "***")))
