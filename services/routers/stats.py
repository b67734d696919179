"""Statistics for governance reports (seeds 001, 002): per grid, community, street or district."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gis.queries.stats import COLUMNS, GROUPS, hazard_stats
from services.auth import CallerDep, Forbidden
from services.deps import ConnDep
from services.errors import BadRequest
from services.routers.units import now_of, require_staff

router = APIRouter(prefix="/api/stats", tags=["stats"])

STATS_ROLES = frozenset({"admin", "dispatcher", "planner", "street_officer", "community_admin",
                         "grid_worker", "inspector"})
MAX_PERIOD_DAYS = 3660


@router.get("/hazards", response_model=None)
async def read_hazard_stats(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    date_from: Annotated[date, Query(alias="from", description="First day, e.g. 2026-01-01")],
    date_to: Annotated[date, Query(alias="to", description="Last day (inclusive)")],
    group: Annotated[str, Query(description=" | ".join(GROUPS))] = "community",
    fmt: Annotated[str, Query(alias="format", description="json | csv")] = "json",
) -> dict | Response:
    """Units inspected, hazards found/rectified, rectification, overdue and recurrence per group."""
    require_staff(caller, STATS_ROLES, what="read statistics")
    if group not in GROUPS:
        raise BadRequest(f"group {group!r} is not one of: {', '.join(GROUPS)}")
    if fmt not in ("json", "csv"):
        raise BadRequest(f"format {fmt!r} is not one of: json, csv")
    if date_from > date_to:
        raise BadRequest(f"from ({date_from}) is after to ({date_to})")
    if (date_to - date_from).days >= MAX_PERIOD_DAYS:
        raise BadRequest(f"the period may not exceed {MAX_PERIOD_DAYS} days")
    scope = caller.scope
    if scope.kind == "all":
        grids = None
    elif scope.kind == "grids":
        grids = sorted(scope.grids or ())
    else:  # a unit's safety manager: no area statistics
        raise Forbidden("statistics are for grid, community, street and district staff")
    body = await hazard_stats(conn, group=group, first=date_from, last=date_to,
                              now=now_of(request), grids=grids)
    body["scope"] = scope.kind
    if fmt == "json":
        return body
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(body["rows"])
    writer.writerow({"group": "total", "name": "合计 total", **body["totals"]})
    name = f"hazard-stats-{group}-{date_from}-{date_to}.csv"
    # A BOM so that Excel opens the UTF-8 (Chinese names) correctly.
    return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
