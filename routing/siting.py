"""Station siting: where a new (micro) station raises drive-time coverage of targets most."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from routing.errors import SnapError
from routing.paths import reach_times
from routing.snap import SnapIndex, locate
from routing.weights import TRUCK, Weight

__all__ = ["SitingChoice", "suggest_stations"]


@dataclass(frozen=True)
class SitingChoice:
    """One suggested site: a graph node and what it adds."""

    node: Hashable
    lon: float
    lat: float
    newly_covered: tuple[Hashable, ...]
    covered_before: int
    covered_after: int
    targets: int
    """Targets placed on the passable network (the others cannot be covered)."""


def suggest_stations(
    G: nx.MultiDiGraph,
    targets: Mapping[Hashable, object],
    existing: Mapping[Hashable, object],
    *,
    n_new: int = 1,
    travel_s: float = 240.0,
    candidates: Sequence[Hashable] | None = None,
    max_candidates: int = 400,
    weight: Weight = TRUCK,
    index: SnapIndex | None = None,
) -> list[SitingChoice]:
    """
    Greedy maximal-coverage siting of `n_new` stations.

    A target is covered when some station reaches it within `travel_s` seconds of driving
    (240 s = the 5-minute standard less 60 s turnout, GB 51080-2015 §4.1.3). Starting from
    the targets the `existing` stations already cover, each round picks the candidate node
    that covers the most targets not yet covered (ties: the lower node order).

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    targets, existing
        Id -> location ((lon, lat), Point, node or Snap) of the places to cover (e.g. high-risk
        units) and of the stations in service.
    candidates
        Graph nodes allowed as sites; by default every node, thinned evenly to
        `max_candidates`.
    weight
        Edge weight (fire engine by default).

    Returns
    -------
    list of SitingChoice
        One per new station, in the order picked; fewer if no candidate adds coverage.

    Examples
    --------
    A 1 × 6 street (10 s per block); one station at node 0, targets at nodes 4 and 5:

    >>> from routing.graph import lattice_edges, build_graph
    >>> G = build_graph(lattice_edges(1, 6))
    >>> [c.node for c in suggest_stations(G, {"a": 4, "b": 5}, {"s": 0}, travel_s=15)]
    [4]

    Notes
    -----
    One bounded Dijkstra per candidate (cutoff `travel_s`) run from the candidate; targets
    are placed on the network once with the snapping index.
    """
    if n_new < 1:
        msg = "n_new must be at least 1"
        raise ValueError(msg)
    if index is None:
        index = SnapIndex(G)
    target_snaps = {}
    for t, loc in targets.items():
        try:
            target_snaps[t] = locate(G, loc, weight=weight, index=index)
        except SnapError:  # off the passable network: no station can cover it
            continue

    def reached(snaps) -> set[Hashable]:
        times = reach_times(G, snaps, weight=weight, cutoff=travel_s, index=index)
        out = set()
        for t, snap in target_snaps.items():
            # A target is reached when a leg into its road position arrives in time.
            best = min((times.get(leg.node, float("inf")) + leg.cost for leg in snap.into),
                       default=float("inf"))
            if best <= travel_s:
                out.add(t)
        return out

    covered = reached([locate(G, loc, weight=weight, index=index) for loc in existing.values()]) \
        if existing else set()
    nodes = list(candidates) if candidates is not None else list(G.nodes)
    if len(nodes) > max_candidates:
        step = len(nodes) / max_candidates
        nodes = [nodes[int(i * step)] for i in range(max_candidates)]
    gains = {n: reached([locate(G, n, weight=weight, index=index)]) for n in nodes}
    choices: list[SitingChoice] = []
    for _ in range(n_new):
        best_node, best_new = None, set()
        for n in nodes:
            new = gains[n] - covered
            if len(new) > len(best_new):
                best_node, best_new = n, new
        if best_node is None:
            break
        before = len(covered)
        covered |= best_new
        choices.append(SitingChoice(
            node=best_node, lon=G.nodes[best_node]["x"], lat=G.nodes[best_node]["y"],
            newly_covered=tuple(sorted(best_new, key=str)), covered_before=before,
            covered_after=len(covered), targets=len(target_snaps)))
    return choices
