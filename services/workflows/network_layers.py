"""Publish network analysis as layers: coverage gaps, fire-lane problems, isochrones, first due.

Steps: load the road graph (the worker's, in step with the database) and the open blockages;
(1) reach times from every station in service within 240 s of driving (the 5-minute standard
less 60 s turnout, GB 51080-2015 §4.1.3), each building and unit placed on its nearest road;
unreached ones are counted per H3 resolution-9 cell, and each such cell becomes a
``coverage_gap`` polygon; (2) ``routing.check_buildings`` on every building (with
in-service hydrants), each problem a ``fire_lane_problem`` row; (3) each station's drive-time
rings (0–240, 240–300, 300–480 s of driving, ``routing.station_rings``) as
``station_isochrone`` rows and (4) its first-due area (``routing.first_due_polygons``) as a
``first_due_area`` row, all with the same truck weight. The four tables are replaced in one
transaction, so readers see the old or the new analysis, never half of one; the tile change
log picks the change up for the tile caches.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import geopandas as gpd
import numpy as np
import shapely
from psycopg import AsyncConnection

from gis.grid import RES_BLOCK, cell_boundary, cells_for_points
from gis.queries import roads
from routing import DEFAULTS, check_buildings, first_due_polygons, station_rings, weight_for
from routing.coverage import point_times, station_reach
from routing.errors import SnapError
from routing.snap import locate
from services.road_graph import RoadNetwork

_UNITS_SQL = ("SELECT ST_X(geom), ST_Y(geom), (category = 'key_unit' OR colour_code = 'red') "
              "FROM firetwin.unit")
_BUILDINGS_SQL = ("SELECT id, height_m, use, ST_AsBinary(geom), ST_X(ST_PointOnSurface(geom)), "
                  "ST_Y(ST_PointOnSurface(geom)) FROM firetwin.building ORDER BY id")


def _gaps(net: RoadNetwork, stations, weight, units, buildings) -> list[dict]:
    band = DEFAULTS.response_standard_s - DEFAULTS.turnout_s
    times, _ = station_reach(net.graph, dict(enumerate(stations)), weight=weight, cutoff=band,
                             index=net.index)
    cells: dict[int, Counter] = {}
    best: dict[int, float] = {}
    for kind, xy, flags in (("units", units[:, :2], units[:, 2]),
                            ("buildings", buildings, np.zeros(len(buildings)))):
        if len(xy) == 0:
            continue
        t = point_times(net.graph, net.index, times, xy, weight=weight)
        miss = t > band
        if not miss.any():
            continue
        ids = cells_for_points(xy[miss, 0], xy[miss, 1], resolutions=(RES_BLOCK,))[RES_BLOCK]
        for cell, flag, eta in zip(ids.tolist(), flags[miss], t[miss], strict=True):
            c = cells.setdefault(cell, Counter())
            c[kind] += 1
            if kind == "units" and flag:
                c["high_risk_units"] += 1
            if np.isfinite(eta):
                best[cell] = min(best.get(cell, np.inf), float(eta))
    return [{"h3_cell": cell, "units": c["units"], "buildings": c["buildings"],
             "high_risk_units": c["high_risk_units"], "best_eta_s": best.get(cell),
             "wkt": shapely.Polygon(cell_boundary(cell)).wkt} for cell, c in cells.items()]


def _station_areas(net: RoadNetwork, stations: dict[int, tuple[float, float]],
                   weight) -> tuple[list[tuple], list[tuple]]:
    """Rows of (station_id, from_s, to_s, area_km2, wkb) and (station_id, nodes, area, wkb)."""
    placed = {}
    for sid, loc in stations.items():
        try:  # a station off the passable network has neither rings nor an area
            placed[sid] = locate(net.graph, loc, weight=weight, index=net.index)
        except SnapError:
            continue
    if not placed:
        return [], []
    rings = station_rings(net.graph, placed, weight=weight, index=net.index)
    areas, _ = first_due_polygons(net.graph, placed, weight=weight, index=net.index)
    ring_rows = [(r.station_id, r.from_s, r.to_s, r.area_km2, _multi_wkb(r.geometry))
                 for r in rings]
    area_rows = [(a.station_id, a.nodes, a.area_km2, _multi_wkb(a.geometry))
                 for a in areas if not a.geometry.is_empty]
    return ring_rows, area_rows


def _multi_wkb(geom) -> bytes:
    if isinstance(geom, shapely.Polygon):
        geom = shapely.MultiPolygon([geom])
    return shapely.to_wkb(geom)


async def refresh_network_layers(conn: AsyncConnection, net: RoadNetwork) -> dict[str, int]:
    """Recompute coverage gaps, fire-lane problems, isochrones and first-due areas; replace
    the four tables."""
    closed = await roads.blocked_edge_ids(conn)
    truck = weight_for("truck", closed_edges=closed)
    dispatch = await roads.stations_for_dispatch(conn)
    stations = [(s["lon"], s["lat"]) for s in dispatch]
    units = np.array(await (await conn.execute(_UNITS_SQL)).fetchall(), dtype=float).reshape(-1, 3)
    brows = await (await conn.execute(_BUILDINGS_SQL)).fetchall()
    hydrants = await roads.hydrants_in_service(conn)
    bxy = np.array([(r[4], r[5]) for r in brows], dtype=float).reshape(-1, 2)
    gaps = await asyncio.to_thread(_gaps, net, stations, truck, units, bxy)
    rings, areas = await asyncio.to_thread(
        _station_areas, net, {s["id"]: (s["lon"], s["lat"]) for s in dispatch}, truck)
    reports = []
    if brows:
        frame = gpd.GeoDataFrame(
            {"id": [r[0] for r in brows], "height_m": [r[1] for r in brows],
             "use": [r[2] for r in brows]},
            geometry=shapely.from_wkb([bytes(r[3]) for r in brows]), crs="EPSG:4326")
        reports = await asyncio.to_thread(check_buildings, net.graph, frame, hydrants=hydrants,
                                          closed_edges=closed, index=net.index)
    problems = [(r.building_id, p.code, p.message, p.label_zh) for r in reports for p in r.problems]
    async with conn.transaction():
        await conn.execute("DELETE FROM firetwin.coverage_gap")
        await conn.execute("DELETE FROM firetwin.fire_lane_problem")
        await conn.execute("DELETE FROM firetwin.station_isochrone")
        await conn.execute("DELETE FROM firetwin.first_due_area")
        async with conn.cursor() as cur:
            if gaps:
                await cur.executemany(
                    "INSERT INTO firetwin.coverage_gap (h3_cell, resolution, units, buildings, "
                    "high_risk_units, best_eta_s, geom, grid_id) VALUES (%(h3_cell)s, 9, "
                    "%(units)s, %(buildings)s, %(high_risk_units)s, %(best_eta_s)s, "
                    "ST_GeomFromText(%(wkt)s, 4326), "
                    "firetwin.grid_for(ST_GeomFromText(%(wkt)s, 4326)))", gaps)
            if problems:
                await cur.executemany(
                    "INSERT INTO firetwin.fire_lane_problem (building_id, problem, message, "
                    "label_zh, geom, grid_id) SELECT b.id, %s, %s, %s, b.geom, b.grid_id "
                    "FROM firetwin.building b WHERE b.id = %s",
                    [(code, msg, zh, bid) for bid, code, msg, zh in problems])
            if rings:
                await cur.executemany(
                    "INSERT INTO firetwin.station_isochrone (station_id, from_s, to_s, area_km2, "
                    "geom) VALUES (%s, %s, %s, %s, ST_GeomFromWKB(%s, 4326))", rings)
            if areas:
                await cur.executemany(
                    "INSERT INTO firetwin.first_due_area (station_id, nodes, area_km2, geom) "
                    "VALUES (%s, %s, %s, ST_GeomFromWKB(%s, 4326))", areas)
    return {"coverage_gaps": len(gaps), "fire_lane_problems": len(problems),
            "buildings_checked": len(reports), "isochrones": len(rings),
            "first_due_areas": len(areas)}
