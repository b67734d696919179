"""The one-map web page (``/``), its static assets (``/static``), the legend (``/api/layers``)
and the two views' own reads: the cockpit's rectification Gantt (``/api/cockpit/rectification``)
and the planner's what-if coverage (``/api/planner/what-if``).

The page is plain ES modules under ``web/static``; MapLibre GL JS and Chart.js are installed from
npm by ``scripts/make-web.sh`` into ``web/static/vendor`` and served from here, so nothing is
fetched from the internet at run time. ``GET /api/layers`` exposes the layer catalogue (titles,
legend swatches, visible fields) filtered by the caller's scope, the same filter the style and
the tiles apply; the Gantt filters hazards with the same ``scope_condition``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from shapely.geometry import mapping

from gis.settings import PROJECT_ROOT
from layers.catalogue import BY_ID, CATALOGUE, Layer
from layers.scope import fields_for, scope_condition, visible
from routing import DEFAULTS, band_polygons
from routing.coverage import point_times, station_reach
from routing.errors import SnapError
from services.auth import CallerDep, Forbidden, Unauthorized
from services.deps import ConnDep
from services.errors import BadRequest
from services.reports.queries import rectification_rows
from services.routers.coverage import AddQ, CloseQ, PolygonCache, WithoutQ, _scenario
from services.routers.units import now_of

logger = logging.getLogger("firetwin.web")

STATIC_DIR = PROJECT_ROOT / "web" / "static"
VENDOR_FILES = ("maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css",
                "chart.umd.min.js")
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["web"])


def static_files() -> StaticFiles:
    """The page's assets; warns when the npm libraries were not installed (``make web``)."""
    missing = [f for f in VENDOR_FILES if not (STATIC_DIR / "vendor" / f).is_file()]
    if missing:
        logger.warning("web/static/vendor lacks %s: run `make web` (scripts/make-web.sh)",
                       ", ".join(missing))
    return StaticFiles(directory=STATIC_DIR, check_dir=False)


@router.get("/", include_in_schema=False)
async def read_index() -> FileResponse:
    """The one-map page (views: map, ``#patrol``, ``#cockpit``)."""
    return FileResponse(STATIC_DIR / "index.html", headers=NO_CACHE)


def swatches(color: str | list[Any]) -> list[dict[str, Any]]:
    """Legend entries of a MapLibre colour expression: a colour per value, range or case.

    >>> swatches("#3182bd")
    [{'color': '#3182bd'}]
    >>> swatches(["match", ["get", "tier"], "red", "#d7191c", "blue", "#2c7bb6", "#888"])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'property': 'tier', 'value': 'red', 'color': '#d7191c'},
     {'property': 'tier', 'value': 'blue', 'color': '#2c7bb6'},
     {'property': 'tier', 'value': None, 'color': '#888'}]
    >>> swatches(["case", ["get", "high_rise"], "#9e9ac8", "#d9d9d9"])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'property': 'high_rise', 'value': True, 'color': '#9e9ac8'},
     {'property': 'high_rise', 'value': False, 'color': '#d9d9d9'}]
    >>> swatches(["interpolate", ["linear"], ["get", "score"], 0, "#1a9641", 80, "#d7191c"])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'property': 'score', 'from': 0, 'color': '#1a9641'},
     {'property': 'score', 'from': 80, 'color': '#d7191c'}]
    """
    if isinstance(color, str):
        return [{"color": color}]
    op = color[0]
    if op == "match":
        prop = color[1][1]
        pairs = color[2:-1]
        out = [{"property": prop, "value": pairs[i], "color": pairs[i + 1]}
               for i in range(0, len(pairs), 2)]
        return [*out, {"property": prop, "value": None, "color": color[-1]}]
    if op == "case" and len(color) == 4 and color[1][0] == "get":
        prop = color[1][1]
        return [{"property": prop, "value": True, "color": color[2]},
                {"property": prop, "value": False, "color": color[3]}]
    if op == "interpolate":
        prop = color[2][1]
        stops = color[3:]
        return [{"property": prop, "from": stops[i], "color": stops[i + 1]}
                for i in range(0, len(stops), 2)]
    return [{"color": "#888888"}]  # an expression the legend cannot summarise


def layer_entry(layer: Layer, fields: tuple[str, ...]) -> dict[str, Any]:
    """One layer of ``GET /api/layers``: what the legend, toggles and details panel need."""
    shown = set(fields)
    return {
        "id": layer.id,
        "title": layer.title,
        "title_zh": layer.title_zh,
        "description": layer.description,
        "geometry_type": layer.geometry_type,
        "access": str(layer.access),
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "legend": {"kind": layer.legend.kind, "label_zh": layer.legend.label_zh,
                   "swatches": swatches(layer.legend.color)},
        "fields": [{"name": f.name, "type": f.type, "title": f.title}
                   for f in layer.fields if f.name in shown],
    }


@router.get("/api/layers", tags=["layers"])
async def read_layers(caller: CallerDep) -> dict:
    """The layer catalogue the caller may see, with legend swatches and visible fields."""
    scope = caller.scope
    return {"role": caller.role,
            "layers": [layer_entry(la, fields_for(la, scope))
                       for la in CATALOGUE if visible(la, scope)]}


# ------------------------------------------------------------------- cockpit: rectification Gantt

HAZARDS = BY_ID["hazards"]


@router.get("/api/cockpit/rectification", tags=["stats"])
async def read_rectification_gantt(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=2000, description="Bars returned (earliest "
                                                           "deadline first)")] = 200,
) -> dict:
    """The rectification Gantt: open red/orange hazards awaiting rectification, each from its
    verification (or report) to its rectification deadline, overdue ones flagged; in the
    caller's scope (the hazards layer's ``scope_condition``)."""
    if caller.scope.is_public:
        raise Unauthorized("sign in: the cockpit is for staff")
    body = await rectification_rows(
        conn, where=scope_condition(HAZARDS, caller.scope, alias="h"), now=now_of(request),
        settings=request.app.state.hazard_settings, limit=limit)
    body["scope"] = caller.scope.kind
    return body


# ---------------------------------------------------------------------- planner: what-if coverage

PLANNER_ROLES = frozenset({"admin", "dispatcher", "planner", "street_officer",
                           "community_admin"})
MAX_WHAT_IF_CHANGES = 50


def _feature(geom: Any, **props: Any) -> dict:
    return {"type": "Feature", "geometry": None if geom is None or geom.is_empty
            else mapping(geom), "properties": props}


def _what_if(net: Any, before: tuple, after: tuple, buildings: list[tuple],
             cache: PolygonCache) -> dict:
    """5-minute reach of every building before and after; the scenario's covered area."""
    band = DEFAULTS.response_standard_s - DEFAULTS.turnout_s
    xy = np.array([(b[1], b[2]) for b in buildings], dtype=float).reshape(-1, 2)
    reached = {}
    for name, (stations, weight, _closed) in (("before", before), ("after", after)):
        times, _off = station_reach(net.graph, stations, weight=weight, cutoff=band,
                                    index=net.index)
        t = point_times(net.graph, net.index, times, xy, weight=weight)
        reached[name] = t <= band
    areas = {}
    for name, (stations, weight, closed) in (("before", before), ("after", after)):
        polys = []
        for sid, loc in stations.items():
            key = (net.version, closed, sid, tuple(loc), (band,))
            got = cache.get(key)
            if got is None:
                try:
                    got = band_polygons(net.graph, {sid: loc}, bands_s=(band,), weight=weight,
                                        index=net.index)
                except SnapError:
                    continue
                cache.put(key, got)
            polys.append(got[band])
        areas[name] = shapely.union_all(polys) if polys else shapely.Polygon()
    lost = np.flatnonzero(reached["before"] & ~reached["after"])
    gained = np.flatnonzero(~reached["before"] & reached["after"])
    total = len(buildings)

    def share(mask: np.ndarray) -> dict:
        n = int(mask.sum())
        return {"total": total, "reached": n, "share": round(n / total, 4) if total else None}

    return {"band_s": band, "before": share(reached["before"]), "after": share(reached["after"]),
            "lost": [int(buildings[i][0]) for i in lost],
            "gained": [int(buildings[i][0]) for i in gained],
            "areas": areas}


_BUILDINGS_XY = ("SELECT id, ST_X(c), ST_Y(c) FROM (SELECT id, ST_PointOnSurface(geom) AS c "
                 "FROM firetwin.building) b ORDER BY id")
_BUILDING_SHAPES = ("SELECT id, height_m, use, ST_AsGeoJSON(geom, 7)::json FROM firetwin.building "
                    "WHERE id = ANY(%s) ORDER BY id")


@router.get("/api/planner/what-if", tags=["routing"])
async def read_what_if(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    without_station: WithoutQ = None,
    add_station: AddQ = None,
    close_edge: CloseQ = None,
) -> dict:
    """What-if 5-minute coverage: close stations or roads, add stations at LON,LAT.

    Compares every building's 5-minute reach (60 s turnout + 240 s truck travel, open
    blockages closed) in the live state and in the scenario, on the same in-memory graph (live
    state untouched, as ``GET /api/routing/coverage``). Returns the scenario's and the live
    5-minute areas, the buildings newly uncovered and newly covered (footprints), the closed
    roads, and the building shares before and after."""
    if caller.scope.is_public:
        raise Unauthorized("sign in: what-if coverage is for planners")
    if caller.role not in PLANNER_ROLES:
        raise Forbidden(f"your role ({caller.role}) may not run what-if coverage")
    for name, values in (("without_station", without_station), ("add_station", add_station),
                         ("close_edge", close_edge)):
        if len(values or []) > MAX_WHAT_IF_CHANGES:
            msg = f"at most {MAX_WHAT_IF_CHANGES} {name} values in one scenario"
            raise BadRequest(msg)
    net, live, live_w, base = await _scenario(request, conn, None, None, None)
    net, stations, weight, scenario = await _scenario(
        request, conn, without_station, add_station, close_edge)
    cache = getattr(request.app.state, "coverage_polygons", None)
    if cache is None:
        cache = request.app.state.coverage_polygons = PolygonCache()
    blocked = frozenset(base["blocked_edges"])
    closed = blocked | frozenset(scenario["close_edge"])
    cur = await conn.execute(_BUILDINGS_XY)
    buildings = await cur.fetchall()
    r = await asyncio.to_thread(_what_if, net, (live, live_w, blocked),
                                (stations, weight, closed), buildings, cache)
    shapes = {}
    if r["lost"] or r["gained"]:
        cur = await conn.execute(_BUILDING_SHAPES, (r["lost"] + r["gained"],))
        shapes = {row[0]: row for row in await cur.fetchall()}

    def footprints(ids: list[int], change: str) -> dict:
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": i, "geometry": shapes[i][3],
             "properties": {"building_id": i, "height_m": shapes[i][1], "use": shapes[i][2],
                            "change": change}} for i in ids if i in shapes]}

    roads_fc: dict = {"type": "FeatureCollection", "features": []}
    if scenario["close_edge"]:
        cur = await conn.execute(
            "SELECT id, name, ST_AsGeoJSON(geom, 7)::json FROM firetwin.road_edge "
            "WHERE id = ANY(%s) ORDER BY id", (scenario["close_edge"],))
        roads_fc["features"] = [{"type": "Feature", "id": e[0], "geometry": e[2],
                                 "properties": {"edge_id": e[0], "name": e[1]}}
                                for e in await cur.fetchall()]
    removed = set(scenario["without_station"])
    station_fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(loc)},
         "properties": {"station_id": str(sid), "change": "added"
                        if str(sid).startswith("new-") else "kept"}}
        for sid, loc in stations.items()] + [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(live[sid])},
         "properties": {"station_id": str(sid), "change": "closed"}} for sid in sorted(removed)]}
    return {
        "scenario": scenario,
        "band_s": r["band_s"],
        "standard_s": DEFAULTS.response_standard_s,
        "buildings": {"before": r["before"], "after": r["after"],
                      "newly_uncovered": len(r["lost"]), "newly_covered": len(r["gained"])},
        "coverage": {"type": "FeatureCollection", "features": [
            _feature(r["areas"]["after"], scenario="after"),
            _feature(r["areas"]["before"], scenario="before")]},
        "newly_uncovered": footprints(r["lost"], "uncovered"),
        "newly_covered": footprints(r["gained"], "covered"),
        "closed_roads": roads_fc,
        "stations": station_fc,
    }
