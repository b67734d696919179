"""Station siting for planners: where new micro stations raise 5-minute coverage most."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request

from gis.queries import roads
from routing import DEFAULTS, weight_for
from routing.siting import suggest_stations
from services.auth import CallerDep, Forbidden
from services.deps import ConnDep
from services.errors import BadRequest

router = APIRouter(prefix="/api/routing", tags=["routing"])


@router.get("/station-siting")
async def read_station_siting(
    request: Request,
    conn: ConnDep,
    n: Annotated[int, Query(ge=1, le=10, description="How many new stations")] = 1,
    max_candidates: Annotated[int, Query(ge=10, le=2000)] = 400,
) -> dict:
    """Greedy maximal-coverage sites for new stations (GeoJSON), high-risk units first."""
    net = await request.app.state.road_graph.current(conn)
    closed = await roads.blocked_edge_ids(conn)
    rule, units = await roads.high_risk_units(conn)
    if not units:
        msg = "no units to cover: load units (and risk scores) first"
        raise BadRequest(msg)
    stations = await roads.stations_for_dispatch(conn)
    travel_s = DEFAULTS.response_standard_s - DEFAULTS.turnout_s
    targets = {u["id"]: (u["lon"], u["lat"]) for u in units}
    existing = {s["id"]: (s["lon"], s["lat"]) for s in stations}
    w = weight_for("truck", closed_edges=closed)

    choices = await asyncio.to_thread(
        suggest_stations, net.graph, targets, existing, n_new=n, travel_s=travel_s,
        max_candidates=max_candidates, weight=w, index=net.index)
    placed = choices[0].targets if choices else None
    by_id = {u["id"]: u for u in units}
    return {
        "type": "FeatureCollection",
        "rule": rule,
        "travel_s": travel_s,
        "targets": len(targets),
        "targets_off_network": None if placed is None else len(targets) - placed,
        "features": [{
            "type": "Feature", "id": i + 1,
            "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
            "properties": {
                "rank": i + 1, "newly_covered": len(c.newly_covered),
                "covered_before": c.covered_before, "covered_after": c.covered_after,
                "share_after": round(c.covered_after / max(c.targets, 1), 4),
                "examples": [by_id[t]["name"] for t in c.newly_covered[:5]],
            }} for i, c in enumerate(choices)],
    }


@router.post("/refresh-layers")
async def create_network_layers(request: Request, conn: ConnDep, caller: CallerDep) -> dict:
    """Recompute the coverage-gaps and fire-lane-problems layers (admin, dispatcher, planner)."""
    from services.workflows.network_layers import refresh_network_layers

    if caller.role not in {"admin", "dispatcher", "planner"}:
        raise Forbidden("only admins, dispatchers and planners refresh analysis layers")
    net = await request.app.state.road_graph.current(conn)
    return await refresh_network_layers(conn, net)
