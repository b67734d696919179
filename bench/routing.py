"""Routing speed and agreement on the demo district (`python -m bench.routing`).

In database ``firetwin_bench_demo`` (the demo district is loaded if it has no roads):

* 1,000 seeded station → building pairs between their nearest graph nodes: FireTwin's
  in-process ``routing.route`` (truck weight) against pgRouting ``pgr_dijkstra`` on the same
  ``road_edge`` table with the truck restriction; median/p95 ms each and travel-time
  agreement (|Δ| ≤ 0.1 s). Point-to-point FireTwin routes (mid-edge snapping) are timed too.
* nearest 3 stations to a building: median ms (station snaps and the truck weight's compiled
  adjacency kept in the ``SnapIndex``, as in the API; the first query, which builds them, is
  reported apart).
* nearest 3 stations on a generated graph of ≥ 200,000 roads (``generated_edges``: a jittered
  street lattice with arterials, lanes too narrow for trucks, one-way streets and gaps; one
  station per ~9 km², GB 51054 allows 7 km² in cities and 15 km² in suburbs), built in memory:
  median ms over random mid-road points, and agreement of the travel times with a full
  networkx Dijkstra on a few points.
* coverage: the district summary of ``GET /api/routing/coverage`` (one multi-source search
  from all stations, every building and unit placed on its road) and the band polygons of
  every station, seconds.
* 30-stop patrol rounds (return to the start), several seeded instances: ``routing.plan_patrol``
  time and its tour length on the travel-time matrix against (a) the optimum of the same
  (asymmetric) matrix, proven by OR-Tools CP-SAT (``AddCircuit``; costs rounded to 1 ms), (b)
  OR-Tools' routing solver with guided local search (time limit) and (c) networkx's
  Christofides on the symmetrised metric closure.
* station drive-time rings and first-due areas of every station (the ``isochrones`` and
  ``first-due-areas`` layers): seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time

import geopandas as gpd
import networkx as nx
import numpy as np
import psycopg
import shapely
from psycopg import AsyncConnection
from shapely.strtree import STRtree

from bench.common import bench_database, write_result
from gis import demo
from gis.queries import roads
from routing import (
    CAR,
    DEFAULTS,
    TRUCK,
    SnapIndex,
    Stop,
    band_polygons,
    build_graph,
    nearest_stations,
    plan_patrol,
    route,
)
from routing._geo import LocalProjection
from routing.errors import RoutingError
from routing.isochrones import first_due_polygons, station_rings
from routing.snap import snap_point
from services.routers.coverage import _summary

DB = "firetwin_bench_demo"
PGR_EDGES = (
    "SELECT id, source, target, CASE WHEN truck_ok THEN cost ELSE -1 END AS cost, "
    "CASE WHEN truck_ok THEN reverse_cost ELSE -1 END AS reverse_cost FROM firetwin.road_edge"
)


def _ms(values: list[float]) -> dict:
    a = np.array(values) * 1000
    return {"median_ms": round(float(np.median(a)), 3),
            "p95_ms": round(float(np.percentile(a, 95)), 3), "n": len(values)}


async def _load(url: str) -> tuple:
    async with await AsyncConnection.connect(url) as conn:
        edges = await roads.road_edges(conn)
        stations = await roads.stations_for_dispatch(conn)
        cur = await conn.execute(
            "SELECT id, ST_X(c), ST_Y(c) FROM (SELECT id, ST_PointOnSurface(geom) AS c "
            "FROM firetwin.building) b ORDER BY id")
        buildings = await cur.fetchall()
        cur = await conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM firetwin.unit")
        units = await cur.fetchall()
    return edges, stations, buildings, units


def generated_edges(
    side: int = 330, *, spacing_m: float = 120.0, station_every: int = 25, seed: int = 7,
    origin: tuple[float, float] = (118.95, 42.27),
) -> tuple[gpd.GeoDataFrame, list[tuple[float, float]]]:
    """Road_edge rows of a ``side × side`` jittered street lattice, and station points.

    Nodes are moved up to ±20 % of `spacing_m`; every 10th street is an arterial (50 km/h,
    14 m), every 5th a collector (40 km/h, 10 m), the rest local streets (30 km/h, 7 m) of
    which 8 % are 3.5 m lanes (15 km/h, no trucks), 5 % one-way and 4 % missing. Stations
    sit near every `station_every`-th crossing (jittered), 15 m off the road. The default
    gives 210,284 roads (412,929 directed edges), 108,900 nodes and 169 stations on 1,570 km².
    """
    rng = np.random.default_rng(seed)
    n = side * side
    r, c = np.divmod(np.arange(n), side)
    x = c * spacing_m + rng.uniform(-0.2, 0.2, n) * spacing_m
    y = -r * spacing_m + rng.uniform(-0.2, 0.2, n) * spacing_m
    ids = np.arange(n).reshape(side, side)
    pairs = np.vstack([np.column_stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()]),
                       np.column_stack([ids[:-1, :].ravel(), ids[1:, :].ravel()])])
    along = np.concatenate([np.repeat(np.arange(side), side - 1),
                            np.tile(np.arange(side), side - 1)])
    cls = np.where(along % 10 == 0, 0, np.where(along % 5 == 0, 1, 2))
    lane = (cls == 2) & (rng.random(len(pairs)) < 0.08)
    keep = ~((cls == 2) & (rng.random(len(pairs)) < 0.04))
    pairs, cls, lane = pairs[keep], cls[keep], lane[keep]
    m = len(pairs)
    speed = np.array([50.0, 40.0, 30.0])[cls]
    speed[lane] = 15.0
    width = np.array([14.0, 10.0, 7.0])[cls]
    width[lane] = 3.5
    x0, y0, x1, y1 = x[pairs[:, 0]], y[pairs[:, 0]], x[pairs[:, 1]], y[pairs[:, 1]]
    length = np.hypot(x1 - x0, y1 - y0)
    cost = length / (speed / 3.6)
    oneway = (cls == 2) & ~lane & (rng.random(m) < 0.05)
    proj = LocalProjection(*origin)
    coords = np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
    road_class = np.array(["primary", "secondary", "residential"], dtype=object)[cls]
    road_class[lane] = "lane"
    frame = gpd.GeoDataFrame(
        {"id": np.arange(1, m + 1), "source": pairs[:, 0], "target": pairs[:, 1],
         "cost": cost, "reverse_cost": np.where(oneway, -1.0, cost), "length_m": length,
         "speed_kph": speed, "road_class": road_class, "width_m": width,
         "maxheight_m": np.full(m, np.nan), "blocked": np.zeros(m, bool), "truck_ok": ~lane,
         "is_fire_lane": np.zeros(m, bool)},
        geometry=proj.to_lonlat(shapely.linestrings(coords)), crs="EPSG:4326")
    stations = []
    for sr in range(station_every // 2, side, station_every):
        for sc in range(station_every // 2, side, station_every):
            i = ids[min(side - 1, sr + int(rng.integers(-5, 6))),
                    min(side - 1, sc + int(rng.integers(-5, 6)))]
            p = proj.to_lonlat(shapely.Point(x[i] + 15, y[i] + 10))
            stations.append((p.x, p.y))
    return frame, stations


def _large_graph_nearest(*, queries: int, check: int, seed: int) -> dict:
    t = time.perf_counter()
    frame, st_list = generated_edges()
    G = build_graph(frame)
    index = SnapIndex(G)
    build_s = time.perf_counter() - t
    stations = dict(enumerate(st_list))
    rng = random.Random(seed)  # noqa: S311 - reproducible sample, not security
    edges = list(G.edges(keys=True))
    pts = []
    for _ in range(queries):
        u, v, _ = rng.choice(edges)
        a, b = G.nodes[u], G.nodes[v]
        f = rng.random()
        pts.append((a["x"] + f * (b["x"] - a["x"]) + 0.0001, a["y"] + f * (b["y"] - a["y"])))

    def query(p: tuple[float, float]) -> list:
        return nearest_stations(G, p, stations, k=3, weight=TRUCK, index=index,
                                turnout_s=DEFAULTS.turnout_s,
                                standard_s=DEFAULTS.response_standard_s)

    t = time.perf_counter()
    first = query(pts[0])
    first_s = time.perf_counter() - t
    times, unreachable, found = [], 0, {}
    for i, p in enumerate(pts):
        t = time.perf_counter()
        try:
            found[i] = [r.travel_time_s for r in query(p)]
        except RoutingError:
            unreachable += 1
        times.append(time.perf_counter() - t)
    # Agreement: a full networkx Dijkstra from the point against the edge directions.
    R = G.reverse(copy=False)
    snaps = {}
    for sid, loc in stations.items():
        try:
            snaps[sid] = snap_point(G, loc, weight=TRUCK, index=index)
        except RoutingError:
            continue
    mismatches, max_diff = 0, 0.0
    checked = list(found)[:check]
    for i in checked:
        target = snap_point(G, pts[i], weight=TRUCK, index=index)
        dist: dict = {}
        for leg in target.into:
            for node, d in nx.single_source_dijkstra_path_length(R, leg.node,
                                                                   weight=TRUCK).items():
                dist[node] = min(dist.get(node, np.inf), d + leg.cost)
        ref = sorted(min((dist[leg.node] + leg.cost for leg in s.out if leg.node in dist),
                         default=np.inf) for s in snaps.values())[:3]
        diff = max(abs(a - b) for a, b in zip(found[i], ref, strict=True))
        max_diff = max(max_diff, diff)
        mismatches += diff > 1e-6
    return {"roads": len(frame), "directed_edges": G.number_of_edges(),
            "nodes": G.number_of_nodes(), "stations": len(stations),
            "build_s": round(build_s, 1), "first_query_s": round(first_s, 2),
            "first_query_nearest_s": [round(r.travel_time_s, 1) for r in first],
            **_ms(times), "unreachable_points": unreachable,
            "agreement": {"checked": len(checked), "mismatches": mismatches,
                          "max_abs_diff_s": round(max_diff, 9)}}


def _cpsat_optimum(M: list[list[float]], *, time_limit_s: float) -> tuple[list[int], dict]:
    """Exact asymmetric TSP tour (CP-SAT ``AddCircuit``) on `M` rounded to milliseconds."""
    from ortools.sat.python import cp_model

    n = len(M)
    W = [[round(M[i][j] * 1000) for j in range(n)] for i in range(n)]
    model = cp_model.CpModel()
    x = {(i, j): model.NewBoolVar(f"x{i}_{j}") for i in range(n) for j in range(n) if i != j}
    model.AddCircuit([(i, j, v) for (i, j), v in x.items()])
    model.Minimize(sum(W[i][j] * v for (i, j), v in x.items()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 1
    t = time.perf_counter()
    status = solver.Solve(model)
    took = time.perf_counter() - t
    succ = {i: j for (i, j), v in x.items() if solver.Value(v)}
    tour = [0]
    while len(tour) < n:
        tour.append(succ[tour[-1]])
    return tour, {"status": solver.StatusName(status), "s": round(took, 2),
                  "lower_bound_s": round(solver.BestObjectiveBound() / 1000, 3)}


def _gls_tour(M: list[list[float]], *, time_limit_s: int) -> list[int]:
    """OR-Tools routing solver, guided local search for `time_limit_s` (a best-known tour)."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(M)
    W = [[round(M[i][j] * 1000) for j in range(n)] for i in range(n)]
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    model = pywrapcp.RoutingModel(manager)
    cb = model.RegisterTransitCallback(
        lambda a, b: W[manager.IndexToNode(a)][manager.IndexToNode(b)])
    model.SetArcCostEvaluatorOfAllVehicles(cb)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    params.time_limit.seconds = time_limit_s
    sol = model.SolveWithParameters(params)
    i, tour = model.Start(0), []
    while not model.IsEnd(i):
        tour.append(manager.IndexToNode(i))
        i = sol.Value(model.NextVar(i))
    return tour


def _patrol_instance(G: nx.MultiDiGraph, index: SnapIndex, start_node, pool: list,
                     rng: random.Random, stops: int, *, gls_s: int, exact_s: float) -> dict:
    picks = rng.sample(pool, stops)
    stop_objs = [Stop(n, G.nodes[n]["x"], G.nodes[n]["y"]) for n in picks]
    start = (G.nodes[start_node]["x"], G.nodes[start_node]["y"])
    t = time.perf_counter()
    plan = plan_patrol(G, start, stop_objs, weight=CAR, return_to_start=True, index=index)
    plan_s = time.perf_counter() - t
    pts = [start_node, *picks]
    dist = {a: nx.single_source_dijkstra_path_length(G, a, weight=CAR) for a in pts}
    M = [[0.0 if a == b else dist[a][b] for b in pts] for a in pts]
    pos = {n: i for i, n in enumerate(pts)}

    def tour_cost(seq: list[int]) -> float:  # seq: matrix indices starting with 0
        return sum(M[a][b] for a, b in itertools.pairwise([*seq, seq[0]]))

    ours = tour_cost([0, *(pos[n] for n in plan.order)])
    exact, info = _cpsat_optimum(M, time_limit_s=exact_s)
    best = tour_cost(exact)
    t = time.perf_counter()
    gls = tour_cost(_gls_tour(M, time_limit_s=gls_s))
    gls_took = time.perf_counter() - t
    K = nx.Graph()  # metric closure, symmetrised (one-way roads)
    for i in range(len(pts)):
        for j in range(i + 1, len(pts)):
            K.add_edge(i, j, weight=max(M[i][j], M[j][i]))
    cyc = nx.approximation.traveling_salesman_problem(
        K, weight="weight", cycle=True, method=nx.approximation.christofides)[:-1]
    k = cyc.index(0)
    seq = cyc[k:] + cyc[:k]
    chris = min(tour_cost(seq), tour_cost([0, *seq[1:][::-1]]))
    return {"plan_s": round(plan_s, 3), "plan_travel_s": round(ours, 1),
            "optimum_travel_s": round(best, 1), "optimum": info,
            "gap_vs_optimum": round((ours - best) / best, 4),
            "gls_travel_s": round(gls, 1), "gls_s": round(gls_took, 1),
            "christofides_travel_s": round(chris, 1),
            "gap_vs_christofides": round((ours - chris) / chris, 4),
            "unreachable": len(plan.unreachable)}


def run(*, pairs: int = 1000, seed: int = 42, stops: int = 30, patrols: int = 5,
        large_queries: int = 200, gls_s: int = 10, exact_s: float = 300.0) -> dict:
    url = bench_database(DB)
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT count(*) FROM firetwin.road_edge").fetchone()[0] == 0:
            demo.generate(conn, seed=seed, scale=1.0)
            conn.commit()
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
        conn.commit()
    edges, stations, buildings, units = asyncio.run(_load(url))
    t0 = time.perf_counter()
    G = build_graph(edges)
    index = SnapIndex(G)
    build_s = time.perf_counter() - t0
    rng = random.Random(seed)  # noqa: S311 - reproducible sample, not security

    # Nearest graph node of every station and building (metric STRtree over node points).
    nodes = list(G.nodes)
    node_pts = index.proj.to_metric(shapely.points([(G.nodes[n]["x"], G.nodes[n]["y"])
                                                    for n in nodes]))
    tree = STRtree(node_pts)

    def nearest_node(lon: float, lat: float):
        return nodes[int(tree.nearest(index.proj.to_metric(shapely.Point(lon, lat))))]

    st_pts = {s["id"]: (s["lon"], s["lat"]) for s in stations}
    sample = [(rng.choice(stations), rng.choice(buildings)) for _ in range(pairs)]

    # --- FireTwin vs pgRouting, node to node --------------------------------------------
    ft_s, ft_pt_s, pgr_s = [], [], []
    ft_cost, pgr_cost = [], []
    for st, b in sample:
        a_node, b_node = nearest_node(st["lon"], st["lat"]), nearest_node(b[1], b[2])
        t = time.perf_counter()
        try:
            ft_cost.append(route(G, a_node, b_node, weight=TRUCK, index=index).travel_time_s)
        except RoutingError:
            ft_cost.append(None)
        ft_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        try:
            route(G, (st["lon"], st["lat"]), (b[1], b[2]), weight=TRUCK, index=index)
        except RoutingError:
            pass
        ft_pt_s.append(time.perf_counter() - t)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1 FROM pgr_dijkstra(%s, 1, 2)", (PGR_EDGES,)).fetchall()  # warm
        for st, b in sample:
            a_node, b_node = nearest_node(st["lon"], st["lat"]), nearest_node(b[1], b[2])
            t = time.perf_counter()
            row = conn.execute(
                "SELECT max(agg_cost) FROM pgr_dijkstra(%s, %s::bigint, %s::bigint, "
                "directed => true)", (PGR_EDGES, a_node, b_node)).fetchone()
            pgr_s.append(time.perf_counter() - t)
            cost = row[0] if row and row[0] is not None else (0.0 if a_node == b_node else None)
            pgr_cost.append(cost)
    mismatches = 0
    max_diff = 0.0
    both = 0
    for f, p in zip(ft_cost, pgr_cost, strict=True):
        if f is None or p is None:
            mismatches += (f is None) != (p is None)
            continue
        both += 1
        d = abs(f - p)
        max_diff = max(max_diff, d)
        mismatches += d > 0.1

    # --- nearest 3 stations ---------------------------------------------------------------
    t = time.perf_counter()
    try:
        nearest_stations(G, (sample[0][1][1], sample[0][1][2]), st_pts, k=3, weight=TRUCK,
                         index=index)
    except RoutingError:
        pass
    near_first_s = time.perf_counter() - t
    near_s, near_unreachable = [], 0
    for _, b in sample[:200]:
        t = time.perf_counter()
        try:
            nearest_stations(G, (b[1], b[2]), st_pts, k=3, weight=TRUCK, index=index,
                             turnout_s=DEFAULTS.turnout_s,
                             standard_s=DEFAULTS.response_standard_s, include_unreachable=False)
        except RoutingError:
            near_unreachable += 1  # a building only on lanes too narrow for a truck
        near_s.append(time.perf_counter() - t)

    # --- coverage -------------------------------------------------------------------------
    bxy = np.array([(b[1], b[2]) for b in buildings], dtype=float)
    uxy = np.array(units, dtype=float).reshape(-1, 2)
    t = time.perf_counter()
    summary = _summary(G, index, st_pts, TRUCK, uxy, bxy)
    summary_s = time.perf_counter() - t
    t = time.perf_counter()
    polys = 0
    for sid, loc in st_pts.items():
        polys += len(band_polygons(G, {sid: loc}, bands_s=DEFAULTS.coverage_bands_s,
                                   weight=TRUCK, index=index))
    bands_s = time.perf_counter() - t

    # --- isochrone and first-due layers -----------------------------------------------------
    t = time.perf_counter()
    rings = station_rings(G, st_pts, weight=TRUCK, index=index)
    areas, _ = first_due_polygons(G, st_pts, weight=TRUCK, index=index)
    layers_s = time.perf_counter() - t

    # --- patrol vs the optimum ------------------------------------------------------------
    start_node = nearest_node(stations[0]["lon"], stations[0]["lat"])
    pool = sorted(nx.descendants(G, start_node) & nx.ancestors(G, start_node))
    rounds = [_patrol_instance(G, index, start_node, pool, rng, stops, gls_s=gls_s,
                               exact_s=exact_s) for _ in range(patrols)]
    plan_times = [r["plan_s"] for r in rounds]
    gaps = [r["gap_vs_optimum"] for r in rounds]

    # --- nearest 3 on a generated graph of 200,000+ roads --------------------------------
    large = _large_graph_nearest(queries=large_queries, check=5, seed=seed)

    ft, ftp, pg, nr = _ms(ft_s), _ms(ft_pt_s), _ms(pgr_s), _ms(near_s)
    result = {
        "command": f".venv/bin/python -m bench.routing --pairs {pairs} --seed {seed} "
                   f"--stops {stops} --patrols {patrols} --large-queries {large_queries} "
                   f"--gls-s {gls_s} --exact-s {exact_s:g}",
        "database": DB,
        "graph": {"nodes": G.number_of_nodes(), "edges": G.number_of_edges(),
                  "stations": len(stations), "buildings": len(buildings),
                  "units": len(units), "build_s": round(build_s, 2)},
        "route_node_to_node": {"firetwin": ft, "pgr_dijkstra": pg},
        "route_point_to_point_firetwin": ftp,
        "agreement": {"pairs": pairs, "both_routed": both, "mismatches_over_0_1_s": mismatches,
                      "max_abs_diff_s": round(max_diff, 4)},
        "nearest_3_stations": {**nr, "unreachable_points": near_unreachable,
                               "first_query_s": round(near_first_s, 3)},
        "nearest_3_stations_generated_graph": large,
        "coverage": {"summary_s": round(summary_s, 3), "band_polygons_s": round(bands_s, 2),
                     "band_polygons": polys, "units_share_5min": summary["units"]["share"],
                     "buildings_share_5min": summary["buildings"]["share"]},
        "layers": {"isochrone_rings": len(rings), "first_due_areas": len(areas),
                   "rings_and_areas_s": round(layers_s, 2)},
        "patrol": {"stops": stops, "rounds": len(rounds),
                   "plan_s_median": round(float(np.median(plan_times)), 3),
                   "plan_s_max": round(max(plan_times), 3),
                   "gap_vs_optimum_max": max(gaps),
                   "gap_vs_optimum_mean": round(float(np.mean(gaps)), 4),
                   "optimum_method": "OR-Tools CP-SAT AddCircuit on the asymmetric node-to-node "
                                     "travel-time matrix (costs rounded to 1 ms); status "
                                     "OPTIMAL = proven optimum",
                   "gls_method": f"OR-Tools routing, guided local search, {gls_s} s limit",
                   "instances": rounds},
    }
    result["summary"] = (
        f"route median {ft['median_ms']} ms (pgr_dijkstra {pg['median_ms']} ms), "
        f"{mismatches}/{pairs} mismatches; nearest-3 {nr['median_ms']} ms; coverage summary "
        f"{summary_s:.2f} s; nearest-3 on {large['roads']:,} roads {large['median_ms']} ms; "
        f"{stops}-stop patrol median {np.median(plan_times):.2f} s (max {max(plan_times):.2f} s),"
        f" gap to the CP-SAT optimum max {max(gaps):+.2%} "
        f"({sum(r['optimum']['status'] == 'OPTIMAL' for r in rounds)}/{len(rounds)} proven)"
    )
    write_result("routing", result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--stops", type=int, default=30)
    p.add_argument("--patrols", type=int, default=5, help="patrol instances")
    p.add_argument("--large-queries", type=int, default=200)
    p.add_argument("--gls-s", type=int, default=10, help="OR-Tools GLS time limit")
    p.add_argument("--exact-s", type=float, default=300.0, help="CP-SAT time limit")
    a = p.parse_args()
    r = run(pairs=a.pairs, seed=a.seed, stops=a.stops, patrols=a.patrols,
            large_queries=a.large_queries, gls_s=a.gls_s, exact_s=a.exact_s)
    print(r["summary"])


if __name__ == "__main__":
    main()
