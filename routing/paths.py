"""Shortest paths between snapped locations, without adding virtual nodes to the graph.

`Reach` runs one Dijkstra (``networkx.dijkstra_predecessor_and_distance``) per leg of a
`Snap` and combines them: the time from a virtual node to ``x`` is
``min(leg.cost + d(leg.node, x))``. On the reverse view of the graph the same gives times
*to* a virtual node, which answers "every station to this alarm" with at most two runs.
`shortest_route` joins two snaps with ``networkx.bidirectional_dijkstra`` between their leg
nodes (at most four searches) and the direct drive along a shared road.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
from shapely.geometry import LineString

from routing._geo import join_lines, line_length_m
from routing.snap import Leg, Snap, direct_leg, edge_geometry
from routing.weights import Weight, best_key, edge_cost

__all__ = ["Reach", "Route", "assemble_route", "reach_times", "shortest_route"]


@dataclass(frozen=True, slots=True)
class Route:
    """A driven route: cost, length and lon/lat geometry including the partial end edges."""

    travel_time_s: float
    """Total cost under the weight (seconds for travel-time weights)."""
    distance_m: float
    geometry: LineString
    """EPSG:4326; an empty LineString when start and end coincide."""
    nodes: tuple[Hashable, ...]
    """Graph nodes passed, in order (the virtual ends excluded)."""
    edges: tuple[tuple[Hashable, Hashable, Hashable], ...]
    """Whole edges driven ``(u, v, key)``, in order."""


def assemble_route(
    G: nx.MultiDiGraph,
    nodes: Sequence[Hashable],
    *,
    weight: Weight,
    first: Leg | None = None,
    last: Leg | None = None,
) -> Route:
    """A `Route` along a node path, choosing the cheapest usable parallel edge per hop."""
    cost = edge_cost(weight)
    parts = [first.geometry if first else None]
    total = first.cost if first else 0.0
    length = first.length_m if first else 0.0
    edges = []
    for a, b in itertools.pairwise(nodes):
        found = best_key(G, a, b, cost)
        if found is None:
            msg = f"No usable edge from {a!r} to {b!r} under this weight."
            raise nx.NetworkXNoPath(msg)
        k, c = found
        d = G[a][b][k]
        geom = edge_geometry(G, a, b, d)
        edges.append((a, b, k))
        parts.append(geom)
        total += c
        length += d["length_m"] if d.get("length_m") is not None else line_length_m(geom)
    if last is not None:
        parts.append(last.geometry)
        total += last.cost
        length += last.length_m
    return Route(total, length, join_lines(parts), tuple(nodes), tuple(edges))


class Reach:
    """
    Least costs from a virtual node (``reverse=False``, its ``out`` legs) or to it
    (``reverse=True``, its ``into`` legs, searched on the reverse view), with paths.
    """

    def __init__(
        self,
        G: nx.MultiDiGraph,
        snap: Snap,
        *,
        weight: Weight,
        reverse: bool = False,
        cutoff: float | None = None,
    ) -> None:
        self.G, self.snap, self.weight, self.reverse = G, snap, weight, reverse
        H = G.reverse(copy=False) if reverse else G
        legs = [leg for leg in (snap.into if reverse else snap.out)
                if cutoff is None or leg.cost <= cutoff]
        self.legs = legs
        # One Dijkstra started from every leg's node at the leg's cost (instead of one run
        # per leg): same least costs, half the work for a point in the middle of a road.
        self.dist, self.pred, self.origin = _dijkstra_from(
            H, [(leg.node, leg.cost, i) for i, leg in enumerate(legs)], weight, cutoff
        )

    def cost(self, n: Hashable) -> float | None:
        """Least cost between the virtual node and graph node `n`, or None if unreachable."""
        return self.dist.get(n)

    def route(self, n: Hashable, leg: Leg | None = None) -> Route | None:
        """
        The route between the virtual node and `n`, extended by `leg` at the `n` end (the
        leg of another snap), in driving order; None if `n` is unreachable.
        """
        if n not in self.dist:
            return None
        own = self.legs[self.origin[n]]
        path = [n]
        while self.pred[path[-1]] is not None:
            path.append(self.pred[path[-1]])
        if self.reverse:  # walked n -> own.node in driving order
            return assemble_route(self.G, path, weight=self.weight, first=leg, last=own)
        return assemble_route(self.G, path[::-1], weight=self.weight, first=own, last=leg)

    def via(self, legs: Iterable[Leg]) -> tuple[float, Leg] | None:
        """Least ``leg.cost + cost(leg.node)`` over `legs` (another snap's legs), or None."""
        best: tuple[float, Leg] | None = None
        for leg in legs:
            c = self.cost(leg.node)
            if c is not None and (best is None or c + leg.cost < best[0]):
                best = (c + leg.cost, leg)
        return best


def _dijkstra_from(
    H: nx.MultiDiGraph,
    starts: list[tuple[Hashable, float, int]],
    weight: Weight,
    cutoff: float | None,
) -> tuple[dict[Hashable, float], dict[Hashable, Hashable | None], dict[Hashable, int]]:
    """Dijkstra from several start nodes with initial costs (node, cost, label).

    Returns least cost per reached node, its predecessor (None at a start) and the label of
    the start it was reached from. `weight` is an attribute name or a networkx-style weight
    function ``(u, v, edge_dict) -> cost | None``; `cutoff` bounds the total cost.
    """
    from heapq import heappop, heappush
    from itertools import count

    wfn = nx.algorithms.shortest_paths.weighted._weight_function(H, weight)
    adj = H._adj
    dist: dict[Hashable, float] = {}
    pred: dict[Hashable, Hashable | None] = {}
    origin: dict[Hashable, int] = {}
    seen: dict[Hashable, float] = {}
    heap: list = []
    tie = count()
    for node, cost, label in starts:
        if node not in seen or cost < seen[node]:
            seen[node] = cost
            heappush(heap, (cost, next(tie), node, label, None))
    while heap:
        d, _, v, label, p = heappop(heap)
        if v in dist:
            continue
        dist[v], pred[v], origin[v] = d, p, label
        for u, e in adj[v].items():
            c = wfn(v, u, e)
            if c is None:
                continue
            du = d + c
            if cutoff is not None and du > cutoff:
                continue
            if u in dist:
                continue
            if u not in seen or du < seen[u]:
                seen[u] = du
                heappush(heap, (du, next(tie), u, label, v))
    return dist, pred, origin


def shortest_route(G: nx.MultiDiGraph, a: Snap, b: Snap, *, weight: Weight) -> Route | None:
    """The least-cost route from snap `a` to snap `b`, or None if there is none."""
    best: Route | None = None
    direct = direct_leg(a, b)
    if direct is not None:
        best = Route(direct.cost, direct.length_m, join_lines([direct.geometry]), (), ())
    for first in a.out:
        for last in b.into:
            if best is not None and first.cost + last.cost >= best.travel_time_s:
                continue
            try:
                _, nodes = nx.bidirectional_dijkstra(G, first.node, last.node, weight=weight)
            except nx.NetworkXNoPath:
                continue
            r = assemble_route(G, nodes, weight=weight, first=first, last=last)
            if best is None or r.travel_time_s < best.travel_time_s:
                best = r
    return best


def reach_times(
    G: nx.MultiDiGraph, snaps: Iterable[Snap], *, weight: Weight, cutoff: float | None = None
) -> dict[Hashable, float]:
    """
    Least cost from any of `snaps` to every graph node within `cutoff`.

    Legs of zero cost (snaps at nodes) share one ``multi_source_dijkstra_path_length``;
    each other leg gets its own run, shortened by the leg's cost.
    """
    times: dict[Hashable, float] = {}
    legs = [leg for s in snaps for leg in s.out]
    zero = {leg.node for leg in legs if leg.cost == 0}
    runs: list[tuple[float, dict[Hashable, float]]] = []
    if zero:
        runs.append(
            (0.0, nx.multi_source_dijkstra_path_length(G, zero, cutoff=cutoff, weight=weight))
        )
    for leg in legs:
        if leg.cost == 0 or (cutoff is not None and leg.cost > cutoff):
            continue
        rest = None if cutoff is None else cutoff - leg.cost
        runs.append(
            (
                leg.cost,
                nx.single_source_dijkstra_path_length(G, leg.node, cutoff=rest, weight=weight),
            )
        )
    for offset, dist in runs:
        for n, d in dist.items():
            t = offset + d
            if t < times.get(n, float("inf")):
                times[n] = t
    return times
