"""Dijkstra for repeated queries on one graph: adjacency compiled per weight, early stops.

networkx's Dijkstra calls the weight function on every edge relaxation; the truck weight walks
the parallel edges and checks closures, width and headroom (about 2 µs a call), which dominates
a query. For a weight with a key (`routing.weights.weight_key`: the weights made by
`routing.weights` and attribute names), `AdjacencyCache` evaluates it once per node pair and
keeps ``node -> ((neighbour, cost), ...)`` — the cost of the cheapest usable parallel edge,
unusable pairs left out — for the next queries. The cache belongs to the graph's
`routing.snap.SnapIndex` (built once per graph), never to the graph, which stays unchanged.
A weight without a key is evaluated lazily, node by node, as the search settles them.

`dijkstra` starts from several nodes at once, each with an initial cost (the partial edge of
a snapped point), and can stop early: `settle` is told of every node as it is settled and
returns True once the caller has what it needs (the k-th nearest station, every patrol stop).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from heapq import heappop, heappush
from itertools import count
from typing import Any

import networkx as nx

from routing.weights import Weight, weight_key

__all__ = ["AdjacencyCache", "compile_adjacency", "dijkstra"]

Row = Sequence[tuple[Hashable, float]]
Adjacency = Mapping[Hashable, Row]
Settle = Callable[[Hashable, float], bool]


def _weight_fn(G: nx.MultiDiGraph, weight: Weight) -> Callable[[Any, Any, Any], float | None]:
    return nx.algorithms.shortest_paths.weighted._weight_function(G, weight)


def _row(wfn: Callable[..., float | None], v: Hashable, nbrs: Mapping, reverse: bool) -> Row:
    out = []
    for u, e in nbrs.items():
        c = wfn(u, v, e) if reverse else wfn(v, u, e)
        if c is not None:
            out.append((u, c))
    return tuple(out)


def compile_adjacency(
    G: nx.MultiDiGraph, weight: Weight, *, reverse: bool = False
) -> dict[Hashable, Row]:
    """
    Every node's usable neighbours and costs under `weight` (``reverse``: its predecessors).

    Examples
    --------
    A one-way road 0 → 1 (10 s) and a two-way road 1 – 2 (10 s)::

        0 ---> 1 ----- 2

    >>> from routing.graph import lattice_edges, build_graph
    >>> e = lattice_edges(1, 3)
    >>> e.loc[e.id == 1, "reverse_cost"] = -1
    >>> G = build_graph(e)
    >>> compile_adjacency(G, "travel_time_s")
    {0: ((1, 10.0),), 1: ((2, 10.0),), 2: ((1, 10.0),)}
    >>> compile_adjacency(G, "travel_time_s", reverse=True)[1]
    ((0, 10.0), (2, 10.0))
    """
    wfn = _weight_fn(G, weight)
    adj = G._pred if reverse else G._adj
    return {v: _row(wfn, v, nbrs, reverse) for v, nbrs in adj.items()}


class _Lazy(Mapping[Hashable, Row]):
    """Neighbour rows computed on demand (a weight without a key: nothing to cache)."""

    def __init__(self, G: nx.MultiDiGraph, weight: Weight, reverse: bool) -> None:
        self._wfn = _weight_fn(G, weight)
        self._adj = G._pred if reverse else G._adj
        self._reverse = reverse

    def __getitem__(self, v: Hashable) -> Row:
        return _row(self._wfn, v, self._adj[v], self._reverse)

    def __iter__(self) -> Any:
        return iter(self._adj)

    def __len__(self) -> int:
        return len(self._adj)


class AdjacencyCache:
    """Compiled adjacencies of one graph by (weight key, direction), least recently used out.

    Compiling costs one weight call per node pair (about 15 ms for the demo district's 8,000
    edges, 1 s for 400,000); the API's weights change only when a blockage opens or closes.
    """

    def __init__(self, G: nx.MultiDiGraph, *, size: int = 4) -> None:
        self.G, self.size = G, size
        self._data: OrderedDict[tuple[Hashable, bool], dict[Hashable, Row]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, weight: Weight, *, reverse: bool = False) -> Adjacency:
        """The adjacency of `weight` (compiled and kept if it has a key, else lazy)."""
        key = weight_key(weight)
        if key is None:
            return _Lazy(self.G, weight, reverse)
        with self._lock:
            adj = self._data.get((key, reverse))
            if adj is not None:
                self._data.move_to_end((key, reverse))
                return adj
        adj = compile_adjacency(self.G, weight, reverse=reverse)
        with self._lock:
            self._data[(key, reverse)] = adj
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return adj


def adjacency(
    G: nx.MultiDiGraph, weight: Weight, *, reverse: bool = False, cache: AdjacencyCache | None
) -> Adjacency:
    """`cache`'s adjacency of `weight` when it belongs to `G`, else a lazy one."""
    if cache is not None and cache.G is G:
        return cache.get(weight, reverse=reverse)
    return _Lazy(G, weight, reverse)


def dijkstra(
    adj: Adjacency,
    starts: Iterable[tuple[Hashable, float, int]],
    *,
    cutoff: float | None = None,
    settle: Settle | None = None,
) -> tuple[dict[Hashable, float], dict[Hashable, Hashable | None], dict[Hashable, int]]:
    """
    Least costs from several start nodes, each with an initial cost: ``(node, cost, label)``.

    Returns the least cost of every settled node, its predecessor (None at a start) and the
    label of the start it was reached from. Costs above `cutoff` are not searched. `settle`,
    if given, is called with each node and its cost as the node is settled, in order of
    cost; when it returns True the search stops (nodes not yet settled are left out).

    Examples
    --------
    >>> adj = {0: ((1, 10.0),), 1: ((2, 10.0),), 2: ()}
    >>> dijkstra(adj, [(0, 3.0, 7)])
    ({0: 3.0, 1: 13.0, 2: 23.0}, {0: None, 1: 0, 2: 1}, {0: 7, 1: 7, 2: 7})
    >>> dijkstra(adj, [(0, 0.0, 0)], settle=lambda v, d: v == 1)[0]
    {0: 0.0, 1: 10.0}
    """
    dist: dict[Hashable, float] = {}
    pred: dict[Hashable, Hashable | None] = {}
    origin: dict[Hashable, int] = {}
    seen: dict[Hashable, float] = {}
    heap: list = []
    tie = count()
    for node, cost, label in starts:
        if cutoff is not None and cost > cutoff:
            continue
        if node not in seen or cost < seen[node]:
            seen[node] = cost
            heappush(heap, (cost, next(tie), node, label, None))
    while heap:
        d, _, v, label, p = heappop(heap)
        if v in dist:
            continue
        dist[v], pred[v], origin[v] = d, p, label
        if settle is not None and settle(v, d):
            break
        for u, c in adj[v]:
            du = d + c
            if (cutoff is not None and du > cutoff) or u in dist:
                continue
            if u not in seen or du < seen[u]:
                seen[u] = du
                heappush(heap, (du, next(tie), u, label, v))
    return dist, pred, origin
