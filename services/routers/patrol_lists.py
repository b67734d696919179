"""Today's routed patrol list for a patroller, and GPS check-ins at the stops."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from shapely.geometry import Point, mapping

from gis.indexing import index_geometry
from gis.queries import roads
from gis.queries.patrols import PatrolSettings, due_stops
from routing import Stop, plan_patrol, weight_for
from services.auth import CallerDep, Forbidden, Unauthorized
from services.deps import ConnDep
from services.errors import BadRequest, NotFound

router = APIRouter(prefix="/api/patrols", tags=["patrols"])

PATROL_ROLES = frozenset({"grid_worker", "inspector", "street_officer", "admin"})


def _grids(caller, grid: int | None) -> list[int]:
    if caller.role == "public":
        raise Unauthorized("sign in to get a patrol list")
    if caller.role not in PATROL_ROLES:
        raise Forbidden("patrol lists are for grid workers, inspectors and street officers")
    if caller.scope.kind == "all":
        if grid is None:
            msg = "give grid=<id>: your role covers every grid"
            raise BadRequest(msg)
        return [grid]
    grids = sorted(caller.scope.grids or ())
    if grid is not None:
        if grid not in grids:
            raise Forbidden("that grid is not yours")
        return [grid]
    return grids


@router.get("/today")
async def read_patrol_list(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    start: Annotated[str, Query(description="Where the patrol starts, LON,LAT")],
    day: Annotated[date | None, Query(description="Date (default today, UTC)")] = None,
    grid: Annotated[int | None, Query(description="One of your grids (all by default)")] = None,
    max_shift_s: Annotated[float | None, Query(gt=0)] = None,
) -> dict:
    """Stops due (units by colour cadence, hazards to verify/recheck, sensors down), routed."""
    try:
        lon, lat = (float(v) for v in start.split(","))
    except ValueError as e:
        msg = "start must be 'LON,LAT' in degrees, e.g. 118.95,42.27"
        raise BadRequest(msg) from e
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        msg = f"start ({lon}, {lat}) is outside lon/lat range"
        raise BadRequest(msg)
    grids = _grids(caller, grid)
    the_day = day or datetime.now(UTC).date()
    due = await due_stops(conn, grids=grids, day=the_day, settings=PatrolSettings())
    base = {"date": the_day.isoformat(), "grids": grids, "due": len(due)}
    if not due:
        return {**base, "order": [], "stops": [], "shifts": [], "unreachable": [],
                "totals": {"travel_s": 0.0, "distance_m": 0.0, "stops": 0}}
    net = await request.app.state.road_graph.current(conn)
    closed = await roads.blocked_edge_ids(conn)
    key = {f"{s['kind']}:{s['id']}": s for s in due}
    stops = [Stop(k, s["lon"], s["lat"], s["priority"]) for k, s in key.items()]
    plan = await asyncio.to_thread(
        plan_patrol, net.graph, (lon, lat), stops, weight=weight_for("car", closed_edges=closed),
        max_shift_s=max_shift_s, index=net.index)
    shifts = [[{"stop": k, "travel_s": round(leg.travel_s, 1),
                "distance_m": round(leg.distance_m, 1), "arrive_s": round(leg.arrive_s, 1),
                "geometry": mapping(leg.geometry) if leg.geometry is not None else None}
               for leg in s.legs for k in [leg.stop_id]] for s in plan.shifts]
    distance = sum(leg.distance_m for s in plan.shifts for leg in s.legs)
    return {
        **base,
        "order": list(plan.order),
        "stops": [{"stop": k, **{f: key[k][f] for f in ("kind", "id", "code", "name", "reason",
                                                      "priority", "lon", "lat")}}
                  for k in plan.order],
        "shifts": shifts,
        "unreachable": [{"stop": k, "reason": v} for k, v in plan.unreachable.items()],
        "totals": {"travel_s": round(plan.travel_s, 1), "distance_m": round(distance, 1),
                   "stops": len(plan.order)},
    }


class CheckIn(BaseModel):
    unit_id: int
    lon: float = Field(ge=-180, le=180, description="GPS longitude, EPSG:4326")
    lat: float = Field(ge=-90, le=90, description="GPS latitude, EPSG:4326")
    result: Literal["pass", "hazards_found", "not_accessible"] = "pass"
    hazards_found: int = Field(default=0, ge=0, le=100)
    note: str | None = Field(default=None, max_length=2000)


@router.post("/check-in", status_code=201)
async def create_check_in(conn: ConnDep, caller: CallerDep, body: CheckIn) -> dict:
    """Record a patrol check-in at a unit with its GPS position; far ones are flagged."""
    if caller.role == "public":
        raise Unauthorized("sign in to check in")
    if caller.role not in PATROL_ROLES:
        raise Forbidden("check-ins are for grid workers, inspectors and street officers")
    cur = await conn.execute(
        "SELECT grid_id, ST_Distance(geom::geography, "
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) FROM firetwin.unit WHERE id = %s",
        (body.lon, body.lat, body.unit_id))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"unit {body.unit_id} not found")
    grid_id, distance_m = row
    if caller.scope.kind == "grids" and grid_id not in (caller.scope.grids or ()):
        raise Forbidden("that unit is not in your grids")
    limit = PatrolSettings().checkin_max_distance_m
    cells = index_geometry(Point(body.lon, body.lat))
    cur = await conn.execute(
        "INSERT INTO firetwin.inspection (kind, unit_id, inspector_user_id, inspected_at, "
        "result, hazards_found, distance_from_unit_m, location_flagged, note, geom, h3_r7, "
        "h3_r9, h3_r11) VALUES ('patrol', %s, %s, now(), %s, %s, %s, %s, %s, "
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s) RETURNING id, inspected_at",
        (body.unit_id, caller.user_id, body.result, body.hazards_found, distance_m,
         distance_m > limit, body.note, body.lon, body.lat, cells["h3_r7"], cells["h3_r9"],
         cells["h3_r11"]))
    iid, at = await cur.fetchone()
    return {"id": iid, "inspected_at": at.isoformat(), "distance_from_unit_m": round(distance_m, 1),
            "flagged_far": distance_m > limit, "location_flagged": distance_m > limit,
            "max_distance_m": limit}
