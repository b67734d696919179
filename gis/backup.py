"""Backup and restore of a FireTwin database with pg_dump / pg_restore (custom format).

``backup(url, path)`` dumps the whole FireTwin database (schemas, data, indexes, triggers,
functions, views and the PostGIS/pgRouting extensions) to one compressed file, written under a
temporary name and renamed when complete. ``restore(url, path)`` loads a backup into a new
scratch database beside the target and, only when that succeeded, drops the target and renames
the scratch database in its place: a failed restore leaves the target as it was. Connections
to the target are closed first (stop the API, or its pool reconnects once the swap is done).
The client binaries come from ``FIRETWIN_PG_BINDIR`` (PostgreSQL 15 by default).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from gis.errors import GisError, InvalidInputError
from gis.settings import DatabaseSettings


class BackupError(GisError):
    default_msg = "backup or restore failed"


def _bin(settings: DatabaseSettings, name: str) -> str:
    exe = settings.pg_bindir / name
    if not exe.exists():
        msg = f"{name} not found in {settings.pg_bindir}: run `make setup` or set FIRETWIN_PG_BINDIR"
        raise BackupError(msg)
    return str(exe)


def backup(url: str, path: Path, *, settings: DatabaseSettings | None = None) -> int:
    """Dump the database at ``url`` to ``path``; return the file size in bytes."""
    settings = settings or DatabaseSettings()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    cmd = [_bin(settings, "pg_dump"), "--format=custom", "--compress=6", "--no-owner",
           "--no-privileges", f"--file={tmp}", url]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {r.stderr.strip()[-500:]}")
    tmp.replace(path)  # never leave a truncated backup under the final name
    return path.stat().st_size


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def restore(url: str, path: Path, *, settings: DatabaseSettings | None = None) -> None:
    """Replace the database at ``url`` with a backup, swapping only after a full restore."""
    settings = settings or DatabaseSettings()
    if not path.is_file():
        raise InvalidInputError(f"no backup file at {path}")
    with path.open("rb") as f:
        if f.read(5) != b"PGDMP":
            raise InvalidInputError(f"{path} is not a pg_dump custom-format backup")
    target = urlsplit(url).path.lstrip("/")
    scratch = f"{target}_restoring"
    admin = _with_db(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    cmd = [_bin(settings, "pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
           "--exit-on-error", f"--dbname={_with_db(url, scratch)}", str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    with psycopg.connect(admin, autocommit=True) as c:
        if r.returncode != 0:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(scratch)))
            raise BackupError(f"pg_restore failed (nothing changed): {r.stderr.strip()[-500:]}")
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))
        c.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(scratch), sql.Identifier(target)))
