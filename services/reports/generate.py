"""Generate and store reports: one region and period, or every street and community.

Steps per report: read the figures (``data.report_data``) → render the HTML → print the PDF
with headless chromium → write the manifest last (a report is listed once its PDF exists).
The figures are read one report at a time on the given connection; PDFs print side by side
(``FIRETWIN_REPORTS_CONCURRENCY``). Used by the API (on demand), the CLI and the scheduler.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from gis.queries.stats import StatsSettings
from services.reports import store
from services.reports.data import report_data, report_regions
from services.reports.pdf import print_pdf
from services.reports.periods import Kind, Period, last_complete
from services.reports.render import figures, render_html
from services.reports.settings import ReportSettings


class PeriodNotOver(ValueError):
    """A report is only made for a week or month that has ended."""


def check_over(period: Period, now: datetime, stats: StatsSettings | None = None) -> None:
    from gis.queries.stats import period_bounds

    _, end = period_bounds(period.first, period.last, (stats or StatsSettings()).timezone)
    if end > now:
        msg = f"the {period.kind} period {period.first}–{period.last} has not ended yet"
        raise PeriodNotOver(msg)


def _manifest(data: dict[str, Any], period: Period, generated_at: datetime,
              sizes: dict[str, int]) -> dict[str, Any]:
    rid = data["region"]["id"]
    return {
        "id": store.report_id(period, rid),
        "region": data["region"],
        "period": data["period"],
        "as_of": data["as_of"],
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "figures": {f["key"]: f["text"] for f in figures(data)},
        "totals": data["totals"],
        "files": {fmt: {"bytes": n,
                        "url": f"/api/reports/{period.kind}/{period.first}/{rid}.{fmt}"}
                  for fmt, n in sizes.items()},
    }


async def generate_report(
    conn: AsyncConnection,
    *,
    region_id: int,
    period: Period,
    now: datetime,
    root: Path,
    settings: ReportSettings,
    pdf: bool = True,
    stats_settings: StatsSettings | None = None,
) -> dict[str, Any]:
    """Make, store and return one report's manifest (HTML always, PDF unless ``pdf=False``)."""
    generated_at = datetime.now(UTC)
    data = await report_data(conn, region_id=region_id, period=period, now=now,
                             settings=settings, stats_settings=stats_settings)
    html = render_html(data, generated_at=generated_at)
    return await _store(data, html, period, generated_at, root, settings, pdf=pdf)


async def _store(data: dict[str, Any], html: str, period: Period, generated_at: datetime,
                 root: Path, settings: ReportSettings, *, pdf: bool) -> dict[str, Any]:
    rid = data["region"]["id"]
    html_path = store.path_of(root, period, rid, "html")
    await asyncio.to_thread(store.write_atomic, html_path, html)
    sizes = {"html": len(html.encode())}
    if pdf:
        sizes["pdf"] = await print_pdf(html_path, store.path_of(root, period, rid, "pdf"),
                                       chromium=settings.chromium_path(),
                                       timeout_s=settings.pdf_timeout_s)
    manifest = _manifest(data, period, generated_at, sizes)
    body = json.dumps(manifest, ensure_ascii=False, indent=1, default=str)
    await asyncio.to_thread(store.write_atomic, store.path_of(root, period, rid, "json"), body)
    return manifest


async def generate_all(
    conn: AsyncConnection,
    *,
    kind: Kind,
    now: datetime,
    root: Path,
    settings: ReportSettings,
    day: date | None = None,
    region_ids: list[int] | None = None,
    force: bool = False,
    progress: Any = None,
) -> dict[str, Any]:
    """Every street and community's report for the last complete period (or the one holding
    ``day``); existing reports are kept unless ``force``. Returns what was made and skipped."""
    from services.reports.periods import containing

    period = containing(kind, day) if day is not None else last_complete(kind, now.date())
    check_over(period, now)
    regions = await report_regions(conn)
    if region_ids is not None:
        regions = [r for r in regions if r["id"] in set(region_ids)]
    made, skipped = [], []
    sem = asyncio.Semaphore(settings.concurrency)
    tasks = []

    async def finish(data: dict, html: str, generated_at: datetime) -> dict:
        async with sem:
            m = await _store(data, html, period, generated_at, root, settings, pdf=True)
        if progress is not None:
            progress(m)
        return m

    for reg in regions:
        if not force and store.path_of(root, period, reg["id"], "pdf").exists() \
                and store.read_manifest(root, period, reg["id"]) is not None:
            skipped.append(reg["id"])
            continue
        generated_at = datetime.now(UTC)
        data = await report_data(conn, region_id=reg["id"], period=period, now=now,
                                 settings=settings)
        tasks.append(asyncio.create_task(
            finish(data, render_html(data, generated_at=generated_at), generated_at)))
    made = await asyncio.gather(*tasks)
    return {"period": {"kind": period.kind, "from": period.first.isoformat(),
                       "to": period.last.isoformat()},
            "made": [m["id"] for m in made], "skipped": len(skipped), "dir": str(root)}
