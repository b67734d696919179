"""Station coverage: drive-time band polygons, the 5-minute district summary, first-due areas,
and the per-building fire-lane report.

What-ifs (``without_station``, ``add_station``, ``close_edge``) are answered on the same
in-memory graph through the station list and the weight function: live state (the graph,
the database, other requests) is never changed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Annotated, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from fastapi import APIRouter, Query, Request
from shapely.geometry import mapping

from gis.queries import roads
from routing import DEFAULTS, SnapIndex, band_polygons, check_buildings, weight_for
from routing.coverage import point_times, station_reach
from routing.errors import SnapError
from routing.isochrones import first_due_polygons
from routing.weights import Weight
from services.deps import ConnDep
from services.errors import BadRequest
from services.routers.routing import _lonlat

router = APIRouter(prefix="/api/routing", tags=["routing"])

MAX_BANDS = 6
MAX_BAND_S = 3600.0
MAX_FIRE_LANE_BUILDINGS = 2000
CACHE_SIZE = 512  # station band-polygon sets kept per worker
HYDRANT_MARGIN_DEG = 0.003  # ~300 m: hydrants just outside the bbox still protect buildings


# ----------------------------------------------------------------------------- helpers


def _bands(value: str) -> tuple[float, ...]:
    try:
        bands = sorted({float(b) for b in value.split(",") if b.strip()})
    except ValueError as e:
        msg = "bands must be seconds separated by commas, e.g. 240,300,480"
        raise BadRequest(msg) from e
    if not bands or len(bands) > MAX_BANDS or bands[0] <= 0 or bands[-1] > MAX_BAND_S:
        msg = f"give 1 to {MAX_BANDS} bands, each in (0, {MAX_BAND_S:g}] seconds"
        raise BadRequest(msg)
    return tuple(bands)


def _edge_ids(values: list[str] | None) -> frozenset[int]:
    out = set()
    for v in values or []:
        for part in v.split(","):
            try:
                out.add(int(part))
            except ValueError as e:
                msg = f"close_edge must be road edge ids (integers), got {part!r}"
                raise BadRequest(msg) from e
    return frozenset(out)


async def _scenario(
    request: Request,
    conn: Any,
    without_station: list[int] | None,
    add_station: list[str] | None,
    close_edge: list[str] | None,
) -> tuple[Any, dict[Hashable, tuple[float, float]], Weight, dict]:
    """The network, stations and truck weight of the live state with the what-ifs applied."""
    net = await request.app.state.road_graph.current(conn)
    blocked = await roads.blocked_edge_ids(conn)
    live = await roads.stations_for_dispatch(conn)
    removed = set(without_station or [])
    unknown = removed - {s["id"] for s in live}
    if unknown:
        msg = f"without_station: no station in service with id {sorted(unknown)}"
        raise BadRequest(msg)
    stations: dict[Hashable, tuple[float, float]] = {
        s["id"]: (s["lon"], s["lat"]) for s in live if s["id"] not in removed
    }
    added = []
    for i, v in enumerate(add_station or [], start=1):
        stations[f"new-{i}"] = _lonlat(v, "add_station")
        added.append(f"new-{i}")
    if not stations:
        msg = "no stations left in the scenario"
        raise BadRequest(msg)
    extra = _edge_ids(close_edge)
    weight = weight_for("truck", closed_edges=blocked | extra)
    scenario = {
        "what_if": bool(removed or added or extra),
        "without_station": sorted(removed),
        "add_station": added,
        "close_edge": sorted(extra),
        "blocked_edges": sorted(blocked),
    }
    return net, stations, weight, scenario


async def _points(conn: Any, sql: str) -> np.ndarray:
    cur = await conn.execute(sql)
    rows = await cur.fetchall()
    return np.array([(r[0], r[1]) for r in rows], dtype=float).reshape(-1, 2)


def _summary(
    G: nx.MultiDiGraph,
    index: SnapIndex,
    stations: Mapping[Hashable, tuple[float, float]],
    weight: Weight,
    units: np.ndarray,
    buildings: np.ndarray,
) -> dict:
    standard, turnout = DEFAULTS.response_standard_s, DEFAULTS.turnout_s
    band = standard - turnout
    times, off_network = station_reach(G, stations, weight=weight, cutoff=band, index=index)

    def share(xy: np.ndarray) -> dict:
        t = point_times(G, index, times, xy, weight=weight)
        reached = int((t <= band).sum())
        total = len(xy)
        return {"total": total, "reached": reached,
                "share": round(reached / total, 4) if total else None}

    return {
        "standard_s": standard,
        "turnout_s": turnout,
        "travel_band_s": band,
        "stations": len(stations),
        "stations_off_network": off_network,
        "nodes_reached": sum(1 for t in times.values() if t <= band),
        "nodes_total": G.number_of_nodes(),
        "units": share(units),
        "buildings": share(buildings),
    }


def _area_km2(index: SnapIndex, geom: Any) -> float:
    return round(float(index.proj.to_metric(geom).area) / 1e6, 4)


class PolygonCache:
    """Band polygons per (network version, station, place, bands, closed roads), LRU.

    A station's polygons depend only on its own place and the closures, so a what-if that
    adds or removes stations recomputes only the new ones. Entries are never mutated.
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._data: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> dict | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple, value: dict) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


def _coverage(
    G: nx.MultiDiGraph,
    index: SnapIndex,
    stations: Mapping[Hashable, tuple[float, float]],
    weight: Weight,
    bands: tuple[float, ...],
    units: np.ndarray,
    buildings: np.ndarray,
    *,
    polygons: bool = True,
    cache: PolygonCache | None = None,
    cache_key: tuple = (),
) -> tuple[list[dict], dict]:
    features = []
    unreachable = []
    for sid, loc in stations.items() if polygons else ():
        key = (*cache_key, sid, tuple(loc), bands)
        polys = cache.get(key) if cache is not None else None
        if polys is None:
            try:
                polys = band_polygons(G, {sid: loc}, bands_s=bands, weight=weight, index=index)
            except SnapError as e:
                unreachable.append({"station_id": sid, "reason": str(e)})
                continue
            if cache is not None:
                cache.put(key, polys)
        for band, geom in polys.items():
            features.append({
                "type": "Feature",
                "geometry": mapping(geom) if not geom.is_empty else None,
                "properties": {"station_id": sid, "band_s": band,
                               "area_km2": _area_km2(index, geom)},
            })
    summary = _summary(G, index, stations, weight, units, buildings)
    summary["stations_unreachable"] = unreachable
    return features, summary


# --------------------------------------------------------------------------- endpoints

WithoutQ = Annotated[list[int] | None, Query(description="What-if: leave out this station id")]
AddQ = Annotated[list[str] | None, Query(description="What-if: add a station at LON,LAT")]
CloseQ = Annotated[list[str] | None, Query(description="What-if: close this road edge id")]


@router.get("/coverage")
async def read_coverage(
    request: Request,
    conn: ConnDep,
    bands: Annotated[str, Query(description="Travel-time bands, seconds")] = "240,300,480",
    without_station: WithoutQ = None,
    add_station: AddQ = None,
    close_edge: CloseQ = None,
    polygons: Annotated[bool, Query(description="false: the summary only (fast)")] = True,
) -> dict:
    """Drive-time band polygons per station (truck, open blockages closed) and the share of
    units and buildings reached within 5 minutes (60 s turnout + 240 s travel).

    Polygons are cached per station, network version and closures, so repeated and what-if
    calls only compute stations (or closures) not seen before."""
    band_list = _bands(bands)
    net, stations, weight, scenario = await _scenario(
        request, conn, without_station, add_station, close_edge)
    cache = getattr(request.app.state, "coverage_polygons", None)
    if cache is None:
        cache = request.app.state.coverage_polygons = PolygonCache()
    closed = frozenset(scenario["blocked_edges"]) | frozenset(scenario["close_edge"])
    units = await _points(conn, "SELECT ST_X(geom), ST_Y(geom) FROM firetwin.unit")
    buildings = await _points(
        conn, "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) AS c "
              "FROM firetwin.building) b")
    features, summary = await asyncio.to_thread(
        _coverage, net.graph, net.index, stations, weight, band_list, units, buildings,
        polygons=polygons, cache=cache, cache_key=(net.version, closed))
    return {"type": "FeatureCollection", "features": features, "bands_s": list(band_list),
            "summary": summary, "scenario": scenario}


def _first_due(
    G: nx.MultiDiGraph,
    index: SnapIndex,
    stations: Mapping[Hashable, tuple[float, float]],
    weight: Weight,
) -> tuple[list[dict], int]:
    areas, unreached = first_due_polygons(G, stations, weight=weight, index=index)
    features = [{"type": "Feature",
                 "geometry": None if a.geometry.is_empty else mapping(a.geometry),
                 "properties": {"station_id": a.station_id, "nodes": a.nodes,
                                "area_km2": a.area_km2}} for a in areas]
    return features, unreached


@router.get("/first-due")
async def read_first_due(
    request: Request,
    conn: ConnDep,
    without_station: WithoutQ = None,
    add_station: AddQ = None,
    close_edge: CloseQ = None,
) -> dict:
    """First-due areas: each road goes to the station that reaches it first (truck)."""
    net, stations, weight, scenario = await _scenario(
        request, conn, without_station, add_station, close_edge)
    features, unreached = await asyncio.to_thread(
        _first_due, net.graph, net.index, stations, weight)
    return {"type": "FeatureCollection", "features": features,
            "unreached_nodes": unreached, "scenario": scenario}


def _bbox(value: str) -> tuple[float, float, float, float]:
    try:
        minx, miny, maxx, maxy = (float(p) for p in value.split(","))
    except ValueError as e:
        msg = "bbox must be minx,miny,maxx,maxy in degrees (EPSG:4326)"
        raise BadRequest(msg) from e
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        msg = "bbox must be minx,miny,maxx,maxy with min < max, in lon/lat degrees"
        raise BadRequest(msg)
    return minx, miny, maxx, maxy


_BUILDINGS_SQL = """
    SELECT id, height_m, use, ST_AsBinary(geom) FROM firetwin.building
    WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326) ORDER BY id LIMIT %s
"""


def _problem(p: Any) -> dict:
    return {"code": p.code, "message": p.message, "label_zh": p.label_zh,
            "edges": list(p.edges), "nodes": list(p.nodes)}


@router.get("/fire-lanes")
async def read_fire_lanes(
    request: Request,
    conn: ConnDep,
    bbox: Annotated[str, Query(description="minx,miny,maxx,maxy in lon/lat")],
) -> dict:
    """Fire access of each building in a bbox: truck lanes, dead ends, hydrants in range."""
    minx, miny, maxx, maxy = _bbox(bbox)
    cur = await conn.execute(_BUILDINGS_SQL, (minx, miny, maxx, maxy,
                                              MAX_FIRE_LANE_BUILDINGS + 1))
    rows = await cur.fetchall()
    if len(rows) > MAX_FIRE_LANE_BUILDINGS:
        msg = (f"more than {MAX_FIRE_LANE_BUILDINGS} buildings in the bbox: "
               "zoom in (give a smaller bbox)")
        raise BadRequest(msg)
    if not rows:
        return {"type": "FeatureCollection", "features": [], "count": 0}
    m = HYDRANT_MARGIN_DEG
    hydrants = await roads.hydrants_in_service(conn, bbox=(minx - m, miny - m, maxx + m, maxy + m))
    net = await request.app.state.road_graph.current(conn)
    blocked = await roads.blocked_edge_ids(conn)
    frame = gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "height_m": [r[1] for r in rows],
         "use": [r[2] for r in rows]},
        geometry=shapely.from_wkb([bytes(r[3]) for r in rows]), crs="EPSG:4326")
    reports = await asyncio.to_thread(
        check_buildings, net.graph, frame, hydrants=hydrants, closed_edges=blocked,
        index=net.index)
    features = []
    for geom, r in zip(frame.geometry, reports, strict=True):
        features.append({
            "type": "Feature",
            "id": r.building_id,
            "geometry": mapping(geom),
            "properties": {
                "building_id": r.building_id, "high_rise": r.high_rise,
                "truck_access": r.truck_access,
                "access_gap_m": None if r.access_gap_m is None else round(r.access_gap_m, 1),
                "access_edges": list(r.access_edges),
                "hydrants_in_range": r.hydrants_in_range,
                "nearest_hydrant_m": (None if r.nearest_hydrant_m is None
                                      else round(r.nearest_hydrant_m, 1)),
                "ok": r.ok,
                "problems": [_problem(p) for p in r.problems],
            },
        })
    return {"type": "FeatureCollection", "features": features, "count": len(features),
            "blocked_edges": sorted(blocked)}
