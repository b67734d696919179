"""Shortest paths between snapped locations, without adding virtual nodes to the graph.

`Reach` runs one Dijkstra started from every leg of a `Snap` at the leg's cost, so the time
from a virtual node to ``x`` is ``min(leg.cost + d(leg.node, x))``. Against the edge
directions the same gives times *to* a virtual node, which answers "every station to this
alarm" with one run (stopped once the k nearest stations are known, see
`routing.responders.nearest_stations`).
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
from routing._search import Settle, adjacency, dijkstra
from routing.snap import Leg, Snap, SnapIndex, direct_leg, edge_geometry
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
    (``reverse=True``, its ``into`` legs, searched against the edge directions), with paths.

    One Dijkstra started from every leg's node at the leg's cost (`routing._search.dijkstra`).
    With `index`, the weight's compiled adjacency is used (see `routing._search`); `settle`
    may stop the search early (then only the nodes settled so far have costs).
    """

    def __init__(
        self,
        G: nx.MultiDiGraph,
        snap: Snap,
        *,
        weight: Weight,
        reverse: bool = False,
        cutoff: float | None = None,
        index: SnapIndex | None = None,
        settle: Settle | None = None,
    ) -> None:
        self.G, self.snap, self.weight, self.reverse = G, snap, weight, reverse
        legs = [leg for leg in (snap.into if reverse else snap.out)
                if cutoff is None or leg.cost <= cutoff]
        self.legs = legs
        adj = adjacency(G, weight, reverse=reverse,
                        cache=index.adjacency if index is not None else None)
        self.dist, self.pred, self.origin = dijkstra(
            adj, [(leg.node, leg.cost, i) for i, leg in enumerate(legs)], cutoff=cutoff,
            settle=settle,
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

    def route_to(self, other: Snap) -> Route | None:
        """The least-cost route between this virtual node and `other` (forward: to it)."""
        legs = other.out if self.reverse else other.into
        found = self.via(legs)
        direct = direct_leg(other, self.snap) if self.reverse else direct_leg(self.snap, other)
        if direct is not None and (found is None or direct.cost <= found[0]):
            return Route(direct.cost, direct.length_m, join_lines([direct.geometry]), (), ())
        return None if found is None else self.route(found[1].node, found[1])


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
    G: nx.MultiDiGraph,
    snaps: Iterable[Snap],
    *,
    weight: Weight,
    cutoff: float | None = None,
    index: SnapIndex | None = None,
) -> dict[Hashable, float]:
    """
    Least cost from any of `snaps` to every graph node within `cutoff`.

    One Dijkstra started from every ``out`` leg of every snap at the leg's cost; with `index`
    on the weight's compiled adjacency.
    """
    legs = [leg for s in snaps for leg in s.out]
    adj = adjacency(G, weight, cache=index.adjacency if index is not None else None)
    dist, _, _ = dijkstra(adj, [(leg.node, leg.cost, 0) for leg in legs], cutoff=cutoff)
    return dist
