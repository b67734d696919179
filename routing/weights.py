"""Weight functions: travel time with closures and apparatus restrictions.

A weight is what networkx accepts: an edge attribute name, or a callable
``(u, v, d) -> float | None`` where, on a MultiDiGraph, ``d`` is the ``{key: attrs}`` dict of
the parallel edges from ``u`` to ``v`` and None hides the edge. Closures, apparatus limits
and what-if scenarios are weight functions: the graph itself is never changed.

Every function in `routing` accepts either form, so the same call answers "today" and
"with road 17 closed":

>>> from routing.graph import lattice_graph
>>> G = lattice_graph(1, 3)        # 0 -[1]- 1 -[2]- 2
>>> w = truck_weight(closed_edges={2})
>>> w(0, 1, G[0][1]), w(1, 2, G[1][2])
(10.0, None)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any

import networkx as nx

from routing.errors import RoutingError
from routing.settings import DEFAULTS

__all__ = [
    "CAR",
    "TRUCK",
    "EdgeCost",
    "Weight",
    "WeightFn",
    "best_key",
    "car_weight",
    "closing",
    "edge_cost",
    "is_open",
    "truck_fits",
    "truck_weight",
    "weight_for",
    "weight_key",
]

EdgeAttrs = Mapping[str, Any]
WeightFn = Callable[[Hashable, Hashable, Mapping[Hashable, EdgeAttrs]], float | None]
"""``(u, v, {key: attrs}) -> cost | None`` (None hides the edge)."""
Weight = str | WeightFn
EdgeCost = Callable[[Hashable, Hashable, Hashable, EdgeAttrs], float | None]
"""``(u, v, key, attrs) -> cost | None`` for one parallel edge."""


def is_open(d: EdgeAttrs, key: Hashable = None, closed_edges: Collection[Hashable] = ()) -> bool:
    """True unless the edge is marked ``closed`` or its id is in `closed_edges`."""
    if d.get("closed"):
        return False
    return not closed_edges or d.get("id", key) not in closed_edges


def truck_fits(
    d: EdgeAttrs,
    *,
    min_width_m: float = DEFAULTS.truck_min_width_m,
    min_height_m: float = DEFAULTS.truck_min_height_m,
    respect_truck_ok: bool = True,
) -> bool:
    """True if a fire engine fits: width and headroom at least the minimum (unknown = fits).

    Examples
    --------
    >>> truck_fits({"width_m": 3.5}), truck_fits({"width_m": 6.0, "maxheight_m": 4.2})
    (False, True)
    """
    if respect_truck_ok and d.get("truck_ok") is False:
        return False
    width, height = d.get("width_m"), d.get("maxheight_m")
    if width is not None and width < min_width_m:
        return False
    return height is None or height >= min_height_m


def car_weight(
    *, closed_edges: Collection[Hashable] = frozenset(), attr: str = "travel_time_s"
) -> WeightFn:
    """
    Travel time for a car or motorcycle: every open road, closed roads hidden.

    Parameters
    ----------
    closed_edges
        Road ids (edge keys) to treat as closed in addition to edges with ``closed=True``;
        a two-way road closes in both directions.
    attr
        Cost attribute (seconds by default).

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge(0, 1, key=7, id=7, travel_time_s=30.0, closed=True)
    >>> _ = G.add_edge(0, 1, key=8, id=8, travel_time_s=50.0, width_m=2.5)
    >>> car_weight()(0, 1, G[0][1]), car_weight(closed_edges={8})(0, 1, G[0][1])
    (50.0, None)
    """
    closed = frozenset(closed_edges)

    def weight(u: Hashable, v: Hashable, d: Mapping[Hashable, EdgeAttrs]) -> float | None:
        costs = [a[attr] for k, a in d.items() if is_open(a, k, closed)]
        return min(costs) if costs else None

    weight.cache_key = ("car", closed, attr)  # type: ignore[attr-defined]
    return weight


def truck_weight(
    *,
    min_width_m: float = DEFAULTS.truck_min_width_m,
    min_height_m: float = DEFAULTS.truck_min_height_m,
    closed_edges: Collection[Hashable] = frozenset(),
    respect_truck_ok: bool = True,
    attr: str = "travel_time_s",
) -> WeightFn:
    """
    Travel time for a fire engine: hides closed roads and roads it does not fit.

    Parameters
    ----------
    min_width_m, min_height_m
        Clear width and headroom the apparatus needs (GB 50016-2014 §7.1.8: 4.0 m each).
        Unknown width or headroom counts as passable.
    closed_edges
        Road ids (edge keys) to treat as closed, in both directions.
    respect_truck_ok
        Also hide edges whose ``truck_ok`` is False (pass False to judge only by the
        measured width and headroom, e.g. for a smaller apparatus).
    attr
        Cost attribute (seconds by default).

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge(0, 1, key=1, travel_time_s=20.0, width_m=3.0)      # narrow lane
    >>> _ = G.add_edge(0, 1, key=2, travel_time_s=45.0, width_m=8.0)      # main road
    >>> truck_weight()(0, 1, G[0][1]), truck_weight(min_width_m=2.5)(0, 1, G[0][1])
    (45.0, 20.0)
    """
    closed = frozenset(closed_edges)

    # Called once per edge relaxation in every Dijkstra: the checks of `is_open` and
    # `truck_fits` are inlined here (same rules) because the calls dominated query time.
    def weight(u: Hashable, v: Hashable, d: Mapping[Hashable, EdgeAttrs]) -> float | None:
        best = None
        for k, a in d.items():
            if a.get("closed") or (closed and a.get("id", k) in closed):
                continue
            if respect_truck_ok and a.get("truck_ok") is False:
                continue
            width = a.get("width_m")
            if width is not None and width < min_width_m:
                continue
            height = a.get("maxheight_m")
            if height is not None and height < min_height_m:
                continue
            cost = a[attr]
            if best is None or cost < best:
                best = cost
        return best

    weight.cache_key = (  # type: ignore[attr-defined]
        "truck", min_width_m, min_height_m, closed, respect_truck_ok, attr)
    return weight


def closing(weight: Weight, edge_ids: Collection[Hashable]) -> WeightFn:
    """
    `weight` with the roads `edge_ids` closed as well (a what-if scenario).

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge(0, 1, key=5, id=5, travel_time_s=12.0)
    >>> closing("travel_time_s", {5})(0, 1, G[0][1]) is None
    True
    """
    closed = frozenset(edge_ids)
    cost = edge_cost(weight)

    def closed_weight(u: Hashable, v: Hashable, d: Mapping[Hashable, EdgeAttrs]) -> float | None:
        costs = [
            c
            for k, a in d.items()
            if a.get("id", k) not in closed and (c := cost(u, v, k, a)) is not None
        ]
        return min(costs) if costs else None

    base = weight_key(weight)
    if base is not None:
        closed_weight.cache_key = ("closing", base, closed)  # type: ignore[attr-defined]
    return closed_weight


def weight_key(weight: Weight) -> Hashable | None:
    """
    What `weight` computes, as a hashable key; None for a callable of unknown make.

    Weights with equal keys give every edge the same cost, so work done under one of them
    (snaps, compiled adjacency in `routing.snap.SnapIndex`) is reused for the other. The
    weights made here (`truck_weight`, `car_weight`, `weight_for`, `closing` of a keyed
    weight) carry their key; an attribute name is its own key.

    Examples
    --------
    >>> weight_key(weight_for("truck", closed_edges={7})) == weight_key(
    ...     truck_weight(closed_edges=[7]))
    True
    >>> weight_key("travel_time_s"), weight_key(lambda u, v, d: 1.0)
    (('attr', 'travel_time_s'), None)
    """
    if isinstance(weight, str):
        return ("attr", weight)
    return getattr(weight, "cache_key", None)


def edge_cost(weight: Weight) -> EdgeCost:
    """
    The cost of one parallel edge ``(u, v, key)`` under `weight` (None = hidden).

    A callable weight is asked about the single edge ``{key: attrs}``; an attribute name
    reads that attribute (default 1, as networkx).
    """
    if callable(weight):
        fn = weight
        return lambda u, v, k, d: fn(u, v, {k: d})
    name = weight
    return lambda u, v, k, d: d.get(name, 1)


def best_key(
    G: nx.MultiDiGraph, u: Hashable, v: Hashable, cost: EdgeCost
) -> tuple[Hashable, float] | None:
    """The cheapest usable parallel edge from u to v as ``(key, cost)``, or None."""
    best: tuple[Hashable, float] | None = None
    for k, d in G[u][v].items():
        c = cost(u, v, k, d)
        if c is not None and (best is None or c < best[1]):
            best = (k, c)
    return best


def weight_for(profile: str, *, closed_edges: Collection[Hashable] = frozenset()) -> WeightFn:
    """
    The weight of a named profile (``"truck"`` or ``"car"``) with default thresholds.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.MultiDiGraph()
    >>> _ = G.add_edge(0, 1, key=3, id=3, travel_time_s=9.0, width_m=3.0)
    >>> weight_for("car")(0, 1, G[0][1]), weight_for("truck")(0, 1, G[0][1])
    (9.0, None)
    """
    factories: dict[str, Callable[..., WeightFn]] = {"truck": truck_weight, "car": car_weight}
    if profile not in factories:
        msg = f"Unknown routing profile {profile!r}; expected one of {sorted(factories)}."
        raise RoutingError(msg)
    return factories[profile](closed_edges=closed_edges)


TRUCK: WeightFn = truck_weight()
"""Fire-engine travel time with the default 4.0 m width and headroom (GB 50016-2014 §7.1.8)."""

CAR: WeightFn = car_weight()
"""Car/motorcycle travel time (closed roads hidden)."""
