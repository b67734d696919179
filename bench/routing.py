"""Routing speed and agreement on the demo district (`python -m bench.routing`).

In database ``firetwin_bench_demo`` (the demo district is loaded if it has no roads):

* 1,000 seeded station → building pairs between their nearest graph nodes: FireTwin's
  in-process ``routing.route`` (truck weight) against pgRouting ``pgr_dijkstra`` on the same
  ``road_edge`` table with the truck restriction; median/p95 ms each and travel-time
  agreement (|Δ| ≤ 0.1 s). Point-to-point FireTwin routes (mid-edge snapping) are timed too.
* nearest 3 stations to a building: median ms.
* coverage: the district summary of ``GET /api/routing/coverage`` (one multi-source search
  from all stations, every building and unit placed on its road) and the band polygons of
  every station, seconds.
* a 30-stop patrol round (return to the start): ``routing.plan_patrol`` time and its gap to
  networkx's Christofides tour on the metric closure (``traveling_salesman_problem``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time

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
from routing.errors import RoutingError
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


def run(*, pairs: int = 1000, seed: int = 42, stops: int = 30) -> dict:
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

    # --- patrol vs Christofides -----------------------------------------------------------
    start_node = nearest_node(stations[0]["lon"], stations[0]["lat"])
    reach = nx.descendants(G, start_node) & nx.ancestors(G, start_node)
    picks = rng.sample(sorted(reach), stops)
    stop_objs = [Stop(n, G.nodes[n]["x"], G.nodes[n]["y"]) for n in picks]
    start = (G.nodes[start_node]["x"], G.nodes[start_node]["y"])
    t = time.perf_counter()
    plan = plan_patrol(G, start, stop_objs, weight=CAR, return_to_start=True, index=index)
    plan_s = time.perf_counter() - t
    pts = [start_node, *picks]
    dist = {a: nx.single_source_dijkstra_path_length(G, a, weight=CAR) for a in pts}
    T = {(a, b): dist[a][b] for a in pts for b in pts if a != b}

    def tour_cost(seq: list) -> float:
        cyc = [start_node, *seq, start_node]
        return sum(T[a, b] for a, b in itertools.pairwise(cyc))

    K = nx.Graph()  # metric closure, symmetrised (one-way roads)
    for i, a in enumerate(pts):
        for b in pts[i + 1:]:
            K.add_edge(a, b, weight=max(T[a, b], T[b, a]))
    t = time.perf_counter()
    cyc = nx.approximation.traveling_salesman_problem(
        K, weight="weight", cycle=True, method=nx.approximation.christofides)
    chris_s = time.perf_counter() - t
    cyc = cyc[:-1]
    i = cyc.index(start_node)
    seq = cyc[i + 1:] + cyc[:i]
    chris = min(tour_cost(seq), tour_cost(seq[::-1]))
    ours = tour_cost(plan.order)
    gap = (ours - chris) / chris

    ft, ftp, pg, nr = _ms(ft_s), _ms(ft_pt_s), _ms(pgr_s), _ms(near_s)
    result = {
        "command": f".venv/bin/python -m bench.routing --pairs {pairs} --seed {seed} "
                   f"--stops {stops}",
        "database": DB,
        "graph": {"nodes": G.number_of_nodes(), "edges": G.number_of_edges(),
                  "stations": len(stations), "buildings": len(buildings),
                  "units": len(units), "build_s": round(build_s, 2)},
        "route_node_to_node": {"firetwin": ft, "pgr_dijkstra": pg},
        "route_point_to_point_firetwin": ftp,
        "agreement": {"pairs": pairs, "both_routed": both, "mismatches_over_0_1_s": mismatches,
                      "max_abs_diff_s": round(max_diff, 4)},
        "nearest_3_stations": {**nr, "unreachable_points": near_unreachable},
        "coverage": {"summary_s": round(summary_s, 3), "band_polygons_s": round(bands_s, 2),
                     "band_polygons": polys, "units_share_5min": summary["units"]["share"],
                     "buildings_share_5min": summary["buildings"]["share"]},
        "patrol": {"stops": stops, "plan_s": round(plan_s, 3),
                   "plan_travel_s": round(ours, 1), "christofides_travel_s": round(chris, 1),
                   "christofides_s": round(chris_s, 3), "gap_vs_christofides": round(gap, 4),
                   "unreachable": len(plan.unreachable)},
    }
    result["summary"] = (
        f"route median {ft['median_ms']} ms (pgr_dijkstra {pg['median_ms']} ms), "
        f"{mismatches}/{pairs} mismatches; nearest-3 {nr['median_ms']} ms; coverage summary "
        f"{summary_s:.2f} s; 30-stop patrol {plan_s:.2f} s, {gap:+.1%} vs Christofides"
    )
    write_result("routing", result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--stops", type=int, default=30)
    a = p.parse_args()
    r = run(pairs=a.pairs, seed=a.seed, stops=a.stops)
    print(r["summary"])


if __name__ == "__main__":
    main()
