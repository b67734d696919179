"""Compiled adjacency, snap caching and early-stopped searches agree with plain networkx."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from routing._search import AdjacencyCache, compile_adjacency, dijkstra
from routing.errors import SnapError, UnreachableError
from routing.graph import build_graph, lattice_edges
from routing.paths import Reach, reach_times
from routing.patrols import Stop, plan_patrol
from routing.responders import nearest_stations, route
from routing.snap import SnapIndex, locate
from routing.weights import CAR, TRUCK, closing, truck_weight, weight_for, weight_key


def _messy_lattice(rows: int = 12, cols: int = 12, seed: int = 3) -> nx.MultiDiGraph:
    """A lattice with random one-way roads, narrow lanes, low bridges and uneven speeds."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    e = lattice_edges(rows, cols)
    for i in e.index:
        e.loc[i, "cost"] = e.loc[i, "reverse_cost"] = rng.uniform(5, 25)
        roll = rng.random()
        if roll < 0.1:
            e.loc[i, "reverse_cost"] = -1  # one-way
        elif roll < 0.18:
            e.loc[i, "width_m"] = 3.0  # too narrow for a truck
        elif roll < 0.22:
            e.loc[i, "maxheight_m"] = 3.2  # low bridge
    return build_graph(e)


def _points(G: nx.MultiDiGraph, n: int, seed: int) -> list[tuple[float, float]]:
    """Points 30 % of the way along random roads (mid-edge snaps)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    edges = list(G.edges(keys=True))
    out = []
    for _ in range(n):
        u, v, _ = rng.choice(edges)
        a, b = G.nodes[u], G.nodes[v]
        out.append((a["x"] + 0.3 * (b["x"] - a["x"]), a["y"] + 0.3 * (b["y"] - a["y"])))
    return out


def test_weight_keys_identify_what_a_weight_computes():
    assert weight_key(TRUCK) == weight_key(truck_weight()) == weight_key(weight_for("truck"))
    assert weight_key(weight_for("truck", closed_edges={3})) != weight_key(TRUCK)
    assert weight_key(CAR) != weight_key(TRUCK)
    assert weight_key(closing(TRUCK, {3})) == weight_key(closing(truck_weight(), [3]))
    assert weight_key(closing(lambda u, v, d: 1.0, {3})) is None


def test_compiled_adjacency_is_the_cheapest_usable_parallel_edge():
    G = nx.MultiDiGraph(crs="EPSG:4326")
    G.add_edge(0, 1, key=1, id=1, travel_time_s=20.0, width_m=3.0)  # narrow lane
    G.add_edge(0, 1, key=2, id=2, travel_time_s=45.0, width_m=8.0)
    G.add_edge(1, 2, key=3, id=3, travel_time_s=10.0, closed=True)
    assert compile_adjacency(G, TRUCK) == {0: ((1, 45.0),), 1: (), 2: ()}
    assert compile_adjacency(G, CAR, reverse=True) == {0: (), 1: ((0, 20.0),), 2: ()}


def test_adjacency_cache_keeps_keyed_weights_only():
    G = _messy_lattice(3, 3)
    cache = AdjacencyCache(G, size=2)
    assert cache.get(TRUCK) is cache.get(truck_weight())  # same key: compiled once
    assert cache.get(TRUCK, reverse=True) is not cache.get(TRUCK)
    cache.get(CAR)  # a third entry pushes the least recently used out
    assert len(cache._data) == 2
    lazy = cache.get(lambda u, v, d: 1.0)
    assert dict(lazy) == {n: lazy[n] for n in G}


@pytest.mark.parametrize("weight", [TRUCK, CAR, lambda u, v, d: TRUCK(u, v, d)])
@pytest.mark.parametrize("reverse", [False, True])
def test_reach_with_index_matches_networkx(weight, reverse):
    G = _messy_lattice()
    index = SnapIndex(G)
    H = G.reverse(copy=False) if reverse else G
    for p in _points(G, 8, seed=1):
        snap = locate(G, p, weight=weight, index=index)
        legs = snap.into if reverse else snap.out
        want: dict = {}
        for leg in legs:
            for n, d in nx.single_source_dijkstra_path_length(H, leg.node, weight=weight).items():
                want[n] = min(want.get(n, float("inf")), leg.cost + d)
        got = Reach(G, snap, weight=weight, reverse=reverse, index=index).dist
        assert got.keys() == want.keys()
        assert all(got[n] == pytest.approx(want[n]) for n in want)
    assert reach_times(G, [snap], weight=weight, cutoff=60, index=index) == {
        n: t for n, t in Reach(G, snap, weight=weight, index=index).dist.items() if t <= 60}


def test_settle_stops_the_search_early():
    adj = {0: ((1, 1.0), (2, 5.0)), 1: ((3, 1.0),), 2: (), 3: ((2, 1.0),)}
    dist, pred, _ = dijkstra(adj, [(0, 0.0, 0)], settle=lambda v, d: v == 3)
    assert dist == {0: 0.0, 1: 1.0, 3: 2.0} and pred[3] == 1
    assert dijkstra(adj, [(0, 0.0, 0)])[0][2] == 3.0


def test_station_snaps_are_kept_in_the_index_per_weight_key():
    G = _messy_lattice(4, 4)
    index = SnapIndex(G)
    p = _points(G, 1, seed=5)[0]
    a = locate(G, p, weight=weight_for("truck"), index=index)
    assert locate(G, p, weight=weight_for("truck"), index=index) is a
    assert locate(G, p, weight=CAR, index=index) is not a
    assert locate(G, p, weight=lambda u, v, d: TRUCK(u, v, d), index=index) is not a
    far = (G.nodes[0]["x"] + 0.05, G.nodes[0]["y"])
    for _ in range(2):  # the failure is kept too, and raised again
        with pytest.raises(SnapError, match="No passable road"):
            locate(G, far, weight=TRUCK, index=index)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_nearest_stations_early_stop_matches_routing_every_station(k):
    G = _messy_lattice()
    index = SnapIndex(G)
    stations = dict(enumerate(_points(G, 9, seed=11)))
    for p in _points(G, 12, seed=2):
        want = []
        for sid, loc in stations.items():
            try:
                want.append((route(G, loc, p, weight=TRUCK, index=index).travel_time_s, sid))
            except UnreachableError:
                continue
        want.sort()
        got = nearest_stations(G, p, stations, k=k, index=index, include_unreachable=True)
        reachable = [r for r in got if r.reachable]
        assert [r.travel_time_s for r in reachable] == pytest.approx(
            [t for t, _ in want[:k]])
        assert {r.station_id for r in got if not r.reachable} == (
            set(stations) - {s for _, s in want})
        fast = nearest_stations(G, p, stations, k=k, index=index)
        assert [(r.station_id, r.travel_time_s) for r in fast] == [
            (r.station_id, r.travel_time_s) for r in reachable]


def test_nearest_stations_cutoff_and_ties_by_station_order():
    G = build_graph(lattice_edges(1, 7))  # 0 - 1 - 2 - 3 - 4 - 5 - 6, 10 s each
    res = nearest_stations(G, 3, {"east": 6, "west": 0, "near": 2}, k=3)
    assert [(r.station_id, r.travel_time_s) for r in res] == [
        ("near", 10.0), ("east", 30.0), ("west", 30.0)]
    res = nearest_stations(G, 3, {"east": 6, "west": 0, "near": 2}, k=3, cutoff_s=20,
                           include_unreachable=True)
    assert [(r.station_id, r.reachable) for r in res] == [
        ("near", True), ("east", False), ("west", False)]


def test_patrol_legs_are_the_shortest_routes_between_stops():
    G = _messy_lattice()
    index = SnapIndex(G)
    pts = _points(G, 10, seed=7)
    stops = [Stop(f"s{i}", lon, lat) for i, (lon, lat) in enumerate(pts[1:])]
    plan = plan_patrol(G, pts[0], stops, weight=CAR, return_to_start=True, index=index)
    by_id = {s.id: (s.lon, s.lat) for s in stops}
    prev = pts[0]
    for leg in plan.shifts[0].legs:
        here = by_id[leg.stop_id]
        assert leg.travel_s == pytest.approx(route(G, prev, here, weight=CAR).travel_time_s)
        prev = here
    assert plan.shifts[0].return_s == pytest.approx(
        route(G, prev, pts[0], weight=CAR).travel_time_s)
