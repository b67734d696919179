"""The embedded PostgreSQL + PostGIS cluster under the project folder.

FireTwin's default database is a private cluster in ``<project>/.firetwin/pgdata`` listening on
127.0.0.1 only, with a generated password kept in ``.firetwin/db.json`` (mode 0600). PostgreSQL
refuses to run as root, so when called as root the cluster is owned and run by an unprivileged
system user (``firetwin`` by default, created on first use). If the project folder sits below a
directory that user cannot enter (a home directory with mode 0700), the user is granted the
search permission only (ACL ``--x``, no listing or reading) on those ancestors.

Everything here is idempotent: ``ensure_running`` initialises, configures, starts and creates the
database as needed, and is quick when the cluster already runs.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from gis.errors import DatabaseUnavailableError
from gis.settings import DatabaseSettings

__all__ = ["ClusterState", "ensure_running", "reset", "status", "stop"]

_CONF = """
# --- FireTwin embedded cluster (written by gis/cluster.py) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = '512MB'
work_mem = '32MB'
maintenance_work_mem = '1GB'
max_wal_size = '8GB'
checkpoint_timeout = '15min'
wal_compression = on
effective_cache_size = '8GB'
random_page_cost = 1.1
jit = off
timezone = 'UTC'
log_min_messages = warning
log_min_duration_statement = -1
"""


@dataclass(frozen=True)
class ClusterState:
    """Where the embedded cluster lives and how to reach it."""

    home: Path
    port: int
    password: str
    user: str = "firetwin"

    @property
    def datadir(self) -> Path:
        return self.home / "pgdata"

    @property
    def logfile(self) -> Path:
        return self.home / "postgres.log"

    def url(self, dbname: str) -> str:
        return (
            f"postgresql://{self.user}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{dbname}"
        )


def _os_user(settings: DatabaseSettings) -> str | None:
    """The OS user that runs the server: None means the calling user."""
    return settings.db_os_user if os.geteuid() == 0 else None


def _run(cmd: list[str], *, as_user: str | None, check: bool = True, **kw) -> subprocess.CompletedProcess:
    if as_user is not None:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def _ensure_os_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def _grant_traverse(path: Path, user: str) -> None:
    """Let ``user`` traverse every ancestor of ``path`` (search permission only)."""
    uid = pwd.getpwnam(user).pw_uid
    for parent in reversed(path.parents):
        st = parent.stat()
        if st.st_uid == uid or st.st_mode & stat.S_IXOTH:
            continue
        if shutil.which("setfacl") is None:
            msg = (
                f"{parent} is not searchable by user {user!r} and setfacl is missing: "
                "install the 'acl' package (make setup does) or set FIRETWIN_DATABASE_URL."
            )
            raise DatabaseUnavailableError(msg)
        subprocess.run(["setfacl", "-m", f"u:{user}:x", str(parent)], check=True)


def _free_port(first: int) -> int:
    for port in range(first, first + 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    msg = f"no free TCP port in {first}..{first + 199} for the embedded PostgreSQL"
    raise DatabaseUnavailableError(msg)


def _state_file(settings: DatabaseSettings) -> Path:
    return settings.home / "db.json"


def load_state(settings: DatabaseSettings) -> ClusterState | None:
    """Read the state of an initialised cluster, or None if there is none yet."""
    f = _state_file(settings)
    if not f.exists() or not (settings.home / "pgdata" / "PG_VERSION").exists():
        return None
    data = json.loads(f.read_text())
    return ClusterState(home=settings.home, port=int(data["port"]), password=data["password"])


def _check_binaries(settings: DatabaseSettings) -> None:
    for exe in ("initdb", "pg_ctl", "postgres"):
        if not (settings.pg_bindir / exe).exists():
            msg = (
                f"PostgreSQL binary {exe} not found in {settings.pg_bindir}: run `make setup` "
                "(installs postgresql-15, PostGIS and pgRouting) or set FIRETWIN_PG_BINDIR."
            )
            raise DatabaseUnavailableError(msg)


def _init(settings: DatabaseSettings) -> ClusterState:
    _check_binaries(settings)
    user = _os_user(settings)
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _ensure_os_user(user)
        _grant_traverse(home, user)
        shutil.chown(home, user=user)
    os.chmod(home, 0o700)
    state = ClusterState(home=home, port=_free_port(settings.db_port), password=secrets.token_urlsafe(24))
    datadir = state.datadir
    if datadir.exists():
        shutil.rmtree(datadir)
    pwfile = home / ".pw"
    pwfile.write_text(state.password + "\n")
    os.chmod(pwfile, 0o600)
    if user is not None:
        shutil.chown(pwfile, user=user)
    try:
        _run(
            [
                str(settings.pg_bindir / "initdb"),
                "-D", str(datadir),
                "-U", state.user,
                "--pwfile", str(pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            as_user=user,
        )
    except subprocess.CalledProcessError as e:
        msg = f"initdb failed: {e.stderr.strip()}"
        raise DatabaseUnavailableError(msg) from e
    finally:
        pwfile.unlink(missing_ok=True)
    with (datadir / "postgresql.conf").open("a") as fh:
        fh.write(_CONF)
        fh.write(f"port = {state.port}\n")
    _state_file(settings).write_text(json.dumps({"port": state.port, "password": state.password}))
    os.chmod(_state_file(settings), 0o600)
    return state


def _is_running(settings: DatabaseSettings, state: ClusterState) -> bool:
    res = _run(
        [str(settings.pg_bindir / "pg_ctl"), "-D", str(state.datadir), "status"],
        as_user=_os_user(settings),
        check=False,
    )
    return res.returncode == 0


def _start(settings: DatabaseSettings, state: ClusterState) -> None:
    user = _os_user(settings)
    if user is not None:
        _ensure_os_user(user)
        _grant_traverse(state.home, user)
    if _free_port(state.port) != state.port:
        msg = (
            f"port {state.port} recorded in {_state_file(settings)} is taken by another "
            "program; stop it, or edit the port there."
        )
        raise DatabaseUnavailableError(msg)
    res = _run(
        [
            str(settings.pg_bindir / "pg_ctl"),
            "-D", str(state.datadir),
            "-l", str(state.logfile),
            "-w", "-t", "60",
            "start",
        ],
        as_user=user,
        check=False,
    )
    if res.returncode != 0:
        tail = state.logfile.read_text()[-2000:] if state.logfile.exists() else ""
        msg = f"PostgreSQL did not start: {res.stderr.strip()}\n{tail}"
        raise DatabaseUnavailableError(msg)


def _ensure_database(state: ClusterState, dbname: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(state.url("postgres"), autocommit=True, connect_timeout=5) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
                ).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def ensure_running(settings: DatabaseSettings, *, dbnames: tuple[str, ...] = ()) -> ClusterState:
    """Initialise and start the embedded cluster if needed; create the named databases.

    Returns the cluster state (port, password) for building URLs.
    """
    state = load_state(settings) or _init(settings)
    if not _is_running(settings, state):
        _start(settings, state)
    for name in dbnames or (settings.db_name,):
        _ensure_database(state, name)
    return state


def stop(settings: DatabaseSettings) -> bool:
    """Stop the embedded cluster; True if it was running."""
    state = load_state(settings)
    if state is None or not _is_running(settings, state):
        return False
    _run(
        [str(settings.pg_bindir / "pg_ctl"), "-D", str(state.datadir), "-m", "fast", "-w", "stop"],
        as_user=_os_user(settings),
    )
    return True


def status(settings: DatabaseSettings) -> dict[str, object]:
    """Describe the embedded cluster: initialised, running, port, data folder."""
    state = load_state(settings)
    if state is None:
        return {"initialised": False, "running": False, "datadir": str(settings.home / "pgdata")}
    return {
        "initialised": True,
        "running": _is_running(settings, state),
        "port": state.port,
        "datadir": str(state.datadir),
        "log": str(state.logfile),
    }


def reset(settings: DatabaseSettings) -> None:
    """Drop and recreate the FireTwin database of the embedded cluster (data is lost)."""
    state = ensure_running(settings, dbnames=("postgres",))
    with psycopg.connect(state.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(settings.db_name)
            )
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.db_name)))
