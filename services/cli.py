"""The ``firetwin`` command line: database, demo data, imports, serving."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gis import cluster, migrate
from gis.db import connect, database_url
from gis.errors import DatabaseUnavailableError, GisError
from gis.settings import DatabaseSettings
from services.cli_iot import iot_app
from services.cli_risk import app as risk_app
from services.progress import progress_bars
from services.reports.cli import app as reports_app
from services.settings import APISettings

app = typer.Typer(
    help="FireTwin: spatial GIS platform for grassroots fire safety (智慧消防).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: embedded cluster or FIRETWIN_DATABASE_URL.")
import_app = typer.Typer(help="Import data: OSM PBF, GeoJSON, GeoPackage, CSV.")
users_app = typer.Typer(help="Users and access tokens.")
hazards_app = typer.Typer(help="The hazard closed loop: escalation.")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(users_app, name="users")
app.add_typer(iot_app)  # ingest, simulate sensors, mqtt start|stop|status
app.add_typer(hazards_app, name="hazards")
app.add_typer(risk_app, name="risk")
app.add_typer(reports_app, name="reports")

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


@db_app.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="Backup file to write (pg_dump custom format).")],
) -> None:
    """Back up the FireTwin database (schemas firetwin, layers, demo_truth) to a file."""
    from gis.backup import backup

    try:
        with err.status(f"backing up to {path}…"):
            size = backup(_url(DatabaseSettings()), path)
    except GisError as e:
        raise _fail(e.user_msg) from e
    out.print(f"backup written: {path} ({size / 1e6:.1f} MB)")


@db_app.command("restore")
def db_restore(
    path: Annotated[Path, typer.Argument(help="A file written by `firetwin db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the FireTwin database's contents with a backup (one transaction)."""
    from gis.backup import restore

    url = _url(DatabaseSettings())
    if not yes and not typer.confirm(f"replace all FireTwin data in the database with {path}?"):
        raise _fail("nothing restored")
    try:
        with err.status(f"restoring {path}…"):
            restore(url, path)
    except GisError as e:
        raise _fail(e.user_msg) from e
    migrate.upgrade(url)
    out.print(f"restored from {path} and migrated to the current schema")


@db_app.command("migrate")
def db_migrate(revision: str = "heads") -> None:
    """Apply schema migrations."""
    migrate.upgrade(_url(DatabaseSettings()), revision)
    out.print(f"migrated to {revision}")


@db_app.command("distribute")
def db_distribute(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the SQL plan only.")] = False,
    shard_count: Annotated[int, typer.Option(min=1, help="Shards of the unit group.")] = 32,
) -> None:
    """Distribute the schema on a Citus coordinator (docs/scaling.md); --dry-run: the plan."""
    from gis import distribute


    with connect(_url(DatabaseSettings())) as conn:
        try:
            steps = distribute.build_plan(distribute.introspect(conn), shard_count=shard_count)
        except distribute.PlanError as e:
            raise _fail(str(e)) from e
        if dry_run:
            sys.stdout.write(distribute.plan_sql(steps))
            return
        if not distribute.has_citus(conn):
            how = ("run `CREATE EXTENSION citus;` on the coordinator (it must be first in "
                   "shared_preload_libraries) and add the workers with citus_add_node()"
                   if distribute.citus_available(conn) else
                   "this server has no Citus: install Citus 13 for PostgreSQL 15 on the "
                   "coordinator and every worker (Debian/Ubuntu: the "
                   "postgresql-15-citus-13.0 package from Citus's repository), set "
                   "shared_preload_libraries = 'citus', restart, CREATE EXTENSION citus")
            raise _fail(f"the citus extension is not created in this database: {how}. "
                        "See docs/scaling.md; `firetwin db distribute --dry-run` shows the plan.")
        ran = distribute.run_plan(conn, steps, citus=True)
    out.print(f"distributed: {ran} statements run ({len(steps)} planned)")


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


def _table_count(url: str, table: str, *, schema: str = "firetwin") -> int:
    with connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0]


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


# ------------------------------------------------------------------------------- analysis


@app.command("analyse")
def analyse() -> None:
    """Recompute the network layers: 5-minute coverage gaps and fire-lane problems."""
    import asyncio

    import psycopg

    from services.road_graph import RoadGraphState
    from services.workflows.network_layers import refresh_network_layers

    url = _url(DatabaseSettings())
    migrate.upgrade(url)

    async def _go() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            net = await RoadGraphState().current(conn)
            return await refresh_network_layers(conn, net)

    with err.status("analysing coverage and fire lanes…"):
        counts = asyncio.run(_go())
    for name, n in counts.items():
        out.print(f"{name}: {n:,}")


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
    if api.clock_at is None and _table_count(url, "unit_propensity", schema="demo_truth"):
        from gis.demo.clock import REF_END

        # The demo's history ends on its reference date: run the workflow clock from there.
        os.environ["FIRETWIN_CLOCK_AT"] = REF_END.isoformat()
        out.print(f"demo district: workflow clock starts at {REF_END:%Y-%m-%d %H:%M %z}")
    os.environ.setdefault("FIRETWIN_MQTT_INGEST_IN_API", "1")  # own Mosquitto + an ingester
    out.print(f"FireTwin on http://{host or api.host}:{port or api.port}  (API docs at /docs)")
    serve(host=host, port=port, workers=1)


# -------------------------------------------------------------------------------- imports


def _column_map(pairs: list[str] | None) -> dict[str, str | None] | None:
    if not pairs:
        return None
    out: dict[str, str | None] = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src:
            raise _fail(f"--column takes SOURCE=TARGET (or SOURCE= to drop), got {pair!r}")
        out[src] = dst or None
    return out


def _report(report, *, reject_file: Path | None) -> None:
    out.print(report.summary())
    if report.rejected:
        err.print(f"[yellow]{len(report.rejected):,} row(s) rejected[/]")
        for r in report.rejected[:20]:
            err.print(f"  {r}")
        if reject_file is not None:
            reject_file.write_text("\n".join(str(r) for r in report.rejected) + "\n")
            err.print(f"  all rejections written to {reject_file}")


def _run_import(fn, path: Path, **kwargs) -> None:
    if not path.exists():
        raise _fail(f"{path}: no such file")
    url = _url(DatabaseSettings())
    migrate.upgrade(url)
    reject_file = kwargs.pop("reject_file", None)
    try:
        with connect(url) as conn, progress_bars(err) as bar:
            report = fn(conn, path, progress=bar, **kwargs)
    except GisError as e:
        raise _fail(f"{e.user_msg}\nnothing was stored") from e
    _report(report, reject_file=reject_file)


SkipOpt = Annotated[bool, typer.Option("--skip-invalid", help="Load the valid rows and list "
                                       "the rejected ones (default: any bad row aborts all).")]
ColumnsOpt = Annotated[list[str] | None, typer.Option("--column", help="SOURCE=TARGET column "
                                                      "mapping (SOURCE= drops it); repeat.")]
CrsOpt = Annotated[str | None, typer.Option(help="CRS to assume when the file has none, "
                                            "e.g. EPSG:4490.")]
RejectOpt = Annotated[Path | None, typer.Option(help="Write rejected rows and reasons here.")]


@import_app.command("osm")
def import_osm_cmd(
    path: Path,
    replace: Annotated[bool, typer.Option(help="Replace what an earlier OSM import loaded.")] = False,
    skip_invalid: SkipOpt = False,
    reject_file: RejectOpt = None,
) -> None:
    """OSM PBF: roads (routable), buildings, POIs as units, stations, hydrants, boundaries."""
    from gis.io import import_osm

    _run_import(import_osm, path, replace=replace, skip_invalid=skip_invalid,
                reject_file=reject_file)


@import_app.command("vector")
def import_vector_cmd(
    path: Path,
    table: Annotated[str, typer.Option(help="Target table, e.g. unit, building, facility.")],
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer file.")] = None,
    column: ColumnsOpt = None,
    ignore_extra: Annotated[bool, typer.Option(help="Drop source columns the table lacks.")] = False,
    assume_crs: CrsOpt = None,
    skip_invalid: SkipOpt = False,
    reject_file: RejectOpt = None,
) -> None:
    """GeoJSON or GeoPackage (any CRS; reprojected to EPSG:4326)."""
    from gis.io import import_vector

    _run_import(import_vector, path, table=table, layer=layer, columns=_column_map(column),
                ignore_extra=ignore_extra, assume_crs=assume_crs, skip_invalid=skip_invalid,
                reject_file=reject_file)


@import_app.command("csv")
def import_csv_cmd(
    path: Path,
    table: Annotated[str, typer.Option(help="Target table, e.g. facility, unit.")],
    lon: Annotated[str | None, typer.Option(help="Longitude column (auto: lon/x/longitude).")] = None,
    lat: Annotated[str | None, typer.Option(help="Latitude column (auto: lat/y/latitude).")] = None,
    column: ColumnsOpt = None,
    ignore_extra: Annotated[bool, typer.Option(help="Drop source columns the table lacks.")] = False,
    assume_crs: CrsOpt = None,
    skip_invalid: SkipOpt = False,
    reject_file: RejectOpt = None,
) -> None:
    """CSV with lon/lat columns (EPSG:4326 unless --assume-crs)."""
    from gis.io import import_csv

    _run_import(import_csv, path, table=table, lon=lon, lat=lat, columns=_column_map(column),
                ignore_extra=ignore_extra, assume_crs=assume_crs, skip_invalid=skip_invalid,
                reject_file=reject_file)


# ---------------------------------------------------------------------------------- users


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, dispatcher, planner, street_officer, "
                                           "community_admin, grid_worker, inspector, "
                                           "unit_manager, public")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    grid: Annotated[list[str] | None, typer.Option(help="Grid code in the user's scope (repeat).")] = None,
    region: Annotated[str | None, typer.Option(
        help="Region code: the street of a street officer, the community of a community admin."
    )] = None,
    password: Annotated[bool, typer.Option(
        "--password", help="Ask for a password (sign-in at POST /api/auth/token).")] = False,
) -> None:
    """Create a user (and their grids)."""
    from gis import vocab
    from services.auth import hash_password

    if role not in vocab.ROLES:
        raise _fail(f"role must be one of: {', '.join(vocab.ROLES)}")
    pw_hash = None
    if password:
        secret = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        try:
            pw_hash = hash_password(secret)
        except ValueError as e:
            raise _fail(str(e)) from e
    url = _url(DatabaseSettings())
    with connect(url) as conn:
        if conn.execute("SELECT 1 FROM firetwin.app_user WHERE username = %s", (username,)).fetchone():
            raise _fail(f"user {username!r} already exists")
        region_id = None
        if region is not None:
            row = conn.execute("SELECT id FROM firetwin.region WHERE code = %s", (region,)).fetchone()
            if row is None:
                raise _fail(f"no region with code {region!r}: nothing was stored")
            region_id = row[0]
        uid = conn.execute(
            "INSERT INTO firetwin.app_user (username, display_name, role, region_id, "
            "password_hash) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (username, name or username, role, region_id, pw_hash)).fetchone()[0]
        for code in grid or []:
            row = conn.execute("SELECT id FROM firetwin.grid WHERE code = %s", (code,)).fetchone()
            if row is None:
                raise _fail(f"no grid with code {code!r}: nothing was stored")
            conn.execute("INSERT INTO firetwin.user_grid (user_id, grid_id) VALUES (%s, %s)",
                         (uid, row[0]))
    out.print(f"user {username} (id {uid}, {role}) created")


@users_app.command("passwd")
def users_passwd(username: str) -> None:
    """Set a user's password (stored as an argon2id hash)."""
    from services.auth import hash_password

    secret = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        pw_hash = hash_password(secret)
    except ValueError as e:
        raise _fail(str(e)) from e
    with connect(_url(DatabaseSettings())) as conn:
        done = conn.execute("UPDATE firetwin.app_user SET password_hash = %s WHERE username = %s",
                            (pw_hash, username)).rowcount
    if not done:
        raise _fail(f"no user {username!r}: create one with `firetwin users add`")
    out.print(f"password of {username} set")


@users_app.command("token")
def users_token(
    username: str,
    hours: Annotated[float, typer.Option(help="Validity in hours.")] = 12.0,
) -> None:
    """Print a bearer token for a user (send as 'Authorization: Bearer <token>')."""
    from services.auth import mint_token, secret_key

    s = DatabaseSettings()
    with connect(_url(s)) as conn:
        row = conn.execute("SELECT id, role, active FROM firetwin.app_user WHERE username = %s",
                           (username,)).fetchone()
    if row is None or not row[2]:
        raise _fail(f"no active user {username!r}: create one with `firetwin users add`")
    print(mint_token(secret_key(s.home), user_id=row[0], role=row[1], ttl_s=int(hours * 3600)))


# -------------------------------------------------------------------------------- hazards


@hazards_app.command("escalate")
def hazards_escalate(
    at: Annotated[str | None, typer.Option(
        help="Sweep as of this instant (ISO 8601 with zone); default FIRETWIN_CLOCK_AT, "
        "else now.")] = None,
    batch: Annotated[int, typer.Option(help="Hazards per committed batch.")] = 50_000,
) -> None:
    """Escalate every overdue open hazard now (the API also does this every minute)."""
    import asyncio
    from datetime import UTC, datetime

    import psycopg

    from services.workflows.hazard_rules import HazardSettings
    from services.workflows.hazards import escalate_overdue
    from services.workflows.sweeper import LOCK_KEY

    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError as e:
            msg = f"--at {at!r} is not an ISO 8601 instant, e.g. 2026-07-01T08:00+08:00"
            raise _fail(msg) from e
        if now.tzinfo is None:
            raise _fail("--at needs a time zone, e.g. 2026-07-01T08:00+08:00 or ...Z")
    else:
        now = APISettings().clock_at or datetime.now(UTC)
    url = _url(DatabaseSettings())
    migrate.upgrade(url)

    async def _go(bar):
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
            if not (await cur.fetchone())[0]:
                return None
            try:
                cur = await conn.execute(
                    "SELECT count(*) FROM firetwin.hazard WHERE next_escalation_at <= %s "
                    "AND status NOT IN ('closed', 'rejected')", (now,))
                due = (await cur.fetchone())[0]
                done = 0
                bar("escalating overdue hazards", 0, due)

                def step(n: int) -> None:
                    nonlocal done
                    done += n
                    bar("escalating overdue hazards", done, max(due, done))

                settings = HazardSettings()
                more = [await psycopg.AsyncConnection.connect(url, autocommit=True)
                        for _ in range(settings.sweep_connections - 1)]
                try:
                    return await escalate_overdue([conn, *more], now=now, settings=settings,
                                                  batch=batch, progress=step)
                finally:
                    for c in more:
                        await c.close()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

    t0 = time.perf_counter()
    with progress_bars(err) as bar:
        r = asyncio.run(_go(bar))
    if r is None:
        raise _fail("another escalation sweep is running (the API's, or another command)")
    out.print(f"escalated {r.escalated:,} overdue hazards as of {now.isoformat()} "
              f"({r.steps:,} tier steps, {r.notifications:,} notifications) "
              f"in {time.perf_counter() - t0:.1f} s")
    if r.by_tier:
        table = Table("now", "hazards", title="escalated to")
        for tier in ("yellow", "orange", "red"):
            if tier in r.by_tier:
                table.add_row(tier, f"{r.by_tier[tier]:,}")
        out.print(table)


def main() -> None:
    """Entry point of the ``firetwin`` script."""
    try:
        app()
    except GisError as e:
        err.print(f"[bold red]error:[/] {e.user_msg}")
        sys.exit(1)


if __name__ == "__main__":
    main()

