"""Fire-lane checks per building: truck access, high-rise lanes, dead ends, hydrants.

Distances are measured in a transverse Mercator projection centred on the graph
(`routing._geo`). The *gap* between a building and a road is the distance from the
footprint to the road's edge (centre line minus half its width; the centre line when the
width is unknown). Hydrant distances are straight lines from hydrant to footprint, the
usual stand-in for the protection radius of GB 50974-2014 §7.2.5.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import Point
from shapely.strtree import STRtree

from routing._validate import as_lonlat, check_graph
from routing.settings import DEFAULTS, RoutingSettings
from routing.snap import SnapIndex
from routing.topology import (
    AccessTree,
    access_tree,
    dead_ends,
    lacking_turnarounds,
    passable_view,
    shared_bridge,
    single_access_roads,
)
from routing.weights import edge_cost, is_open, truck_weight

__all__ = [
    "PROBLEM_LABELS",
    "BuildingReport",
    "Problem",
    "check_buildings",
    "dead_ends",
    "single_access_roads",
]

PROBLEM_LABELS: dict[str, str] = {
    "NO_TRUCK_ACCESS": "消防车无法通达",
    "HIGHRISE_NO_LANE": "高层建筑无消防车道",
    "DEAD_END_NO_TURNAROUND": "尽头式消防车道无回车场",
    "TURNAROUND_TOO_SMALL": "回车场尺寸不足",
    "SINGLE_ACCESS": "仅一条道路连通",
    "LANE_BLOCKED": "消防车道被占用或封闭",
    "LANE_TOO_NARROW": "消防车道净宽不足",
    "LANE_LOW_CLEARANCE": "消防车道净空高度不足",
    "LANE_TOO_STEEP": "消防车道坡度过大",
    "LANE_TRUCK_RESTRICTED": "消防车道限制消防车通行",
    "LANE_TOO_CLOSE": "消防车道距建筑外墙过近",
    "NO_HYDRANT_IN_RANGE": "保护半径内无市政消火栓",
}
"""Problem code -> short Chinese label."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: a stable code, an English message and a short Chinese label."""

    code: str
    message: str
    label_zh: str
    edges: tuple[Hashable, ...] = ()
    """Road ids concerned."""
    nodes: tuple[Hashable, ...] = ()
    """Graph nodes concerned (dead ends)."""


@dataclass(frozen=True, slots=True)
class BuildingReport:
    """Fire access of one building."""

    building_id: Hashable
    high_rise: bool
    truck_access: bool
    """A truck-passable road reachable from the network lies within the access distance."""
    access_gap_m: float | None
    """Gap to the nearest such road, metres."""
    access_edges: tuple[Hashable, ...]
    """Road ids giving access, nearest first."""
    hydrants_in_range: int | None
    """Hydrants within the protection radius (None when no hydrants were given)."""
    nearest_hydrant_m: float | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """True if nothing was found."""
        return not self.problems


def check_buildings(
    G: nx.MultiDiGraph,
    buildings: pd.DataFrame,
    *,
    hydrants: Iterable[Any] | None = None,
    sources: Collection[Hashable] | None = None,
    turnarounds: Mapping[Hashable, float] | None = None,
    heavy_apparatus: bool = False,
    closed_edges: Collection[Hashable] = frozenset(),
    settings: RoutingSettings = DEFAULTS,
    index: SnapIndex | None = None,
) -> list[BuildingReport]:
    """
    Check fire-engine access to each building and list the problems found.

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    buildings
        (Geo)DataFrame of footprints (Polygon/MultiPolygon, EPSG:4326 or reprojected) with
        optional ``id`` (else the index), ``height_m`` and ``use`` columns.
    hydrants
        Hydrant points: a GeoDataFrame/GeoSeries, or (lon, lat) pairs / Points; None skips
        the hydrant check.
    sources
        Nodes trucks come from (stations). Default: the largest strongly connected part of
        the truck-passable network.
    turnarounds
        Dead-end node -> side of its turnaround, metres. Dead ends not listed have none.
    heavy_apparatus
        Require the 18 × 18 m turnaround for heavy fire engines.
    closed_edges
        Road ids to treat as closed (what-if), as in `routing.weights.truck_weight`.
    settings
        Thresholds: truck width/headroom, slope, access distances, high-rise heights,
        turnaround sizes, lane-to-wall gap, hydrant radius (`routing.settings`).
    index
        `routing.snap.SnapIndex` of `G` (built here if None).

    Returns
    -------
    list of BuildingReport
        In the order of `buildings`. Problem codes are the keys of `PROBLEM_LABELS`:
        ``NO_TRUCK_ACCESS``, ``HIGHRISE_NO_LANE`` (high-rise: > 27 m residential, > 24 m
        other, GB 50016-2014 §5.1.1), ``DEAD_END_NO_TURNAROUND``/``TURNAROUND_TOO_SMALL``
        (§7.1.9), ``SINGLE_ACCESS`` (all access behind one bridge, §7.1.9), lane defects on
        designated fire lanes near the building, or on every nearby road when there is no
        access (``LANE_BLOCKED``, ``LANE_TOO_NARROW``, ``LANE_LOW_CLEARANCE``,
        ``LANE_TOO_STEEP``, ``LANE_TRUCK_RESTRICTED``; §7.1.8), ``LANE_TOO_CLOSE`` (fire lane
        edge < 5 m from the wall, §7.1.8) and ``NO_HYDRANT_IN_RANGE`` (GB 50974-2014 §7.2.5).

    Examples
    --------
    A 30 m residential tower [B] beside the spur 1 - 2 of a block (100 m edges)::

        0 ------- 1 ------- 2
        |         |      [B]
        3 ------- 4

    >>> from shapely.geometry import box
    >>> from routing.graph import build_graph, lattice_edges
    >>> e = lattice_edges(2, 3)
    >>> G = build_graph(e[~e.id.isin([5, 7])])
    >>> x, y = G.nodes[2]["x"], G.nodes[2]["y"]
    >>> b = gpd.GeoDataFrame({"id": [7], "height_m": [30.0], "use": ["residential"]},
    ...     geometry=[box(x - 0.0003, y - 0.0002, x - 0.0001, y - 0.0001)], crs=4326)
    >>> [r] = check_buildings(G, b)
    >>> r.truck_access, r.high_rise, r.access_edges, [p.code for p in r.problems]
    (True, True, (3,), ['DEAD_END_NO_TURNAROUND', 'SINGLE_ACCESS'])
    >>> print(r.problems[1].message)
    All truck access depends on the road between nodes 1 and 2; closing it cuts off 1 node.
    >>> [r] = check_buildings(G, b, turnarounds={2: 15.0}, hydrants=[(x, y)])
    >>> [p.code for p in r.problems], r.hydrants_in_range
    (['SINGLE_ACCESS'], 1)
    """
    check_graph(G)
    s = settings
    weight = truck_weight(
        min_width_m=s.truck_min_width_m,
        min_height_m=s.truck_min_height_m,
        closed_edges=closed_edges,
    )
    cost = edge_cost(weight)
    index = index if index is not None else SnapIndex(G)
    proj, turnarounds = index.proj, turnarounds or {}
    frame = _footprints(buildings)
    tree = access_tree(passable_view(G, weight=weight))
    reached = _reached(G, weight, sources)
    hydrant_tree = _hydrant_tree(hydrants, proj) if hydrants is not None else None
    closed = frozenset(closed_edges)
    reports = []
    for bid, geom, height, use in frame:
        fp = proj.to_metric(geom)
        high = height is not None and height > (
            s.highrise_residential_m if use == "residential" else s.highrise_other_m
        )
        found: dict[tuple[str, Hashable], Problem] = {}
        access: list[tuple[float, Hashable, Hashable, Hashable]] = []
        blocked_near: list[tuple[str, Hashable, str]] = []
        near = index.tree.query(fp, predicate="dwithin", distance=s.lane_access_distance_m)
        for i in np.sort(near):
            u, v, k = index.edges[i]
            d = G[u][v][k]
            eid = d.get("id", k)
            width = d.get("width_m")
            gap = max(0.0, fp.distance(index.lines_m[i]) - (width / 2 if width else 0.0))
            fwd = cost(u, v, k, d) is not None
            back = u != v and G.has_edge(v, u, k) and cost(v, u, k, G[v][u][k]) is not None
            defects = _defects(d, eid, closed, s)
            if (fwd and u in reached) or (back and v in reached):
                access.append((gap, eid, u, v))
            elif fwd or back:
                blocked_near.append(("", eid, f"road {eid} cannot be reached from the network"))
            blocked_near += [(code, eid, text) for code, text in defects]
            if d.get("is_fire_lane"):
                for code, text in defects:
                    found[(code, eid)] = _problem(code, f"Fire lane {text}.", edges=(eid,))
                if gap < s.lane_min_wall_distance_m:
                    found[("LANE_TOO_CLOSE", eid)] = _problem(
                        "LANE_TOO_CLOSE",
                        f"Fire lane {eid} is {gap:.1f} m from the wall "
                        f"(at least {s.lane_min_wall_distance_m:g} m).",
                        edges=(eid,),
                    )
        access.sort(key=lambda a: (round(a[0], 2), _id_key(a[1])))  # cm, then road id
        if not access:
            why = "; ".join(text for _, _, text in blocked_near[:3]) or "no road nearby"
            found[("NO_TRUCK_ACCESS", None)] = _problem(
                "NO_TRUCK_ACCESS",
                f"No truck-passable road within {s.lane_access_distance_m:g} m ({why}).",
            )
            for code, eid, text in blocked_near:
                if code:
                    found.setdefault((code, eid), _problem(code, f"Nearby {text}.", edges=(eid,)))
        else:
            if high and access[0][0] > s.highrise_access_distance_m:
                found[("HIGHRISE_NO_LANE", None)] = _problem(
                    "HIGHRISE_NO_LANE",
                    f"High-rise ({height:g} m) has no truck-passable lane within "
                    f"{s.highrise_access_distance_m:g} m (nearest {access[0][0]:.0f} m).",
                )
            required = (
                s.turnaround_heavy_m
                if heavy_apparatus
                else s.turnaround_highrise_m
                if high
                else s.turnaround_m
            )
            for p in _dead_end_problems(tree, access, turnarounds, required):
                found[(p.code, p.nodes)] = p
            single = _single_access(tree, access)
            if single is not None:
                found[("SINGLE_ACCESS", None)] = single
        hyd_n, hyd_m = None, None
        if hydrant_tree is not None:
            hyd_n, hyd_m = _hydrants(hydrant_tree, fp, s.hydrant_radius_m)
            if hyd_n == 0:
                nearest = f"nearest {hyd_m:.0f} m" if hyd_m is not None else "none given"
                found[("NO_HYDRANT_IN_RANGE", None)] = _problem(
                    "NO_HYDRANT_IN_RANGE",
                    f"No hydrant within {s.hydrant_radius_m:g} m ({nearest}).",
                )
        reports.append(
            BuildingReport(
                building_id=bid,
                high_rise=high,
                truck_access=bool(access),
                access_gap_m=access[0][0] if access else None,
                access_edges=tuple(dict.fromkeys(a[1] for a in access)),
                hydrants_in_range=hyd_n,
                nearest_hydrant_m=hyd_m,
                problems=tuple(found.values()),
            )
        )
    return reports


# --------------------------------------------------------------------------------- helpers


def _id_key(eid: Any) -> tuple[int, Any]:
    return (0, eid) if isinstance(eid, int | float) else (1, str(eid))


def _problem(code: str, message: str, **refs: Any) -> Problem:
    return Problem(code, message, PROBLEM_LABELS[code], **refs)


def _defects(
    d: Mapping[str, Any], eid: Hashable, closed: frozenset[Hashable], s: RoutingSettings
) -> list[tuple[str, str]]:
    out = []
    if not is_open(d, eid, closed):
        out.append(("LANE_BLOCKED", f"road {eid} is blocked"))
    width, height, slope = d.get("width_m"), d.get("maxheight_m"), d.get("slope_pct")
    if width is not None and width < s.truck_min_width_m:
        out.append(
            ("LANE_TOO_NARROW", f"road {eid} is {width:g} m wide (< {s.truck_min_width_m:g} m)")
        )
    if height is not None and height < s.truck_min_height_m:
        out.append(
            (
                "LANE_LOW_CLEARANCE",
                f"road {eid} has {height:g} m headroom (< {s.truck_min_height_m:g} m)",
            )
        )
    if slope is not None and abs(slope) > s.max_slope_pct:
        out.append(
            ("LANE_TOO_STEEP", f"road {eid} has a {abs(slope):g} % grade (> {s.max_slope_pct:g} %)")
        )
    if d.get("truck_ok") is False and not out:
        out.append(
            ("LANE_TRUCK_RESTRICTED", f"road {eid} is closed to fire engines (truck_ok false)")
        )
    return out


def _dead_end_problems(
    tree: AccessTree,
    access: list[tuple[float, Hashable, Hashable, Hashable]],
    turnarounds: Mapping[Hashable, float],
    required: float,
) -> list[Problem]:
    lacking = lacking_turnarounds(tree, [(u, v) for *_, u, v in access], turnarounds, required)
    need = f"needs {required:g} × {required:g} m"
    return [
        _problem(
            "DEAD_END_NO_TURNAROUND",
            f"Access is by a dead-end road ending at node {n} without a turnaround ({need}).",
            nodes=(n,),
        )
        if side is None
        else _problem(
            "TURNAROUND_TOO_SMALL",
            f"The turnaround at dead end {n} is {side:g} m ({need}).",
            nodes=(n,),
        )
        for n, side in lacking.items()
    ]


def _single_access(
    tree: AccessTree, access: list[tuple[float, Hashable, Hashable, Hashable]]
) -> Problem | None:
    bridge = shared_bridge(tree, [(u, v) for *_, u, v in access])
    if bridge is None:
        return None
    n = tree.cut_off[bridge]
    return _problem(
        "SINGLE_ACCESS",
        f"All truck access depends on the road between nodes {bridge[0]} and {bridge[1]}; "
        f"closing it cuts off {n} node{'s' if n != 1 else ''}.",
        nodes=bridge,
    )


def _reached(
    G: nx.MultiDiGraph, weight: Any, sources: Collection[Hashable] | None
) -> set[Hashable]:
    if sources is None:
        cost = edge_cost(weight)
        view = nx.subgraph_view(
            G, filter_edge=lambda u, v, k: cost(u, v, k, G[u][v][k]) is not None
        )
        sources = max(nx.strongly_connected_components(view), key=len, default=set())
    if not sources:
        return set()
    return set(nx.multi_source_dijkstra_path_length(G, set(sources), weight=weight))


def _footprints(buildings: pd.DataFrame) -> list[tuple[Hashable, Any, float | None, str]]:
    if isinstance(buildings, gpd.GeoDataFrame):
        if buildings.crs is not None and not buildings.crs.equals("EPSG:4326"):
            buildings = buildings.to_crs("EPSG:4326")
        geoms = buildings.geometry.to_numpy()
    else:
        geoms = buildings["geometry" if "geometry" in buildings.columns else "geom"].to_numpy()
    ids = buildings["id"].tolist() if "id" in buildings.columns else buildings.index.tolist()
    heights = (
        buildings["height_m"].tolist() if "height_m" in buildings.columns else [None] * len(ids)
    )
    uses = buildings["use"].tolist() if "use" in buildings.columns else ["other"] * len(ids)
    return [
        (bid, g, None if h is None or pd.isna(h) else float(h), str(u))
        for bid, g, h, u in zip(ids, geoms, heights, uses, strict=True)
    ]


def _hydrant_tree(hydrants: Iterable[Any], proj: Any) -> STRtree:
    if isinstance(hydrants, gpd.GeoDataFrame | gpd.GeoSeries):
        if hydrants.crs is not None and not hydrants.crs.equals("EPSG:4326"):
            hydrants = hydrants.to_crs("EPSG:4326")
        pts = list(hydrants.geometry if isinstance(hydrants, gpd.GeoDataFrame) else hydrants)
    else:
        pts = [Point(as_lonlat(h)) for h in hydrants]
    return STRtree(
        proj.to_metric(np.array(pts, dtype=object)) if pts else np.array([], dtype=object)
    )


def _hydrants(tree: STRtree, fp: Any, radius_m: float) -> tuple[int, float | None]:
    if len(tree.geometries) == 0:
        return 0, None
    n = len(tree.query(fp, predicate="dwithin", distance=radius_m))
    _, dist = tree.query_nearest(fp, return_distance=True)
    return n, float(dist[0])
