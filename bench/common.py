"""Shared helpers of the benchmark scripts: databases, result files, tables."""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from gis import migrate
from gis.db import database_url
from gis.settings import DatabaseSettings

RESULTS = Path(__file__).resolve().parent / "results"


def bench_database(name: str, *, fresh: bool = False, url: str | None = None) -> str:
    """URL of a benchmark database beside the configured one (created and migrated)."""
    base = url or database_url(DatabaseSettings())
    parts = urlsplit(base)
    target = urlunsplit(parts._replace(path=f"/{name}"))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            c.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate.upgrade(target)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_result(name: str, payload: dict) -> Path:
    """Write ``bench/results/<name>.json`` with machine info and the reproducing command."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": __import__("os").cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform()},
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path
