"""Station coverage: nodes reached within travel-time bands, band polygons, first-due areas.

Stations may be graph nodes, (lon, lat) points or snaps (`routing.snap.locate`); a point
station starts mid-edge, with the partial edge costs of its snap. Closures and what-ifs go
through `weight`; the graph is never changed.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.ops import substring

from routing._validate import check_bands, check_graph
from routing.errors import RoutingError, SnapError
from routing.paths import reach_times
from routing.settings import DEFAULTS
from routing.snap import Location, Snap, SnapIndex, locate, needs_index
from routing.weights import TRUCK, Weight, edge_cost

__all__ = ["band_polygons", "coverage", "first_due_areas", "point_times", "station_reach"]


def coverage(
    G: nx.MultiDiGraph,
    stations: Mapping[Hashable, Location],
    *,
    bands_s: Iterable[float] = DEFAULTS.coverage_bands_s,
    weight: Weight = TRUCK,
    index: SnapIndex | None = None,
    max_snap_m: float = DEFAULTS.snap_max_distance_m,
) -> dict[Hashable, dict[float, frozenset[Hashable]]]:
    """
    Nodes each station reaches within each travel-time band.

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    stations
        Station id -> location (graph node, (lon, lat), Point or Snap).
    bands_s
        Travel-time limits in seconds (default 240, 300, 480: 4-minute drive, 5 minutes,
        NFPA 1710 full alarm).
    weight
        Edge attribute or weight function (default: fire engine).
    index, max_snap_m
        `routing.snap.SnapIndex` of `G` and the snapping distance for point stations.

    Returns
    -------
    dict
        Station id -> {band: nodes reached within it}; bands ascending, sets nested.

    Raises
    ------
    SnapError
        If a point station is off the passable network.

    Examples
    --------
    A station at node 0 of a 1 × 4 line of 10 s edges; road 2–3 is closed::

        S ---- 1 ---- 2 -xx- 3

    >>> from routing.graph import lattice_graph
    >>> from routing.weights import closing
    >>> G = lattice_graph(1, 4)
    >>> cov = coverage(G, {"S": 0}, bands_s=(10, 30))
    >>> {b: sorted(n) for b, n in cov["S"].items()}
    {10.0: [0, 1], 30.0: [0, 1, 2, 3]}
    >>> closed = coverage(G, {"S": 0}, bands_s=(10, 30), weight=closing(TRUCK, {3}))
    >>> sorted(closed["S"][30.0])
    [0, 1, 2]

    Notes
    -----
    One bounded Dijkstra per station leg (``multi_source_dijkstra_path_length`` for
    stations at nodes) with cutoff = the largest band.
    """
    check_graph(G)
    bands = check_bands(bands_s)
    snaps = _locate_all(G, stations, weight=weight, index=index, max_snap_m=max_snap_m)
    result = {}
    for sid, snap in snaps.items():
        times = reach_times(G, [snap], weight=weight, cutoff=bands[-1], index=index)
        result[sid] = {b: frozenset(n for n, t in times.items() if t <= b) for b in bands}
    return result


def band_polygons(
    G: nx.MultiDiGraph,
    stations: Mapping[Hashable, Location],
    *,
    bands_s: Iterable[float] = DEFAULTS.coverage_bands_s,
    weight: Weight = TRUCK,
    buffer_m: float = DEFAULTS.band_buffer_m,
    index: SnapIndex | None = None,
    max_snap_m: float = DEFAULTS.snap_max_distance_m,
) -> dict[float, Polygon | MultiPolygon]:
    """
    Areas reached by any of `stations` within each band, as EPSG:4326 polygons.

    Method: the road pieces reached in time are collected (a whole edge when its far end is
    reached, else the fraction ``(band - t(u)) / cost`` of it from ``u``; the partial edge a
    point station stands on likewise), buffered by `buffer_m` metres in a transverse
    Mercator projection centred on the graph (round ends drawn with 4 segments per quarter
    circle), unioned and projected back. The result is
    the reachable road corridor, not a hull: blocks between reached roads wider than
    ``2 * buffer_m`` stay out, and so do areas beyond an unreached road.

    Parameters
    ----------
    G, stations, bands_s, weight, index, max_snap_m
        As in `coverage`. Pass one station to get its own polygons.
    buffer_m
        Half-width of the corridor around reached roads, metres.

    Returns
    -------
    dict
        Band -> Polygon or MultiPolygon (empty Polygon when nothing is reached).

    Examples
    --------
    A station at node 0 of a 1 × 3 line (100 m, 10 s edges); in 15 s a truck covers road
    0–1 and half of road 1–2: 150 m of road, plus the 10 m buffer at each end::

        S ====== 1 ===--- 2

    >>> from routing.graph import lattice_graph
    >>> from routing._geo import LocalProjection
    >>> G = lattice_graph(1, 3)
    >>> polys = band_polygons(G, {"S": 0}, bands_s=(15,), buffer_m=10)
    >>> proj = LocalProjection(G.nodes[0]["x"], G.nodes[0]["y"])
    >>> minx, miny, maxx, maxy = proj.to_metric(polys[15.0]).bounds
    >>> round(maxx - minx), round(maxy - miny)
    (170, 20)
    """
    check_graph(G)
    bands = check_bands(bands_s)
    if buffer_m <= 0:
        msg = f"buffer_m must be positive, got {buffer_m}."
        raise RoutingError(msg)
    index = index if index is not None else SnapIndex(G)
    snaps = _locate_all(G, stations, weight=weight, index=index, max_snap_m=max_snap_m)
    times = reach_times(G, snaps.values(), weight=weight, cutoff=bands[-1], index=index)
    cost, proj = edge_cost(weight), index.proj
    legs_m = [
        (leg.cost, proj.to_metric(leg.geometry))
        for s in snaps.values()
        for leg in s.out
        if leg.geometry is not None
    ]
    result: dict[float, Polygon | MultiPolygon] = {}
    for band in bands:
        pieces = [_head(line, band / c if c > 0 else 1.0) for c, line in legs_m]
        whole: dict[tuple[frozenset[Hashable], Hashable], LineString] = {}  # once per road
        for u, t in times.items():
            if t > band:
                continue
            for _, v, k, d in G.out_edges(u, keys=True, data=True):
                c = cost(u, v, k, d)
                if c is None:
                    continue
                if t + c <= band:
                    whole.setdefault((frozenset((u, v)), k), index.line_m(u, v, k))
                else:
                    pieces.append(_head(index.line_m(u, v, k), (band - t) / c))
        lines = [p for p in pieces if p is not None] + list(whole.values())
        if not lines:
            result[band] = Polygon()
            continue
        buffers = shapely.buffer(np.array(lines, dtype=object), buffer_m, quad_segs=4)
        result[band] = proj.to_lonlat(shapely.union_all(buffers))
    return result


def first_due_areas(
    G: nx.MultiDiGraph,
    stations: Mapping[Hashable, Location],
    *,
    weight: Weight = TRUCK,
    index: SnapIndex | None = None,
    max_snap_m: float = DEFAULTS.snap_max_distance_m,
) -> tuple[dict[Hashable, set[Hashable]], set[Hashable]]:
    """
    Partition road-graph nodes into first-due areas, one per station.

    Each node is assigned to the station that reaches it with the least total
    `weight`: a graph Voronoi partition (see `networkx.voronoi_cells`).

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    stations
        Station id -> graph node of the station's apparatus bay, or its (lon, lat) point;
        a point station starts from the first node it can drive to (its partial edge cost
        is ignored, which can move a node near a tie to the other station). When two
        stations start from the same node, the one closer to it takes the area and the
        other gets none.
    weight
        Edge attribute to minimise (seconds for ``"travel_time_s"``), or a
        callable ``(u, v, d) -> float | None`` where None hides the edge.
    index, max_snap_m
        `routing.snap.SnapIndex` of `G` and the snapping distance for point stations.

    Returns
    -------
    areas, unreachable
        Station id -> nodes it reaches first (every station, in the order given), and the
        nodes no station reaches.

    Raises
    ------
    RoutingError
        If `stations` is empty or a station cannot drive off its road.
    networkx.NodeNotFound
        If a station is neither a node of `G` nor a point.

    Examples
    --------
    >>> G = nx.MultiDiGraph(nx.path_graph(6))
    >>> nx.set_edge_attributes(G, 60.0, "travel_time_s")
    >>> areas, unreachable = first_due_areas(G, {"st1": 0, "st2": 3})
    >>> {k: sorted(v) for k, v in areas.items()}, unreachable
    ({'st1': [0, 1], 'st2': [2, 3, 4, 5]}, set())

    Notes
    -----
    One multi-source Dijkstra: O((m + n) log n) for n nodes, m edges.
    """
    check_graph(G)
    if not stations:
        msg = "At least one station is required."
        raise RoutingError(msg)
    snaps = _locate_all(G, stations, weight=weight, index=index, max_snap_m=max_snap_m)
    seeds: dict[Hashable, tuple[float, Hashable]] = {}  # node -> (leg cost, station)
    for sid, snap in snaps.items():
        if not snap.out:
            msg = f"Station {sid!r} cannot drive off its road under this weight."
            raise RoutingError(msg)
        leg = min(snap.out, key=lambda leg: leg.cost)
        if leg.node not in seeds or leg.cost < seeds[leg.node][0]:
            seeds[leg.node] = (leg.cost, sid)
    node_to_station = {node: sid for node, (_, sid) in seeds.items()}
    cells = nx.voronoi_cells(G, set(node_to_station), weight=weight)
    unreachable = cells.pop("unreachable", set())
    areas = {node_to_station[c]: nodes for c, nodes in cells.items()}
    return {sid: areas.get(sid, set()) for sid in stations}, unreachable


def _locate_all(
    G: nx.MultiDiGraph,
    stations: Mapping[Hashable, Location],
    *,
    weight: Weight,
    index: SnapIndex | None,
    max_snap_m: float,
) -> dict[Hashable, Snap]:
    if index is None and any(needs_index(G, loc) for loc in stations.values()):
        index = SnapIndex(G)
    snaps = {}
    for sid, loc in stations.items():
        try:
            snaps[sid] = locate(G, loc, weight=weight, index=index, max_distance_m=max_snap_m)
        except SnapError as e:
            msg = f"Station {sid!r}: {e}"
            raise SnapError(msg) from e
    return snaps


def _head(line_m: LineString, fraction: float) -> LineString | None:
    """The first `fraction` of a metric line (whole line if >= 1), None if empty."""
    if fraction >= 1:
        return line_m
    if fraction <= 0:
        return None
    part = substring(line_m, 0.0, fraction, normalized=True)
    return part if isinstance(part, LineString) and part.length > 0 else None


def station_reach(
    G: nx.MultiDiGraph,
    stations: Mapping[Hashable, Location],
    *,
    weight: Weight = TRUCK,
    cutoff: float | None = None,
    index: SnapIndex | None = None,
) -> tuple[dict[Hashable, float], list[Hashable]]:
    """
    Least travel cost from any station to every graph node within `cutoff`.

    Returns the node -> cost map and the stations that could not be placed on a passable
    road (left out).

    Examples
    --------
    >>> from routing.graph import lattice_edges, build_graph
    >>> G = build_graph(lattice_edges(1, 4))
    >>> times, off = station_reach(G, {"s": 0}, cutoff=20)
    >>> sorted(times.items()), off
    ([(0, 0.0), (1, 10.0), (2, 20.0)], [])
    """
    if index is None and any(needs_index(G, loc) for loc in stations.values()):
        index = SnapIndex(G)
    snaps, off_network = [], []
    for sid, loc in stations.items():
        try:
            snaps.append(locate(G, loc, weight=weight, index=index))
        except SnapError:
            off_network.append(sid)
    times = reach_times(G, snaps, weight=weight, cutoff=cutoff, index=index) if snaps else {}
    return times, off_network


def point_times(
    G: nx.MultiDiGraph,
    index: SnapIndex,
    times: Mapping[Hashable, float],
    xy: np.ndarray,
    *,
    weight: Weight = TRUCK,
    max_snap_m: float = DEFAULTS.snap_max_distance_m,
) -> np.ndarray:
    """
    Travel cost to each (lon, lat) point via its nearest road, given node `times`.

    Each point joins its nearest road (any road, as a building fronts it); its cost is the
    better end node's time plus the share of that edge driven, in a passable direction;
    ``inf`` when unreached or farther than `max_snap_m` from every road. One nearest-edge
    query for all points: no per-point snapping or search.
    """
    if len(xy) == 0:
        return np.zeros(0)
    pts = index.proj.to_metric(shapely.points(xy))
    (pi, ei), dist = index.tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(len(xy), np.inf)
    lines = index.lines_m[ei]
    frac = shapely.line_locate_point(lines, pts[pi], normalized=True)
    cost = edge_cost(weight)
    for p, e, f, d in zip(pi, ei, frac, dist, strict=True):
        if d > max_snap_m:
            continue
        u, v, k = index.edges[e]
        best = np.inf
        c = cost(u, v, k, G[u][v][k])
        if c is not None and u in times:
            best = min(best, times[u] + c * f)
        if u != v and G.has_edge(v, u, k):
            c = cost(v, u, k, G[v][u][k])
            if c is not None and v in times:
                best = min(best, times[v] + c * (1 - f))
        out[p] = min(out[p], best)
    return out
