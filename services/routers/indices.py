"""Community safety index, rescue capability per street, unit management index."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request

from gis.queries.patrols import PatrolSettings
from gis.risk import indices
from gis.risk.settings import IndexSettings, RiskSettings
from services.auth import CallerDep, Forbidden
from services.deps import ConnDep
from services.routers.risk import parse_month, scope_lists
from services.routers.units import now_of, require_staff
from services.workflows.risk import rescue_capability

router = APIRouter(prefix="/api/indices", tags=["indices"])


def _month_bounds(m: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(RiskSettings().timezone)
    nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return datetime.combine(m, time(0), tzinfo=tz), datetime.combine(nxt, time(0), tzinfo=tz)


def _default_month(request: Request) -> date:
    now = now_of(request)
    return date(now.year, now.month, 1)


@router.get("/community")
async def read_community_index(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    month: Annotated[str | None, Query(description="YYYY-MM (default: this month)")] = None,
) -> dict[str, Any]:
    """0–100 community safety index from six indicators; red/yellow/blue; safest first."""
    grids, units = scope_lists(caller)
    if units is not None:
        raise Forbidden("community indices are for grid, community, street and district staff")
    m = parse_month(month) if month else _default_month(request)
    start, end = _month_bounds(m)
    communities = None
    if grids is not None:
        cur = await conn.execute(
            "SELECT DISTINCT community_id FROM firetwin.grid WHERE id = ANY(%s) "
            "AND community_id IS NOT NULL", (grids,))
        communities = [r[0] for r in await cur.fetchall()]
    rows = await indices.community_index(conn, start=start, end=end, settings=IndexSettings(),
                                         communities=communities)
    return {"month": m.strftime("%Y-%m"), "communities": rows}


@router.get("/street")
async def read_street_index(request: Request, conn: ConnDep, caller: CallerDep) -> dict[str, Any]:
    """Rescue-capability index per street: 5-minute coverage, vehicles and staff."""
    require_staff(caller, what="read rescue capability")
    if caller.scope.kind == "units":
        raise Forbidden("street indices are for grid, community, street and district staff")
    net = await request.app.state.road_graph.current(conn)
    s = IndexSettings()
    rows = await rescue_capability(conn, net, settings=s)
    return {"standard_s": s.response_standard_s, "turnout_s": s.turnout_s, "streets": rows}


@router.get("/units")
async def read_unit_index(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    month: Annotated[str | None, Query(description="YYYY-MM: window ends with this month")] = None,
    grid_id: Annotated[int | None, Query()] = None,
    top: Annotated[int, Query(ge=1, le=5000, description="Lowest first")] = 100,
) -> dict[str, Any]:
    """Unit management index (patrols, self-checks and drills, maintenance), lowest first."""
    grids, units = scope_lists(caller)
    if grid_id is not None:
        if grids is not None and grid_id not in grids:
            raise Forbidden("that grid is not yours")
        if grids is None and units is None:
            grids = [grid_id]
        elif grids is not None:
            grids = [grid_id]
    m = parse_month(month) if month else _default_month(request)
    _, end = _month_bounds(m)
    if not month:
        end = min(end, now_of(request))
    p = PatrolSettings()
    rows = await indices.unit_index(
        conn, end=end, settings=IndexSettings(), grids=grids, units=units,
        cadence_days={"key": p.key_unit_days, "red": p.red_days, "yellow": p.yellow_days,
                      "green": p.green_days})
    return {"month": m.strftime("%Y-%m"), "window_end": end, "units": rows[:top],
            "total": len(rows)}
