"""Responder routing: routes by fire-truck travel time and the nearest stations to a point."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from shapely.geometry import mapping

from gis.queries import roads
from routing import DEFAULTS, nearest_stations, route, weight_for
from services.deps import ConnDep
from services.errors import BadRequest

router = APIRouter(prefix="/api/routing", tags=["routing"])

TURNOUT_S = {"gb": DEFAULTS.turnout_s, "nfpa": DEFAULTS.turnout_nfpa_s}


class RouteOut(BaseModel):
    travel_time_s: float
    distance_m: float
    geometry: dict = Field(description="GeoJSON LineString, EPSG:4326 (lon, lat)")
    profile: str
    closed_edges: list[int] = Field(description="Edges closed by open fire-lane blockages")


class StationOut(BaseModel):
    station_id: int
    code: str
    name: str
    kind: str
    reachable: bool
    travel_time_s: float | None
    distance_m: float | None
    eta_s: float | None = Field(description="Turnout plus travel time, seconds")
    meets_5min: bool = Field(description="ETA within the response standard (GB 51080: 300 s)")
    geometry: dict | None
    reason: str | None = None


class NearestOut(BaseModel):
    lon: float
    lat: float
    turnout_s: float
    standard_s: float
    stations: list[StationOut]


def _lonlat(value: str, name: str) -> tuple[float, float]:
    try:
        lon_s, lat_s = value.split(",")
        lon, lat = float(lon_s), float(lat_s)
    except ValueError as e:
        msg = f"{name} must be 'LON,LAT' in degrees (EPSG:4326), e.g. 118.95,42.27"
        raise BadRequest(msg) from e
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"{name} ({lon}, {lat}) is outside lon/lat range: give LON,LAT (not LAT,LON)"
        raise BadRequest(msg)
    return lon, lat


@router.get("/route", response_model=RouteOut)
async def read_route(
    request: Request,
    conn: ConnDep,
    from_: Annotated[str, Query(alias="from", description="Start as LON,LAT")],
    to: Annotated[str, Query(description="Destination as LON,LAT")],
    profile: Literal["truck", "car"] = "truck",
) -> RouteOut:
    """Fastest route between two points for a fire engine (or a car), snapping mid-edge."""
    a, b = _lonlat(from_, "from"), _lonlat(to, "to")
    net = await request.app.state.road_graph.current(conn)
    closed = await roads.blocked_edge_ids(conn)
    r = route(net.graph, a, b, weight=weight_for(profile, closed_edges=closed), index=net.index)
    return RouteOut(travel_time_s=round(r.travel_time_s, 1), distance_m=round(r.distance_m, 1),
                    geometry=mapping(r.geometry), profile=profile, closed_edges=sorted(closed))


@router.get("/nearest-stations", response_model=NearestOut)
async def read_nearest_stations(
    request: Request,
    conn: ConnDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude, EPSG:4326")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude, EPSG:4326")],
    k: Annotated[int, Query(ge=1, le=20)] = 3,
    turnout: Annotated[Literal["gb", "nfpa"], Query(description="gb: 60 s; nfpa: 80 s")] = "gb",
) -> NearestOut:
    """The k stations with the shortest truck ETA to a point, with routes."""
    net = await request.app.state.road_graph.current(conn)
    closed = await roads.blocked_edge_ids(conn)
    stations = await roads.stations_for_dispatch(conn)
    if not stations:
        msg = "no stations in service"
        raise BadRequest(msg)
    by_id = {s["id"]: s for s in stations}
    turnout_s = TURNOUT_S[turnout]
    results = nearest_stations(
        net.graph, (lon, lat), {s["id"]: (s["lon"], s["lat"]) for s in stations}, k=k,
        weight=weight_for("truck", closed_edges=closed), turnout_s=turnout_s,
        standard_s=DEFAULTS.response_standard_s, index=net.index, include_unreachable=False,
    )
    out = []
    for r in results:
        s = by_id[r.station_id]
        out.append(StationOut(
            station_id=s["id"], code=s["code"], name=s["name"], kind=s["kind"],
            reachable=r.reachable,
            travel_time_s=None if r.travel_time_s is None else round(r.travel_time_s, 1),
            distance_m=None if r.distance_m is None else round(r.distance_m, 1),
            eta_s=None if r.eta_s is None else round(r.eta_s, 1),
            meets_5min=r.meets_standard,
            geometry=mapping(r.geometry) if r.geometry is not None else None,
            reason=r.reason,
        ))
    return NearestOut(lon=lon, lat=lat, turnout_s=turnout_s,
                      standard_s=DEFAULTS.response_standard_s, stations=out)
