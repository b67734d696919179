"""Place points on the road graph: snap to the nearest passable edge and split it.

A point (an alarm, a station gate, a patrol stop) rarely sits on a graph node. `snap_point`
finds the nearest passable edge (an STRtree over the edge geometries in a local metric
projection, see `routing._geo`), projects the point onto it at fraction ``t`` of its length,
and returns a `Snap`: a *virtual node* described by its legs, never added to the graph.

* ``out`` legs go from the virtual node to the edge's end nodes it can drive to;
* ``into`` legs come from the end nodes that can drive to it.

Leg costs are the edge's cost under the weight times the fraction driven (``t`` or
``1 - t``), so a route starts and ends mid-edge. One-way roads give one leg each way
(``out`` to ``v``, ``into`` from ``u``); two-way roads give two. A two-way road is the edge
pair ``(u, v, k)``, ``(v, u, k)`` (same key), as `routing.graph.build_graph` makes it.

Routes between snaps combine Dijkstra runs from the leg nodes (`routing.paths`): the
shortest path from a virtual node must leave by one of its ``out`` legs, so
``d(a, b) = min over legs (a.out_i.cost + d(out_i, into_j) + b.into_j.cost)``, plus the
direct drive when both lie on the same road (`direct_leg`). The graph is not copied.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.strtree import STRtree

from routing._geo import LocalProjection, piece
from routing._search import AdjacencyCache
from routing._validate import as_lonlat, check_graph
from routing.errors import RoutingError, SnapError
from routing.settings import DEFAULTS
from routing.weights import TRUCK, Weight, edge_cost, weight_key

__all__ = [
    "Leg",
    "Location",
    "Snap",
    "SnapIndex",
    "direct_leg",
    "locate",
    "needs_index",
    "node_snap",
    "snap_point",
]


_AT_NODE_M = 0.01
"""A snap closer than this to an edge's end (metres) is at that end's node."""


@dataclass(frozen=True, slots=True)
class Leg:
    """A partial edge between a virtual node and a graph node (or another virtual node)."""

    node: Hashable
    """Graph node at the other end (None for a direct leg between two snaps)."""
    cost: float
    """Cost under the weight the snap was made with (seconds for travel-time weights)."""
    length_m: float
    geometry: LineString | None
    """Lon/lat line in the direction of travel; None when the leg has no length."""


@dataclass(frozen=True, slots=True)
class _EdgeCut:
    line_m: LineString
    length_m: float
    forward: float | None
    backward: float | None
    proj: LocalProjection


@dataclass(frozen=True, slots=True)
class Snap:
    """A point placed on the graph: a virtual node and its legs (for one weight)."""

    point: tuple[float, float]
    """The input (lon, lat)."""
    location: tuple[float, float]
    """Where the point joins the road, (lon, lat)."""
    distance_m: float
    """From the point to the road, metres."""
    edge: tuple[Hashable, Hashable, Hashable] | None
    """The edge ``(u, v, key)`` it lies on, or None when anchored at a node."""
    fraction: float
    """Position along ``edge`` from ``u`` (0) to ``v`` (1)."""
    out: tuple[Leg, ...]
    into: tuple[Leg, ...]
    node: Hashable = None
    """The graph node when anchored at one, else None."""
    _cut: _EdgeCut | None = field(default=None, repr=False, compare=False)


Location = Hashable | Sequence[float] | Point | Snap
"""A graph node, a (lon, lat) pair or shapely Point, or a `Snap`."""


_SNAP_CACHE_SIZE = 4096


class SnapIndex:
    """
    Spatial index of the edges of `G` (build once per graph, reuse for every query).

    One entry per road: the back edge of a two-way road shares its entry. Geometries are
    held in a transverse Mercator projection centred on the graph, so distances are metres.

    The index also keeps what repeated queries on `G` share: the last 4,096 snapped points
    per weight key (stations are snapped once, not on every alarm) and the compiled
    adjacency of the last few weights (``adjacency``, see `routing._search`). Both are keyed
    by `routing.weights.weight_key`, so a weight without a key is never cached. Build a new
    index after changing the graph.
    """

    def __init__(self, G: nx.MultiDiGraph) -> None:
        check_graph(G)
        if G.number_of_edges() == 0:
            msg = "Cannot index a graph without edges."
            raise RoutingError(msg)
        self.graph = G
        self.proj = LocalProjection.around(
            (d["x"] for _, d in G.nodes(data=True)), (d["y"] for _, d in G.nodes(data=True))
        )
        edges: list[tuple[Hashable, Hashable, Hashable]] = []
        lines: list[LineString] = []
        seen: set[tuple[Hashable, Hashable, Hashable]] = set()
        for u, v, k, d in G.edges(keys=True, data=True):
            if (v, u, k) in seen:
                continue
            seen.add((u, v, k))
            edges.append((u, v, k))
            lines.append(edge_geometry(G, u, v, d))
        self.edges = edges
        self.lines_m = self.proj.to_metric(np.array(lines, dtype=object))
        self.tree = STRtree(self.lines_m)
        self._pos = {e: i for i, e in enumerate(edges)}
        self.adjacency = AdjacencyCache(G)
        self._snaps: OrderedDict[tuple, Snap | str] = OrderedDict()
        self._snaps_lock = threading.Lock()

    def cached_snap(self, key: tuple, make: Callable[[], Snap]) -> Snap:
        """The snap stored under `key`, or ``make()`` stored (a SnapError is kept too)."""
        with self._snaps_lock:
            hit = self._snaps.get(key)
            if hit is not None:
                self._snaps.move_to_end(key)
        if hit is None:
            try:
                hit = make()
            except SnapError as e:
                hit = str(e)
            with self._snaps_lock:
                self._snaps[key] = hit
                while len(self._snaps) > _SNAP_CACHE_SIZE:
                    self._snaps.popitem(last=False)
        if isinstance(hit, str):
            raise SnapError(hit)
        return hit

    def line_m(self, u: Hashable, v: Hashable, k: Hashable) -> LineString:
        """Metric geometry of edge ``(u, v, k)``, oriented from u to v."""
        i = self._pos.get((u, v, k))
        if i is not None:
            return self.lines_m[i]
        return self.lines_m[self._pos[(v, u, k)]].reverse()

    def nearest(
        self, lon: float, lat: float, cost: Any, max_distance_m: float
    ) -> tuple[int, float] | None:
        """Index and distance (m) of the nearest entry passable under `cost`, or None."""
        G, p = self.graph, self.proj.point(lon, lat)
        radius = min(50.0, max_distance_m)
        while True:
            idx = np.sort(self.tree.query(p, predicate="dwithin", distance=radius))
            if idx.size:
                dist = shapely.distance(self.lines_m[idx], p)
                for j in np.lexsort((idx, dist)):
                    u, v, k = self.edges[idx[j]]
                    if cost(u, v, k, G[u][v][k]) is not None or (
                        u != v and G.has_edge(v, u, k) and cost(v, u, k, G[v][u][k]) is not None
                    ):
                        return int(idx[j]), float(dist[j])
            if radius >= max_distance_m:
                return None
            radius = min(radius * 4, max_distance_m)


def snap_point(
    G: nx.MultiDiGraph,
    point: Sequence[float] | Point,
    *,
    weight: Weight = TRUCK,
    index: SnapIndex | None = None,
    max_distance_m: float = DEFAULTS.snap_max_distance_m,
) -> Snap:
    """
    Snap a point to the nearest edge passable under `weight` and split that edge there.

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    point
        (lon, lat) in EPSG:4326, or a shapely Point.
    weight
        Edge attribute or weight function; edges it hides are not snapped to, and leg
        costs are the edge cost under it times the fraction driven.
    index
        A `SnapIndex` of `G` (built on the fly if None; build it once for many queries).
    max_distance_m
        Farthest road to consider, metres.

    Returns
    -------
    Snap
        The virtual node: location on the road, distance to it, edge, fraction, legs.

    Raises
    ------
    SnapError
        If no passable edge lies within `max_distance_m`.

    Examples
    --------
    A point 30 m along the 100 m, 10 s road from node 0 to node 1 (two-way)::

        0 --*------- 1 ---------- 2

    >>> from routing.graph import lattice_graph
    >>> G = lattice_graph(1, 3)
    >>> x0, x1, y = G.nodes[0]["x"], G.nodes[1]["x"], G.nodes[0]["y"]
    >>> s = snap_point(G, (x0 + 0.3 * (x1 - x0), y + 0.0001))
    >>> s.edge, round(s.fraction, 3), round(s.distance_m)
    ((0, 1, 1), 0.3, 11)
    >>> sorted((leg.node, round(leg.cost, 3)) for leg in s.out)
    [(0, 3.0), (1, 7.0)]
    """
    check_graph(G)
    lon, lat = as_lonlat(point)
    index = _index_for(G, index)
    cost = edge_cost(weight)
    found = index.nearest(lon, lat, cost, max_distance_m)
    if found is None:
        msg = f"No passable road within {max_distance_m:g} m of ({lon:.6f}, {lat:.6f})."
        raise SnapError(msg)
    i, dist = found
    u, v, k = index.edges[i]
    line_m = index.lines_m[i]
    p = index.proj.point(lon, lat)
    t = float(line_m.project(p, normalized=True)) if line_m.length > 0 else 0.0
    on_road = index.proj.to_lonlat(line_m.interpolate(t, normalized=True))
    d = G[u][v][k]
    length = float(d.get("length_m", line_m.length))
    fwd = cost(u, v, k, d)
    back = cost(v, u, k, G[v][u][k]) if u != v and G.has_edge(v, u, k) else None
    proj = index.proj
    out, into = [], []
    if fwd is not None:
        out.append(Leg(v, (1 - t) * fwd, (1 - t) * length, piece(line_m, t, 1.0, proj)))
        into.append(Leg(u, t * fwd, t * length, piece(line_m, 0.0, t, proj)))
    if back is not None:
        out.append(Leg(u, t * back, t * length, piece(line_m, t, 0.0, proj)))
        into.append(Leg(v, (1 - t) * back, (1 - t) * length, piece(line_m, 1.0, t, proj)))
    # a point on a node is at that node, whichever edge it was snapped to (one-way edges!)
    for at_node, node in ((t * line_m.length, u), ((1 - t) * line_m.length, v)):
        if at_node <= _AT_NODE_M:
            out = [leg for leg in out if leg.node != node] + [Leg(node, 0.0, 0.0, None)]
            into = [leg for leg in into if leg.node != node] + [Leg(node, 0.0, 0.0, None)]
    return Snap(
        point=(lon, lat),
        location=(on_road.x, on_road.y),
        distance_m=dist,
        edge=(u, v, k),
        fraction=t,
        out=tuple(out),
        into=tuple(into),
        _cut=_EdgeCut(line_m, length, fwd, back, proj),
    )


def node_snap(G: nx.MultiDiGraph, n: Hashable) -> Snap:
    """
    A `Snap` anchored at graph node `n` (legs of zero cost).

    Examples
    --------
    >>> from routing.graph import lattice_graph
    >>> node_snap(lattice_graph(1, 2), 1).out
    (Leg(node=1, cost=0.0, length_m=0.0, geometry=None),)
    """
    if n not in G:
        msg = f"Node {n!r} is not in G."
        raise nx.NodeNotFound(msg)
    x, y = G.nodes[n].get("x", float("nan")), G.nodes[n].get("y", float("nan"))
    leg = (Leg(n, 0.0, 0.0, None),)
    return Snap((x, y), (x, y), 0.0, None, 0.0, leg, leg, node=n)


def locate(
    G: nx.MultiDiGraph,
    loc: Location,
    *,
    weight: Weight = TRUCK,
    index: SnapIndex | None = None,
    max_distance_m: float = DEFAULTS.snap_max_distance_m,
) -> Snap:
    """
    A `Snap` for a location: a Snap as is, a graph node anchored, a point snapped.

    Graph nodes take precedence, so in a graph whose nodes are pairs a pair is a node.
    With an `index` and a weight that has a key (`routing.weights.weight_key`), a point's
    snap is kept in the index and reused.

    Raises
    ------
    networkx.NodeNotFound
        If `loc` is neither a node, a point nor a Snap.
    SnapError
        If a point has no passable road within `max_distance_m`.
    """
    if isinstance(loc, Snap):
        return loc
    if loc in G:
        return node_snap(G, loc)
    if isinstance(loc, str) or not (
        isinstance(loc, Point) or (isinstance(loc, Sequence | np.ndarray) and len(loc) == 2)
    ):
        msg = f"{loc!r} is neither a node of G, a (lon, lat) pair nor a Point."
        raise nx.NodeNotFound(msg)
    key = weight_key(weight)
    if index is None or key is None or index.graph is not G:
        return snap_point(G, loc, weight=weight, index=index, max_distance_m=max_distance_m)
    lon, lat = as_lonlat(loc)
    return index.cached_snap(
        (lon, lat, key, max_distance_m),
        lambda: snap_point(G, (lon, lat), weight=weight, index=index,
                           max_distance_m=max_distance_m),
    )


def needs_index(G: nx.MultiDiGraph, loc: Location) -> bool:
    """True if locating `loc` means snapping a point (it is neither a Snap nor a node)."""
    return not isinstance(loc, Snap) and loc not in G


def direct_leg(a: Snap, b: Snap) -> Leg | None:
    """
    The drive from `a` to `b` along their shared road without passing a node, if any.

    It exists when both lie on the same road and the road may be driven from `a`
    towards `b` (one-way roads only forwards).
    """
    if a.edge is None or a.edge != b.edge or a._cut is None:
        return None
    cut, ta, tb = a._cut, a.fraction, b.fraction
    cost = cut.forward if tb >= ta else cut.backward
    if cost is None:
        return None
    frac = abs(tb - ta)
    return Leg(None, frac * cost, frac * cut.length_m, piece(cut.line_m, ta, tb, cut.proj))


def edge_geometry(G: nx.MultiDiGraph, u: Hashable, v: Hashable, d: dict[str, Any]) -> LineString:
    """The edge's geometry, or the straight line between its nodes if it has none."""
    geom = d.get("geometry")
    if geom is not None:
        return geom
    nu, nv = G.nodes[u], G.nodes[v]
    return LineString([(nu["x"], nu["y"]), (nv["x"], nv["y"])])


def _index_for(G: nx.MultiDiGraph, index: SnapIndex | None) -> SnapIndex:
    if index is None:
        return SnapIndex(G)
    if index.graph is not G:
        msg = "The SnapIndex was built for another graph."
        raise RoutingError(msg)
    return index
