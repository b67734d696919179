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
        self.runs: list[tuple[Leg, dict[Hashable, list[Hashable]], dict[Hashable, float]]] = []
        for leg in snap.into if reverse else snap.out:
            rest = None if cutoff is None else cutoff - leg.cost
            if rest is not None and rest < 0:
                continue
            pred, dist = nx.dijkstra_predecessor_and_distance(
                H, leg.node, cutoff=rest, weight=weight
            )
            self.runs.append((leg, pred, dist))

    def cost(self, n: Hashable) -> float | None:
        """Least cost between the virtual node and graph node `n`, or None if unreachable."""
        best = self._best(n)
        return None if best is None else best[0]

    def _best(self, n: Hashable) -> tuple[float, int] | None:
        best: tuple[float, int] | None = None
        for i, (leg, _, dist) in enumerate(self.runs):
            if n in dist and (best is None or leg.cost + dist[n] < best[0]):
                best = (leg.cost + dist[n], i)
        return best

    def route(self, n: Hashable, leg: Leg | None = None) -> Route | None:
        """
        The route between the virtual node and `n`, extended by `leg` at the `n` end (the
        leg of another snap), in driving order; None if `n` is unreachable.
        """
        best = self._best(n)
        if best is None:
            return None
        own, pred, _ = self.runs[best[1]]
        path = [n]
        while path[-1] != own.node:
            path.append(pred[path[-1]][0])
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
