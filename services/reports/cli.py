"""``firetwin reports``: generate the weekly and monthly risk reports, list them, or keep
generating them on a schedule (a loop for a service manager; or run ``generate`` from cron)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console

from gis.db import database_url
from gis.errors import DatabaseUnavailableError
from gis.settings import DatabaseSettings
from services.reports import store
from services.reports.periods import KINDS, Kind
from services.reports.settings import ReportSettings

app = typer.Typer(help="Weekly and monthly risk reports per street and community (HTML + PDF).",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _url() -> str:
    try:
        return database_url(DatabaseSettings())
    except DatabaseUnavailableError as e:
        err.print(f"[bold red]error:[/] {e.user_msg}")
        raise typer.Exit(1) from e


def _now() -> datetime:
    """The workflow clock (FIRETWIN_CLOCK_AT, as the API uses it) or now."""
    from services.settings import APISettings

    at = APISettings().clock_at
    return at if at is not None else datetime.now(UTC)


async def _generate(kind: Kind, *, day: date | None, regions: list[int] | None,
                    force: bool) -> dict:
    import psycopg

    from services.reports.generate import generate_all

    s = ReportSettings()
    url = _url()
    root = s.store_dir(database_url=url)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await generate_all(
            conn, kind=kind, now=_now(), root=root, settings=s, day=day, region_ids=regions,
            force=force, progress=lambda m: out.print(
                f"  {m['id']}  {m['region']['name']}  ({m['files']['pdf']['bytes']:,} B PDF)"))


PeriodOpt = Annotated[str, typer.Option("--period", help="weekly | monthly")]


def _kind(value: str) -> Kind:
    if value not in KINDS:
        raise typer.BadParameter(f"period must be one of {', '.join(KINDS)}")
    return value  # type: ignore[return-value]


@app.command("generate")
def generate(
    period: PeriodOpt = "weekly",
    day: Annotated[str | None, typer.Option("--date", help="A day of the week/month to report "
                                            "(default: the last one that has ended).")] = None,
    region: Annotated[list[int] | None, typer.Option(help="Only this street or community id "
                                                     "(repeat).")] = None,
    force: Annotated[bool, typer.Option(help="Remake reports already stored.")] = False,
) -> None:
    """Make the reports of every street and community for one week or month."""
    from services.reports.generate import PeriodNotOver

    kind = _kind(period)
    try:
        the_day = date.fromisoformat(day) if day else None
    except ValueError as e:
        raise typer.BadParameter("--date must be YYYY-MM-DD") from e
    t0 = time.perf_counter()
    try:
        r = asyncio.run(_generate(kind, day=the_day, regions=region, force=force))
    except (PeriodNotOver, RuntimeError) as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from e
    out.print(f"{kind} {r['period']['from']} — {r['period']['to']}: {len(r['made'])} made, "
              f"{r['skipped']} already stored, in {time.perf_counter() - t0:.1f} s → {r['dir']}")


@app.command("list")
def list_reports(period: Annotated[str | None, typer.Option("--period")] = None) -> None:
    """The stored reports, newest first: id, region, found, rectification rate, overdue, PDF path
    (tab-separated, one a line)."""
    root = ReportSettings().store_dir(database_url=_url())
    items = store.manifests(root, kinds=[_kind(period)] if period else KINDS)
    for m in items:
        f = m["figures"]
        pdf = root / m["period"]["kind"] / m["period"]["from"] / f"{m['region']['id']}.pdf"
        typer.echo("\t".join(str(v) for v in (
            m["id"], m["region"]["name"], f["hazards_found"], f["rectification_rate"],
            f["overdue"], pdf)))


@app.command("schedule")
def schedule(
    once: Annotated[bool, typer.Option(help="Check once and exit (for cron or a timer).")] = False,
) -> None:
    """Keep the reports current (a loop for systemd or a container).

    Every FIRETWIN_REPORTS_SCHEDULE_CHECK_S seconds, make the last ended week's and month's
    reports not stored yet: soon after Monday 00:00 the weekly ones, after the 1st the monthly
    ones; a restart catches up."""
    s = ReportSettings()
    while True:
        for kind in KINDS:
            try:
                r = asyncio.run(_generate(kind, day=None, regions=None, force=False))
                if r["made"]:
                    out.print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} {kind} {r['period']['from']}: "
                              f"{len(r['made'])} reports made")
            except Exception as e:  # keep the loop alive; the next check retries
                err.print(f"[bold red]{kind} reports failed:[/] {e}")
        if once:
            return
        time.sleep(s.schedule_check_s)
