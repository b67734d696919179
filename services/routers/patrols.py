"""Patrol planning: order inspection stops by travel time (car profile, blockages closed)."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from shapely.geometry import mapping

from gis.queries import roads
from routing import Stop, plan_patrol, weight_for
from services.deps import ConnDep
from services.errors import BadRequest

router = APIRouter(prefix="/api/routing", tags=["routing"])

MAX_STOPS = 200


class StopIn(BaseModel):
    id: int | str
    lon: float
    lat: float
    priority: int = 0
    service_s: Annotated[float, Field(ge=0)] = 0.0


class PatrolIn(BaseModel):
    start: list[float] = Field(description="[lon, lat], EPSG:4326")
    stops: list[StopIn]
    max_shift_s: float | None = Field(default=None, description="Longest shift, seconds")
    return_to_start: bool = False


def _check_lonlat(lon: float, lat: float, what: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        msg = f"{what} ({lon}, {lat}) is outside lon/lat range: give [lon, lat] in degrees"
        raise BadRequest(msg)


def _validate(body: PatrolIn) -> None:
    if len(body.start) != 2:
        msg = "start must be [lon, lat]"
        raise BadRequest(msg)
    _check_lonlat(body.start[0], body.start[1], "start")
    if not body.stops:
        msg = "stops is empty: give at least one stop"
        raise BadRequest(msg)
    if len(body.stops) > MAX_STOPS:
        msg = f"at most {MAX_STOPS} stops per plan, got {len(body.stops)}"
        raise BadRequest(msg)
    ids = [s.id for s in body.stops]
    if len(set(ids)) != len(ids):
        msg = "stop ids must be unique"
        raise BadRequest(msg)
    for s in body.stops:
        _check_lonlat(s.lon, s.lat, f"stop {s.id!r}")
    if body.max_shift_s is not None and not (body.max_shift_s > 0):
        msg = "max_shift_s must be positive"
        raise BadRequest(msg)


def _leg(leg: Any) -> dict:
    return {"stop_id": leg.stop_id, "travel_s": round(leg.travel_s, 1),
            "distance_m": round(leg.distance_m, 1), "arrive_s": round(leg.arrive_s, 1),
            "depart_s": round(leg.depart_s, 1),
            "geometry": mapping(leg.geometry) if leg.geometry is not None else None}


@router.post("/patrol-plan")
async def post_patrol_plan(request: Request, conn: ConnDep, body: PatrolIn) -> dict:
    """Order patrol stops (priority first, then least travel time) and split into shifts."""
    _validate(body)
    net = await request.app.state.road_graph.current(conn)
    closed = await roads.blocked_edge_ids(conn)
    stops = [Stop(s.id, s.lon, s.lat, s.priority, s.service_s) for s in body.stops]
    plan = await asyncio.to_thread(
        plan_patrol, net.graph, (body.start[0], body.start[1]), stops,
        weight=weight_for("car", closed_edges=closed), max_shift_s=body.max_shift_s,
        return_to_start=body.return_to_start, index=net.index)
    shifts = [{"legs": [_leg(leg) for leg in s.legs],
               "return_s": None if s.return_s is None else round(s.return_s, 1),
               "duration_s": round(s.duration_s, 1), "over_limit": s.over_limit}
              for s in plan.shifts]
    distance = sum(leg.distance_m for s in plan.shifts for leg in s.legs)
    return {
        "order": plan.order,
        "shifts": shifts,
        "totals": {"travel_s": round(plan.travel_s, 1), "distance_m": round(distance, 1),
                   "stops": len(plan.order), "shifts": len(plan.shifts),
                   "duration_s": round(sum(s.duration_s for s in plan.shifts), 1)},
        "unreachable": [{"id": k, "reason": v} for k, v in plan.unreachable.items()],
        "profile": "car",
        "closed_edges": sorted(closed),
    }
