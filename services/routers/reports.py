"""Weekly and monthly risk reports per street and community: list, download (HTML, PDF, JSON).

A caller may read a region's report when the region lies wholly inside its scope: district
roles (admin, dispatcher, planner) every street and community; a street officer its street and
the street's communities; a community admin its community; grid workers and inspectors a
community whose grids are all theirs. Another region's report is 403, an unknown one 404, the
public 401 and a unit's manager 403. Reports hold no personal data.

Reports are made by ``firetwin reports generate`` / ``firetwin reports schedule`` (see the
README); a report of an ended period not yet in the store is made on first download.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from gis.settings import DatabaseSettings
from services.auth import Caller, CallerDep, Forbidden, Unauthorized
from services.deps import ConnDep
from services.errors import BadRequest, NotFound
from services.reports import store
from services.reports.data import RegionNotFound, region
from services.reports.generate import PeriodNotOver, check_over, generate_report
from services.reports.periods import KINDS, containing, last_complete
from services.reports.settings import ReportSettings
from services.routers.units import now_of

router = APIRouter(prefix="/api/reports", tags=["reports"])

READ_ROLES = frozenset({"admin", "dispatcher", "planner", "street_officer", "community_admin",
                        "grid_worker", "inspector"})
PeriodKind = Literal["weekly", "monthly"]
_LOCKS: dict[str, asyncio.Lock] = {}


def _settings(request: Request) -> ReportSettings:
    s = getattr(request.app.state, "report_settings", None)
    if s is None:
        s = request.app.state.report_settings = ReportSettings()
    return s


def _root(request: Request):
    db = getattr(request.app.state, "db_settings", None) or DatabaseSettings()
    return _settings(request).store_dir(db, database_url=request.app.state.database_url)


def _reader(caller: Caller) -> None:
    if caller.scope.is_public:
        raise Unauthorized("sign in: risk reports are for staff")
    if caller.role not in READ_ROLES or caller.scope.kind not in ("all", "grids"):
        raise Forbidden(f"your role ({caller.role}) may not read area risk reports")


def may_read(caller: Caller, grids: list[int]) -> bool:
    """Whether the region with these grids lies wholly in the caller's scope."""
    if caller.scope.kind == "all":
        return True
    return bool(grids) and set(grids) <= set(caller.scope.grids or ())


async def _readable_regions(conn, caller: Caller) -> set[int] | None:
    """Street and community ids the caller may read (None: all)."""
    if caller.scope.kind == "all":
        return None
    cur = await conn.execute(
        "SELECT r.id FROM firetwin.region r JOIN firetwin.grid g "
        "  ON (r.level = 'street' AND g.street_id = r.id) "
        "  OR (r.level = 'community' AND g.community_id = r.id) "
        "GROUP BY r.id HAVING bool_and(g.id = ANY(%s))", (sorted(caller.scope.grids or ()),))
    return {r[0] for r in await cur.fetchall()}


@router.get("")
async def list_reports(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    period: Annotated[PeriodKind | None, Query(description="weekly | monthly")] = None,
    region_id: Annotated[int | None, Query(description="A street or community id")] = None,
    since: Annotated[date | None, Query(description="Periods starting on or after")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """Stored reports the caller may read, newest period first, with their download URLs."""
    _reader(caller)
    allowed = await _readable_regions(conn, caller)
    ids = allowed if region_id is None else (
        {region_id} if allowed is None or region_id in allowed else set())
    items = await asyncio.to_thread(store.manifests, _root(request),
                                    kinds=[period] if period else KINDS, region_ids=ids,
                                    since=since)
    return {"total": len(items), "items": items[:limit]}


@router.get("/{period}/{start}/{region_id}.{fmt}", response_model=None)
async def read_report(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    period: PeriodKind,
    start: Annotated[str, "A day of the period (YYYY-MM-DD) or 'latest'"],
    region_id: int,
    fmt: Literal["html", "pdf", "json"],
) -> FileResponse:
    """One report as HTML, PDF or its JSON manifest. ``start`` is any day of the week or month
    (its first day in the listing) or ``latest`` for the last one that has ended."""
    _reader(caller)
    now = now_of(request)
    if start == "latest":
        p = last_complete(period, now.date())
    else:
        try:
            day = date.fromisoformat(start)
        except ValueError as e:
            raise BadRequest("start must be a day (YYYY-MM-DD) or 'latest'") from e
        if not 1900 <= day.year <= 2200:
            raise BadRequest("start must be a day between 1900 and 2200")
        p = containing(period, day)
    try:
        reg = await region(conn, region_id)
    except RegionNotFound as e:
        raise NotFound(str(e)) from e
    if not may_read(caller, list(reg["grids"])):
        raise Forbidden(f"{reg['name']} is outside your area: you may read the reports of "
                        "streets and communities wholly in your scope")
    root = _root(request)
    path = store.path_of(root, p, region_id, fmt)
    if not path.exists() or store.read_manifest(root, p, region_id) is None:
        try:
            check_over(p, now)
        except PeriodNotOver as e:
            raise BadRequest(str(e)) from e
        key = store.report_id(p, region_id)
        lock = _LOCKS.setdefault(key, asyncio.Lock())
        async with lock:  # one worker task makes it; the others wait and read it
            if not path.exists() or store.read_manifest(root, p, region_id) is None:
                await generate_report(conn, region_id=region_id, period=p, now=now, root=root,
                                      settings=_settings(request))
        _LOCKS.pop(key, None)
    name = f"firetwin-{p.kind}-{p.first}-{reg['code']}.{fmt}"
    return FileResponse(path, media_type=store.MEDIA_TYPES[fmt], filename=name,
                        content_disposition_type="inline" if fmt != "pdf" else "attachment")
