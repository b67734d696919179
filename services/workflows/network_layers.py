"""Publish network analysis as layers: 5-minute coverage gaps and fire-lane problems.

Steps: load the road graph (the worker's, in step with the database) and the open blockages;
(1) reach times from every station in service within 240 s of driving (the 5-minute standard
less 60 s turnout, GB 51080-2015 §4.1.3), each building and unit placed on its nearest road;
unreached ones are counted per H3 resolution-9 cell, and each such cell becomes a
``coverage_gap`` polygon; (2) ``routing.check_buildings`` on every building (with in-service
hydrants), each problem a ``fire_lane_problem`` row. Both tables are replaced in one
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
from routing import DEFAULTS, check_buildings, weight_for
from routing.coverage import point_times, station_reach
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


async def refresh_network_layers(conn: AsyncConnection, net: RoadNetwork) -> dict[str, int]:
    """Recompute coverage gaps and fire-lane problems and replace both tables."""
    closed = await roads.blocked_edge_ids(conn)
    truck = weight_for("truck", closed_edges=closed)
    stations = [(s["lon"], s["lat"]) for s in await roads.stations_for_dispatch(conn)]
    units = np.array(await (await conn.execute(_UNITS_SQL)).fetchall(), dtype=float).reshape(-1, 3)
    brows = await (await conn.execute(_BUILDINGS_SQL)).fetchall()
    hydrants = await roads.hydrants_in_service(conn)
    bxy = np.array([(r[4], r[5]) for r in brows], dtype=float).reshape(-1, 2)
    gaps = await asyncio.to_thread(_gaps, net, stations, truck, units, bxy)
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
    return {"coverage_gaps": len(gaps), "fire_lane_problems": len(problems),
            "buildings_checked": len(reports)}
