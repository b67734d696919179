"""Inspections at units with their GPS position; far ones are flagged for review.

An inspection made farther from its unit than ``PatrolSettings.checkin_max_distance_m`` (metres,
on the geography of EPSG:4326 points) is stored with ``location_flagged``: the check-in may not
have been made on site. Listing filters by the caller's scope (the unit's grid, or the unit for a
unit's safety manager).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import Point

from gis import vocab
from gis.indexing import index_geometry
from gis.queries.patrols import PatrolSettings
from gis.queries.stats import StatsSettings, period_bounds
from services.auth import CallerDep
from services.deps import ConnDep
from services.errors import BadRequest
from services.routers.units import now_of, require_staff, unit_in_scope

router = APIRouter(prefix="/api/inspections", tags=["inspections"])

INSPECT_ROLES = frozenset({"inspector", "grid_worker", "street_officer", "community_admin",
                           "admin"})
#: Clock skew tolerated on a client-supplied inspection time.
MAX_FUTURE = timedelta(minutes=5)


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    kind: str = Field(description=f"One of {', '.join(vocab.INSPECTION_KINDS)}")
    result: str = Field(default="pass",
                        description=f"One of {', '.join(vocab.INSPECTION_RESULTS)}")
    hazards_found: int = Field(default=0, ge=0, le=100)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="GPS longitude")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="GPS latitude")
    inspected_at: datetime | None = Field(default=None, description="Default: now")
    note: str | None = Field(default=None, max_length=2000)


def _validate(body: InspectionIn, now: datetime) -> datetime:
    if body.kind not in vocab.INSPECTION_KINDS:
        raise BadRequest(f"kind {body.kind!r} is not one of: {', '.join(vocab.INSPECTION_KINDS)}")
    if body.result not in vocab.INSPECTION_RESULTS:
        raise BadRequest(
            f"result {body.result!r} is not one of: {', '.join(vocab.INSPECTION_RESULTS)}")
    if body.result == "hazards_found" and body.hazards_found == 0:
        raise BadRequest("result hazards_found needs hazards_found >= 1")
    if body.result != "hazards_found" and body.hazards_found > 0:
        raise BadRequest(f"result {body.result} cannot have hazards_found > 0")
    at = body.inspected_at or now
    if at.tzinfo is None:
        raise BadRequest("inspected_at needs a timezone, e.g. 2026-06-30T09:00:00+08:00")
    if at > now + MAX_FUTURE:
        raise BadRequest("inspected_at is in the future")
    return at


_INSERT_SQL = """
WITH u AS (
    SELECT ST_Distance(geom::geography,
                       ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography) AS d
    FROM firetwin.unit WHERE id = %(unit)s
)
INSERT INTO firetwin.inspection (kind, unit_id, inspector_user_id, inspected_at, result,
    hazards_found, distance_from_unit_m, location_flagged, note, geom, h3_r7, h3_r9, h3_r11)
SELECT %(kind)s, %(unit)s, %(user)s, %(at)s, %(result)s, %(found)s, u.d, u.d > %(max_m)s,
       %(note)s, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(r7)s, %(r9)s, %(r11)s
FROM u
RETURNING id, inspected_at, distance_from_unit_m, location_flagged, grid_id
"""


@router.post("", status_code=201)
async def create_inspection(
    request: Request, conn: ConnDep, caller: CallerDep, body: InspectionIn,
) -> dict:
    """Record an inspection of a unit in your scope, with GPS; far ones are flagged."""
    require_staff(caller, INSPECT_ROLES, what="record inspections")
    at = _validate(body, now_of(request))
    await unit_in_scope(conn, caller, body.unit_id)
    limit = PatrolSettings().checkin_max_distance_m
    cells = index_geometry(Point(body.lon, body.lat))
    cur = await conn.execute(_INSERT_SQL, {
        "lon": body.lon, "lat": body.lat, "unit": body.unit_id, "kind": body.kind,
        "user": caller.user_id, "at": at, "result": body.result, "found": body.hazards_found,
        "max_m": limit, "note": body.note, "r7": cells["h3_r7"], "r9": cells["h3_r9"],
        "r11": cells["h3_r11"]})
    iid, at_db, distance_m, flagged, grid_id = await cur.fetchone()
    return {"id": iid, "unit_id": body.unit_id, "kind": body.kind, "result": body.result,
            "hazards_found": body.hazards_found, "inspected_at": at_db.isoformat(),
            "distance_from_unit_m": round(distance_m, 1), "location_flagged": flagged,
            "max_distance_m": limit, "grid_id": grid_id}


_LIST_SQL = """
SELECT i.id, i.kind, i.unit_id, u.code AS unit_code, u.name AS unit_name,
       i.inspector_user_id, au.display_name AS inspector_name, i.inspected_at, i.result,
       i.hazards_found, i.distance_from_unit_m, i.location_flagged, i.note,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, coalesce(u.grid_id, i.grid_id) AS grid_id,
       count(*) OVER () AS total
FROM firetwin.inspection i
LEFT JOIN firetwin.unit u ON u.id = i.unit_id
LEFT JOIN firetwin.app_user au ON au.id = i.inspector_user_id
WHERE (%(unit)s::int IS NULL OR i.unit_id = %(unit)s)
  AND (%(flagged)s::boolean IS NULL OR i.location_flagged = %(flagged)s)
  AND (%(kind)s::text IS NULL OR i.kind = %(kind)s)
  AND (%(start)s::timestamptz IS NULL OR i.inspected_at >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR i.inspected_at < %(end)s)
  AND (%(all)s OR coalesce(u.grid_id, i.grid_id) = ANY(%(grids)s) OR i.unit_id = ANY(%(units)s))
ORDER BY i.inspected_at DESC, i.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""


@router.get("")
async def read_inspections(
    conn: ConnDep,
    caller: CallerDep,
    unit_id: Annotated[int | None, Query()] = None,
    flagged: Annotated[bool | None, Query(description="Only flagged (true) or unflagged")] = None,
    kind: Annotated[str | None, Query()] = None,
    date_from: Annotated[date | None, Query(alias="from", description="First day")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="Last day (inclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """Inspections in your scope, newest first (days in ``FIRETWIN_STATS_TIMEZONE``)."""
    require_staff(caller, what="read inspections")
    if kind is not None and kind not in vocab.INSPECTION_KINDS:
        raise BadRequest(f"kind {kind!r} is not one of: {', '.join(vocab.INSPECTION_KINDS)}")
    if date_from and date_to and date_from > date_to:
        raise BadRequest(f"from ({date_from}) is after to ({date_to})")
    if unit_id is not None:
        await unit_in_scope(conn, caller, unit_id)
    tz = StatsSettings().timezone
    start = period_bounds(date_from, date_from, tz)[0] if date_from else None
    end = period_bounds(date_to, date_to, tz)[1] if date_to else None
    scope = caller.scope
    params: dict[str, Any] = {
        "unit": unit_id, "flagged": flagged, "kind": kind, "start": start, "end": end,
        "all": scope.kind == "all", "grids": sorted(scope.grids or ()),
        "units": sorted(getattr(scope, "units", None) or ()), "limit": limit, "offset": offset}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LIST_SQL, params)
        rows = await cur.fetchall()
    total = rows[0]["total"] if rows else 0
    items = []
    for r in rows:
        r.pop("total")
        r["inspected_at"] = r["inspected_at"].isoformat()
        if r["distance_from_unit_m"] is not None and math.isfinite(r["distance_from_unit_m"]):
            r["distance_from_unit_m"] = round(r["distance_from_unit_m"], 1)
        if not scope.personal:
            r["inspector_name"] = None
        items.append(r)
    return {"total": total, "limit": limit, "offset": offset, "items": items}
