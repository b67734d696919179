"""The ``firetwin`` command line: database, demo data, imports, serving."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gis import cluster, migrate
from gis.db import connect, database_url
from gis.errors import DatabaseUnavailableError, GisError
from gis.settings import DatabaseSettings
from services.progress import progress_bars
from services.settings import APISettings

app = typer.Typer(
    help="FireTwin: spatial GIS platform for grassroots fire safety (智慧消防).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: embedded cluster or FIRETWIN_DATABASE_URL.")
import_app = typer.Typer(help="Import data: OSM PBF, GeoJSON, GeoPackage, CSV.")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")

out = Console()
err = Console(stderr=True)


def _fail(msg: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {msg}")
    return typer.Exit(code)


def _url(settings: DatabaseSettings) -> str:
    try:
        return database_url(settings)
    except DatabaseUnavailableError as e:
        raise _fail(e.user_msg) from e


# ------------------------------------------------------------------------------------ db


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL + PostGIS cluster (initialising it on first use) and migrate."""
    s = DatabaseSettings()
    if not s.embedded:
        out.print("FIRETWIN_DATABASE_URL is set: nothing to start; migrating it.")
    url = _url(s)
    migrate.upgrade(url)
    out.print(f"database ready: {_redact(url)}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster (data is kept)."""
    s = DatabaseSettings()
    if not s.embedded:
        raise _fail("FIRETWIN_DATABASE_URL is set: FireTwin does not manage that server.")
    out.print("stopped" if cluster.stop(s) else "not running")


@db_app.command("status")
def db_status() -> None:
    """Show whether the database is initialised and running."""
    s = DatabaseSettings()
    if not s.embedded:
        out.print_json(json.dumps({"external": True, "url": _redact(s.database_url or "")}))
        return
    out.print_json(json.dumps(cluster.status(s)))


@db_app.command("url")
def db_url() -> None:
    """Print the URL of the database in use (starting the embedded one if needed)."""
    print(_url(DatabaseSettings()))


@db_app.command("migrate")
def db_migrate(revision: str = "head") -> None:
    """Apply schema migrations."""
    migrate.upgrade(_url(DatabaseSettings()), revision)
    out.print(f"migrated to {revision}")


@db_app.command("reset")
def db_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop all FireTwin data and recreate an empty, migrated database."""
    s = DatabaseSettings()
    if not yes:
        typer.confirm("This deletes all FireTwin data. Continue?", abort=True)
    url = _url(s)
    with connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS firetwin CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS demo_truth CASCADE")
    migrate.upgrade(url)
    out.print("database reset and migrated")


def _redact(url: str) -> str:
    if "@" in url and ":" in url.split("@", 1)[0].split("://", 1)[-1]:
        scheme, rest = url.split("://", 1)
        creds, host = rest.split("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


# ---------------------------------------------------------------------------------- demo


def _table_count(url: str, table: str) -> int:
    with connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM firetwin.{table}").fetchone()[0]


@app.command("demo")
def demo(
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same district.")] = 42,
    scale: Annotated[float, typer.Option(help="1.0 ≈ Hongshan (5,600 units); 250 ≈ province.")] = 1.0,
    replace: Annotated[bool, typer.Option(help="Empty the database first.")] = False,
    if_empty: Annotated[bool, typer.Option(help="Only load when no units exist.")] = False,
) -> None:
    """Generate and load the demo digital-twin district."""
    from gis import demo as demo_mod

    s = DatabaseSettings()
    url = _url(s)
    migrate.upgrade(url)
    if if_empty and _table_count(url, "unit") > 0:
        out.print("demo district already loaded")
        return
    if replace:
        with connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS firetwin CASCADE")
            conn.execute("DROP SCHEMA IF EXISTS demo_truth CASCADE")
        migrate.upgrade(url)
    elif _table_count(url, "unit") > 0:
        raise _fail("the database already holds data: pass --replace to start over")
    t0 = time.perf_counter()
    try:
        with connect(url) as conn, progress_bars(err) as bar:
            counts = demo_mod.generate(conn, seed=seed, scale=scale, progress=bar)
    except GisError as e:
        raise _fail(e.user_msg) from e
    table = Table("table", "rows", title=f"demo district (seed {seed}, scale {scale})")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    out.print(f"loaded in {time.perf_counter() - t0:.1f} s")


# -------------------------------------------------------------------------------- serving


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default FIRETWIN_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API (the database must be running: `firetwin db start`)."""
    import uvicorn

    api = APISettings()
    uvicorn.run(
        "services.main:app",
        host=host or api.host,
        port=port or api.port,
        workers=workers,
        log_level="info",
    )


@app.command("run")
def run(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Start the database, migrate, load the demo district if empty, and serve (make run)."""
    api = APISettings()
    s = DatabaseSettings()
    url = _url(s)
    migrate.upgrade(url)
    if _table_count(url, "unit") == 0:
        err.print("empty database: loading the demo district (once)…")
        demo(seed=api.demo_seed, scale=api.demo_scale, replace=False, if_empty=True)
    out.print(f"FireTwin on http://{host or api.host}:{port or api.port}  (API docs at /docs)")
    serve(host=host, port=port, workers=1)


class ImportKind(StrEnum):
    """Kinds accepted by ``firetwin import``."""

    osm = "osm"


def main() -> None:
    """Entry point of the ``firetwin`` script."""
    try:
        app()
    except GisError as e:
        err.print(f"[bold red]error:[/] {e.user_msg}")
        sys.exit(1)


if __name__ == "__main__":
    main()


__all__ = ["Path", "app", "main"]
