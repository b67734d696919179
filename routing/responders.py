"""Responder routing: the route between two points and the nearest stations to an alarm.

Points are snapped onto passable roads (`routing.snap`), so routes start and end mid-edge.
Coverage, band polygons and first-due areas are in `routing.coverage` and re-exported here.

What-if scenarios use the same functions with other inputs, never a changed graph: a
station removed or added is another `stations` mapping, a closed road is
``weight=closing(TRUCK, {edge_id})`` (`routing.weights`).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import networkx as nx
from shapely.geometry import LineString

from routing._validate import check_graph
from routing.coverage import band_polygons, coverage, first_due_areas
from routing.errors import RoutingError, SnapError, UnreachableError
from routing.paths import Reach, Route, shortest_route
from routing.settings import DEFAULTS
from routing.snap import Leg, Location, SnapIndex, direct_leg, locate, needs_index
from routing.weights import TRUCK, Weight

__all__ = [
    "Route",
    "StationETA",
    "band_polygons",
    "coverage",
    "first_due_areas",
    "nearest_stations",
    "route",
]


@dataclass(frozen=True, slots=True)
class StationETA:
    """One station's response to a point."""

    station_id: Hashable
    reachable: bool
    travel_time_s: float | None
    """Driving time (the weight's cost), None if unreachable."""
    distance_m: float | None
    eta_s: float | None
    """Turnout plus travel time."""
    meets_standard: bool
    """``eta_s <= standard_s`` (the 5-minute standard by default)."""
    geometry: LineString | None
    """Route in EPSG:4326 from the station's road to the point's road."""
    reason: str | None = None
    """Why the station is unreachable."""


def route(
    G: nx.MultiDiGraph,
    from_pt: Location,
    to_pt: Location,
    *,
    weight: Weight = TRUCK,
    index: SnapIndex | None = None,
    max_snap_m: float = DEFAULTS.snap_max_distance_m,
) -> Route:
    """
    The least-cost route between two points, starting and ending mid-edge.

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    from_pt, to_pt
        (lon, lat) pairs, shapely Points, graph nodes or `routing.snap.Snap` objects.
    weight
        Edge attribute or weight function (default: fire engine, `routing.weights.TRUCK`).
    index
        `routing.snap.SnapIndex` of `G`, built once and reused (built here if None).
    max_snap_m
        Farthest a point may be from a passable road, metres.

    Returns
    -------
    Route
        ``travel_time_s``, ``distance_m``, ``geometry`` (LineString, EPSG:4326), the
        nodes and edges passed.

    Raises
    ------
    SnapError
        If a point is farther than `max_snap_m` from any passable road.
    UnreachableError
        If no route exists under `weight` (closures, one-way roads, narrow lanes).

    Examples
    --------
    A one-way road 1 → 2 in a 1 × 3 line (100 m, 10 s edges)::

        0 ---- 1 ---> 2

    >>> from routing.graph import lattice_edges, build_graph
    >>> e = lattice_edges(1, 3)
    >>> e.loc[e.id == 2, "reverse_cost"] = -1
    >>> G = build_graph(e)
    >>> r = route(G, 0, 2)
    >>> r.travel_time_s, r.distance_m, r.nodes
    (20.0, 200.0, (0, 1, 2))
    >>> route(G, 2, 0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    routing.errors.UnreachableError: No route from (120.58..., 30.08...) to (120.58..., ...

    Notes
    -----
    At most four ``networkx.bidirectional_dijkstra`` searches, between the end nodes of the
    two snapped edges, plus the direct drive when both points lie on the same road.
    """
    check_graph(G)
    if index is None and (needs_index(G, from_pt) or needs_index(G, to_pt)):
        index = SnapIndex(G)
    a = locate(G, from_pt, weight=weight, index=index, max_distance_m=max_snap_m)
    b = locate(G, to_pt, weight=weight, index=index, max_distance_m=max_snap_m)
    found = shortest_route(G, a, b, weight=weight)
    if found is None:
        msg = (
            f"No route from ({a.location[0]:.6f}, {a.location[1]:.6f}) to "
            f"({b.location[0]:.6f}, {b.location[1]:.6f}) under this weight."
        )
        raise UnreachableError(msg)
    return found


def nearest_stations(
    G: nx.MultiDiGraph,
    point: Location,
    stations: Mapping[Hashable, Location],
    *,
    k: int = 3,
    weight: Weight = TRUCK,
    turnout_s: float = DEFAULTS.turnout_s,
    standard_s: float = DEFAULTS.response_standard_s,
    index: SnapIndex | None = None,
    max_snap_m: float = DEFAULTS.snap_max_distance_m,
    cutoff_s: float | None = None,
    include_unreachable: bool = False,
) -> list[StationETA]:
    """
    The `k` stations that reach `point` soonest, with travel times, ETAs and routes.

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    point
        Where help is needed: (lon, lat), shapely Point, graph node or Snap.
    stations
        Station id -> location (same forms as `point`).
    k
        Number of reachable stations to return.
    weight
        Edge attribute or weight function (default: fire engine, `routing.weights.TRUCK`).
    turnout_s
        Turnout time added to travel time for the ETA (GB 51080: 60 s; NFPA 1710: 80 s).
    standard_s
        Response standard the ETA is compared with (300 s: 5 minutes).
    index
        `routing.snap.SnapIndex` of `G` (built here if None).
    max_snap_m
        Farthest a point or station may be from a passable road, metres.
    cutoff_s
        Ignore stations more than this many seconds away (faster on big graphs).
    include_unreachable
        Also list the unreachable stations, after the reachable ones, with a ``reason``.

    Returns
    -------
    list of StationETA
        Reachable stations by increasing travel time (ties by the order of `stations`).

    Raises
    ------
    SnapError
        If `point` is farther than `max_snap_m` from any passable road.
    UnreachableError
        If no station can reach `point`.

    Examples
    --------
    Stations at nodes 0 and 5 of a 1 × 6 line; the alarm is on road 3–4, 40 % from 3::

        A ---- 1 ---- 2 ---- 3 --*- 4 ---- B

    >>> from routing.graph import lattice_graph
    >>> G = lattice_graph(1, 6)
    >>> x3, x4, y = G.nodes[3]["x"], G.nodes[4]["x"], G.nodes[3]["y"]
    >>> alarm = (x3 + 0.4 * (x4 - x3), y)
    >>> res = nearest_stations(G, alarm, {"A": 0, "B": 5}, k=2)
    >>> [(r.station_id, round(r.travel_time_s), round(r.eta_s), r.meets_standard) for r in res]
    [('B', 16, 76, True), ('A', 34, 94, True)]
    >>> round(res[0].distance_m), res[0].geometry.geom_type
    (160, 'LineString')

    Notes
    -----
    Times *to* the point are searched once against the edge directions from the end nodes
    of the point's edge (one Dijkstra started from both), and the search stops as soon as
    it passes the k-th best station found: every station not reached yet is farther. With
    an `index`, station snaps and the weight's compiled adjacency are kept in it, so a
    query costs one snap and a search bounded by the k-th station (see `routing._search`).
    ``include_unreachable`` searches the whole reachable graph to tell the rest apart.
    """
    check_graph(G)
    if not stations:
        msg = "At least one station is required."
        raise RoutingError(msg)
    if k < 1:
        msg = f"k must be at least 1, got {k}."
        raise RoutingError(msg)
    if index is None and any(needs_index(G, p) for p in (point, *stations.values())):
        index = SnapIndex(G)
    target = locate(G, point, weight=weight, index=index, max_distance_m=max_snap_m)
    missing: list[StationETA] = []
    order_of: dict[int, Hashable] = {}
    legs_at: dict[Hashable, list[tuple[int, Leg]]] = {}  # graph node -> station out legs
    best: dict[int, tuple[float, Leg | None]] = {}  # station order -> (cost, its leg)
    for order, (sid, loc) in enumerate(stations.items()):
        try:
            src = locate(G, loc, weight=weight, index=index, max_distance_m=max_snap_m)
        except SnapError as e:
            missing.append(_unreachable(sid, f"station is off the passable network: {e}"))
            continue
        order_of[order] = sid
        for leg in src.out:
            legs_at.setdefault(leg.node, []).append((order, leg))
        direct = direct_leg(src, target)
        if direct is not None and (cutoff_s is None or direct.cost <= cutoff_s):
            best[order] = (direct.cost, None)
    kth = [_kth(best, k)]

    def settle(v: Hashable, d: float) -> bool:
        # Every station not yet seen costs at least d: stop once k stations cost less.
        if d > kth[0] and not include_unreachable:
            return True
        for order, leg in legs_at.get(v, ()):
            c = d + leg.cost
            if (cutoff_s is None or c <= cutoff_s) and (order not in best or c < best[order][0]):
                best[order] = (c, leg)
                kth[0] = _kth(best, k)
        return False

    reach = Reach(G, target, weight=weight, reverse=True, cutoff=cutoff_s, index=index,
                  settle=settle)
    if not best:
        msg = f"None of the {len(stations)} stations can reach the point under this weight."
        raise UnreachableError(msg)
    found = sorted(best, key=lambda o: (best[o][0], o))
    results = []
    for order in found[:k]:
        leg = best[order][1]
        src = locate(G, stations[order_of[order]], weight=weight, index=index,
                     max_distance_m=max_snap_m)
        r = shortest_route(G, src, target, weight=weight) if leg is None else reach.route(
            leg.node, leg)
        assert r is not None  # reachable by construction
        eta = turnout_s + r.travel_time_s
        results.append(StationETA(order_of[order], True, r.travel_time_s, r.distance_m, eta,
                                  eta <= standard_s, r.geometry))
    if include_unreachable:
        within = "" if cutoff_s is None else f" within {cutoff_s:g} s"
        missing += [_unreachable(sid, f"no route to the point{within} under this weight")
                    for order, sid in order_of.items() if order not in best]
        missing.sort(key=lambda m: list(stations).index(m.station_id))
    return results + (missing if include_unreachable else [])


def _kth(best: Mapping[int, tuple[float, object]], k: int) -> float:
    """The k-th least cost in `best` (inf while fewer than k)."""
    if len(best) < k:
        return float("inf")
    return heapq.nsmallest(k, (c for c, _ in best.values()))[-1]


def _unreachable(sid: Hashable, reason: str) -> StationETA:
    return StationETA(sid, False, None, None, None, False, None, reason)
