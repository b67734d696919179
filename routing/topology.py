"""Network shape checks for fire access: dead ends and single-access roads (bridges).

Both work on the *passable view*: an undirected simple graph (`networkx.Graph`) with an
edge wherever `weight` lets a vehicle drive between two nodes in at least one direction.
`networkx.bridges` needs such a view: it refuses directed graphs and would skip parallel
multi-edges. GB 50016-2014 §7.1.9 asks ring fire lanes to join other roads in at least two
places and dead-end lanes to have a turnaround; a bridge is a road whose loss cuts part of
the network off, and a dead end is a node of degree 1 in the view.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

from routing._validate import check_graph
from routing.weights import TRUCK, Weight, edge_cost

__all__ = [
    "AccessTree",
    "access_tree",
    "dead_ends",
    "lacking_turnarounds",
    "passable_view",
    "shared_bridge",
    "single_access_roads",
    "street_ends",
]


def passable_view(G: nx.MultiDiGraph, *, weight: Weight = TRUCK) -> nx.Graph:
    """Undirected simple graph of the node pairs joined by an edge `weight` does not hide.

    Self-loops are left out; every node of `G` is kept.
    """
    cost = edge_cost(weight)
    H = nx.Graph()
    H.add_nodes_from(G)
    H.add_edges_from(
        (u, v)
        for u, v, k, d in G.edges(keys=True, data=True)
        if u != v and cost(u, v, k, d) is not None
    )
    return H


def dead_ends(G: nx.MultiDiGraph, *, weight: Weight = TRUCK) -> set[Hashable]:
    """
    Nodes where a passable road ends: degree 1 in the passable view.

    Examples
    --------
    A triangle with a tail (shape of `single_access_roads`)::

        0 --- 1
         \\   /
           2 --- 3 --- 4

    >>> G = nx.MultiDiGraph(nx.Graph([(0, 1), (1, 2), (2, 0), (2, 3), (3, 4)]))
    >>> nx.set_edge_attributes(G, 10.0, "travel_time_s")
    >>> dead_ends(G)
    {4}
    """
    check_graph(G)
    H = passable_view(G, weight=weight)
    return {n for n, deg in H.degree if deg == 1}


@dataclass(frozen=True, slots=True)
class AccessTree:
    """Bridges of the passable view, oriented away from each component's core.

    The core of a connected component is its largest 2-edge-connected part (the part
    without bridges): the main road network. In a component without loops every part is a
    single node, and the core is a node of highest degree.

    ``cut_off[(u, v)]`` is the number of nodes the bridge ``u - v`` alone connects to the
    core (``v`` is on their side); ``top[n]`` is the bridge nearest the core on the way
    from the core to ``n`` (None for core nodes).
    """

    view: nx.Graph
    cut_off: dict[tuple[Hashable, Hashable], int]
    top: dict[Hashable, tuple[Hashable, Hashable] | None]


def access_tree(H: nx.Graph) -> AccessTree:
    """Compute the `AccessTree` of a passable view in O(n + m)."""
    bridges = {frozenset(b) for b in nx.bridges(H)}
    cores = nx.Graph()
    cores.add_nodes_from(H)
    cores.add_edges_from(e for e in H.edges if frozenset(e) not in bridges)
    component = {n: i for i, comp in enumerate(nx.connected_components(H)) for n in comp}
    roots: dict[int, Hashable] = {}
    # the largest core of each component; among equals (e.g. in a tree) a busiest node
    ranked = sorted(
        nx.connected_components(cores),
        key=lambda c: (len(c), max(H.degree(n) for n in c)),
        reverse=True,
    )
    for core in ranked:
        root = max(core, key=H.degree)
        roots.setdefault(component[root], root)
    cut_off: dict[tuple[Hashable, Hashable], int] = {}
    top: dict[Hashable, tuple[Hashable, Hashable] | None] = {}
    for root in roots.values():
        top[root] = None
        tree = list(nx.bfs_edges(H, root))  # a spanning tree holds every bridge
        for p, c in tree:
            top[c] = (
                top[p] if top[p] is not None else ((p, c) if frozenset((p, c)) in bridges else None)
            )
        size = dict.fromkeys((c for _, c in tree), 1)
        size[root] = 1
        for p, c in reversed(tree):
            size[p] += size[c]
        for p, c in tree:
            if frozenset((p, c)) in bridges:
                cut_off[(p, c)] = size[c]
    return AccessTree(H, cut_off, top)


def single_access_roads(
    G: nx.MultiDiGraph, *, weight: Weight = TRUCK
) -> dict[tuple[Hashable, Hashable], int]:
    """
    Roads whose closure cuts nodes off the network, with the number of nodes cut off.

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    weight
        Edges it hides are not roads here (default: what a fire engine can use).

    Returns
    -------
    dict
        ``(u, v) -> n``: closing the road between ``u`` and ``v`` separates ``n`` nodes
        (``v`` and those beyond it) from the core of the network; largest first.

    Examples
    --------
    ::

        0 --- 1
         \\   /
           2 --- 3 --- 4

    >>> G = nx.MultiDiGraph(nx.Graph([(0, 1), (1, 2), (2, 0), (2, 3), (3, 4)]))
    >>> nx.set_edge_attributes(G, 10.0, "travel_time_s")
    >>> single_access_roads(G)
    {(2, 3): 2, (3, 4): 1}
    """
    check_graph(G)
    cut = access_tree(passable_view(G, weight=weight)).cut_off
    return dict(sorted(cut.items(), key=lambda item: -item[1]))


def lacking_turnarounds(
    tree: AccessTree,
    edges: Iterable[tuple[Hashable, Hashable]],
    turnarounds: Mapping[Hashable, float],
    required_m: float,
) -> dict[Hashable, float | None]:
    """
    Dead ends that leave `edges` without a usable turnaround; empty if any edge is fine.

    An edge is fine when its street (`street_ends`) has no dead end, or every dead end of
    it has a turnaround of at least `required_m` (GB 50016-2014 §7.1.9). Otherwise the
    dead ends lacking one are returned with their turnaround side (None: none at all).

    Examples
    --------
    >>> tree = access_tree(nx.Graph([(0, 1), (1, 2), (2, 0), (2, 3)]))  # triangle + spur
    >>> lacking_turnarounds(tree, [(2, 3)], {}, 12.0)
    {3: None}
    >>> lacking_turnarounds(tree, [(2, 3)], {3: 15.0}, 12.0)  # turnaround big enough
    {}
    >>> lacking_turnarounds(tree, [(0, 1)], {}, 12.0)  # a through street
    {}
    """
    lacking: dict[Hashable, float | None] = {}
    for u, v in edges:
        ends = [n for n in street_ends(tree.view, u, v) if tree.view.degree(n) == 1]
        short = {n: turnarounds.get(n) for n in ends if turnarounds.get(n, 0.0) < required_m}
        if not short:
            return {}
        lacking.update(short)
    return lacking


def shared_bridge(
    tree: AccessTree, edges: Iterable[tuple[Hashable, Hashable]]
) -> tuple[Hashable, Hashable] | None:
    """
    A bridge whose closure cuts every one of `edges` off the core, or None.

    An edge depends on the bridges between it and the core, and on itself when it is a
    bridge; they form a path whose first bridge is the ``top`` of the endpoint farther from
    the core. Edges depend on a common bridge iff their first bridges are the same.

    Examples
    --------
    >>> tree = access_tree(nx.Graph([(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (3, 5)]))
    >>> shared_bridge(tree, [(3, 4), (3, 5)]), shared_bridge(tree, [(3, 4), (0, 1)])
    ((2, 3), None)
    """
    deps = {tree.top.get(u) or tree.top.get(v) for u, v in edges}
    if len(deps) != 1 or None in deps:
        return None
    return deps.pop()


def street_ends(H: nx.Graph, u: Hashable, v: Hashable) -> tuple[Hashable, Hashable]:
    """
    The two ends of the street through ``u - v``: follow nodes of degree 2 both ways.

    An end of degree 1 is a dead end; an end of degree 3 or more is a junction.

    Examples
    --------
    >>> street_ends(nx.path_graph(5), 1, 2)
    (0, 4)
    """
    return _walk(H, u, v), _walk(H, v, u)


def _walk(H: nx.Graph, node: Hashable, came_from: Hashable) -> Hashable:
    start = node
    while H.degree(node) == 2:
        nxt = next(n for n in H[node] if n != came_from)
        came_from, node = node, nxt
        if node == start:  # a loop of degree-2 nodes: no end
            break
    return node
