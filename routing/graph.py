"""Build the road graph from road_edge rows.

Graph contract (osmnx conventions)
----------------------------------
A `networkx.MultiDiGraph` with ``G.graph["crs"] == "EPSG:4326"``.

Nodes
    Keyed by road_edge ``source``/``target`` ids; attributes ``x`` (lon) and ``y`` (lat).
Edges
    Keyed ``(u, v, key)`` where ``key`` is the road_edge ``id``. A two-way road gives two
    edges with the same key, ``(source, target, id)`` and ``(target, source, id)``; a one-way
    road only the first. Attributes:

    ===============  =================================================================
    id               road_edge id (also the key)
    length_m         length in metres
    speed_kph        speed in km/h
    travel_time_s    seconds to drive the edge in this direction (``cost`` forwards,
                     ``reverse_cost`` backwards)
    width_m          clear width, m, or None if unknown
    maxheight_m      clear headroom, m, or None if unlimited/unknown
    slope_pct        grade, %, or None (only when the table has the column)
    road_class       one of trunk … lane, or None
    oneway           True if the road can be driven only from source to target
    closed           True if the road is blocked (road_edge ``blocked``)
    truck_ok         False if a fire engine may not use it (road_edge ``truck_ok``)
    is_fire_lane     True for designated fire lanes (消防车道)
    reversed         True on the back edge of a two-way road
    geometry         shapely LineString in EPSG:4326, running from ``u`` to ``v``
    ===============  =================================================================

Unknown width or headroom means "not restricted" to the weight functions; `routing.fire_lanes`
reports it. The graph is built once and never mutated by the algorithms: closures and
what-ifs are weight functions (`routing.weights`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString

from routing._geo import LocalProjection
from routing._validate import validate_edges_frame, validate_graph
from routing.errors import GraphContractError

__all__ = ["build_graph", "lattice_edges", "lattice_graph", "validate_graph"]

#: Largest mismatch (degrees, ~10 m) tolerated between an edge end and its node; smaller
#: mismatches are closed by moving the geometry's end onto the node.
_END_TOLERANCE_DEG = 1e-4


def build_graph(edges: pd.DataFrame, *, nodes: pd.DataFrame | None = None) -> nx.MultiDiGraph:
    """
    Build the routable road graph from road_edge-shaped rows.

    Parameters
    ----------
    edges
        A (Geo)DataFrame with road_edge columns: ``id``, ``source``, ``target``,
        ``length_m``, ``cost`` and/or ``speed_kph``, and a LineString geometry column
        (``geometry`` or ``geom``; shapely objects, WKB or WKT). Optional: ``reverse_cost``
        (negative = one-way, as pgRouting), ``oneway``, ``width_m``, ``maxheight_m``,
        ``slope_pct``, ``road_class``, ``name``, ``blocked``, ``truck_ok``,
        ``is_fire_lane``, ``osm_id``. A GeoDataFrame in another CRS is reprojected.
    nodes
        Optional (Geo)DataFrame of nodes: ``id`` column (or the index) and ``x``/``y``
        columns or point geometries. Without it, node positions are taken from the edge
        geometries' ends.

    Returns
    -------
    networkx.MultiDiGraph
        A graph following the contract in this module's docstring.

    Raises
    ------
    GraphContractError
        If a required column is missing, ids repeat, a geometry is not a LineString, a
        travel time cannot be derived, or an edge does not end at its nodes.

    Notes
    -----
    An edge is one-way when ``oneway`` is true or ``reverse_cost`` is negative (the more
    restrictive reading wins). Travel time is ``cost`` (else ``length_m / speed``) forwards
    and ``reverse_cost`` (else the forward time) backwards. Geometries are oriented from
    source to target: a reversed geometry is flipped, and ends within ~10 m of a node are
    moved onto it.

    Examples
    --------
    Two roads, 0 → 1 one-way and 1 ↔ 2 two-way:

    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> rows = gpd.GeoDataFrame(
    ...     {"id": [10, 11], "source": [0, 1], "target": [1, 2], "length_m": [100.0, 100.0],
    ...      "cost": [10.0, 12.0], "reverse_cost": [-1.0, 12.0]},
    ...     geometry=[LineString([(120.0, 30.0), (120.001, 30.0)]),
    ...               LineString([(120.001, 30.0), (120.002, 30.0)])], crs=4326)
    >>> G = build_graph(rows)
    >>> sorted(G.edges(keys=True))
    [(0, 1, 10), (1, 2, 11), (2, 1, 11)]
    >>> G.edges[2, 1, 11]["geometry"].coords[0], G.edges[0, 1, 10]["oneway"]
    ((120.002, 30.0), True)
    """
    frame, geom_col = _edge_frame(edges)
    validate_edges_frame(frame, geom_col)
    coords = _node_coords(nodes) if nodes is not None else {}
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in coords.items():
        G.add_node(n, x=x, y=y)
    lines = _orient_all(frame, geom_col, coords)
    col = _Columns(frame)
    ids, us, vs = col.objects("id"), col.objects("source"), col.objects("target")
    costs, speeds, rcosts = col.floats("cost"), col.floats("speed_kph"), col.floats("reverse_cost")
    oneways = col.flags("oneway", False)
    static = {
        "length_m": col.floats("length_m"),
        "road_class": [None if c is None else str(c) for c in col.objects("road_class")],
        "closed": col.flags("blocked" if "blocked" in frame.columns else "closed", False),
        "truck_ok": col.flags("truck_ok", True),
        "is_fire_lane": col.flags("is_fire_lane", False),
        "width_m": col.floats("width_m"),
        "maxheight_m": col.floats("maxheight_m"),
    }
    if "slope_pct" in frame.columns:
        static["slope_pct"] = col.floats("slope_pct")
    for name in ("name", "osm_id"):
        if name in frame.columns:
            static[name] = col.objects(name)
    back_lines = shapely.reverse(lines)
    for i, (eid, u, v) in enumerate(zip(ids, us, vs, strict=True)):
        for n in (u, v):
            if n not in G:
                G.add_node(n, x=coords[n][0], y=coords[n][1])
        length, cost, speed, rcost = static["length_m"][i], costs[i], speeds[i], rcosts[i]
        if cost is None:
            if not speed or speed <= 0:
                msg = f"Edge {eid}: no cost and no positive speed_kph to derive a travel time."
                raise GraphContractError(msg)
            cost = length / (speed / 3.6)
        if cost < 0:
            msg = f"Edge {eid}: cost must be non-negative, got {cost}."
            raise GraphContractError(msg)
        if speed is None:
            speed = length / cost * 3.6 if cost > 0 else 0.0
        oneway = oneways[i] or (rcost is not None and rcost < 0)
        attrs: dict[str, Any] = {name: values[i] for name, values in static.items()}
        attrs.update(id=eid, speed_kph=speed, oneway=oneway)
        G.add_edge(u, v, key=eid, **attrs, travel_time_s=cost, reversed=False, geometry=lines[i])
        if not oneway and u != v:
            back = cost if rcost is None or rcost < 0 else rcost
            G.add_edge(
                v, u, key=eid, **attrs, travel_time_s=back, reversed=True, geometry=back_lines[i]
            )
    return G


def lattice_edges(
    rows: int,
    cols: int,
    *,
    spacing_m: float = 100.0,
    speed_kph: float = 36.0,
    width_m: float = 7.0,
    origin: tuple[float, float] = (120.58, 30.08),
) -> gpd.GeoDataFrame:
    """
    Road_edge rows of a synthetic ``rows × cols`` street lattice (for tests and examples).

    Node ``r * cols + c`` sits ``c * spacing_m`` east and ``r * spacing_m`` south of
    `origin` (row 0 is the northern row). Edge ids are 1, 2, … in row-major order, the
    east-going edge of a node before its south-going edge. All roads are two-way; with the
    defaults each edge is 100 m long and takes 10 s.

    Examples
    --------
    >>> e = lattice_edges(2, 2)
    >>> e[["id", "source", "target"]].to_numpy().tolist()
    [[1, 0, 1], [2, 0, 2], [3, 1, 3], [4, 2, 3]]
    >>> e["cost"].tolist()
    [10.0, 10.0, 10.0, 10.0]
    """
    proj = LocalProjection(*origin)
    xy = {r * cols + c: (c * spacing_m, -r * spacing_m) for r in range(rows) for c in range(cols)}
    pairs = []
    for r in range(rows):
        for c in range(cols):
            n = r * cols + c
            if c + 1 < cols:
                pairs.append((n, n + 1))
            if r + 1 < rows:
                pairs.append((n, n + cols))
    lines = np.array([LineString([xy[a], xy[b]]) for a, b in pairs], dtype=object)
    cost = spacing_m / (speed_kph / 3.6)
    n_edges = len(pairs)
    return gpd.GeoDataFrame(
        {
            "id": np.arange(1, n_edges + 1),
            "source": [a for a, _ in pairs],
            "target": [b for _, b in pairs],
            "cost": [cost] * n_edges,
            "reverse_cost": [cost] * n_edges,
            "length_m": [spacing_m] * n_edges,
            "speed_kph": [speed_kph] * n_edges,
            "road_class": ["residential"] * n_edges,
            "width_m": [width_m] * n_edges,
            "maxheight_m": [None] * n_edges,
            "blocked": [False] * n_edges,
            "truck_ok": [True] * n_edges,
            "is_fire_lane": [False] * n_edges,
        },
        geometry=list(proj.to_lonlat(lines)),
        crs="EPSG:4326",
    )


def lattice_graph(rows: int, cols: int, **kwargs: Any) -> nx.MultiDiGraph:
    """
    The graph of `lattice_edges` (same arguments).

    Examples
    --------
    A 2 × 3 lattice (edge ids in brackets)::

        0 -[1]- 1 -[3]- 2
        |       |       |
       [2]     [4]     [5]
        |       |       |
        3 -[6]- 4 -[7]- 5

    >>> G = lattice_graph(2, 3)
    >>> G.number_of_nodes(), G.number_of_edges()
    (6, 14)
    >>> G.edges[0, 1, 1]["travel_time_s"], G.edges[4, 1, 4]["length_m"]
    (10.0, 100.0)
    """
    return build_graph(lattice_edges(rows, cols, **kwargs))


# --------------------------------------------------------------------------------- helpers


def _edge_frame(edges: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(edges, gpd.GeoDataFrame) and edges._geometry_column_name in edges.columns:
        if edges.crs is not None and not edges.crs.equals("EPSG:4326"):
            edges = edges.to_crs("EPSG:4326")
        geom_col = edges.geometry.name
        return pd.DataFrame(edges), geom_col
    geom_col = "geometry" if "geometry" in edges.columns else "geom"
    frame = pd.DataFrame(edges)
    if geom_col in frame.columns:
        frame[geom_col] = _as_geoms(frame[geom_col].to_numpy())
    return frame, geom_col


def _as_geoms(values: np.ndarray) -> np.ndarray:
    """Shapely geometries from shapely objects, WKB (bytes or hex) or WKT."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, bytes | bytearray | memoryview):
            out[i] = shapely.from_wkb(bytes(v))
        elif isinstance(v, str):
            out[i] = shapely.from_wkt(v) if v[:1].isalpha() else shapely.from_wkb(v)
        else:
            out[i] = v
    return out


def _node_coords(nodes: pd.DataFrame) -> dict[Hashable, tuple[float, float]]:
    if (
        isinstance(nodes, gpd.GeoDataFrame)
        and nodes.crs is not None
        and not nodes.crs.equals("EPSG:4326")
    ):
        nodes = nodes.to_crs("EPSG:4326")
    ids = nodes["id"].to_numpy() if "id" in nodes.columns else nodes.index.to_numpy()
    if {"x", "y"} <= set(nodes.columns):
        xs, ys = nodes["x"].to_numpy(float), nodes["y"].to_numpy(float)
    else:
        col = "geometry" if "geometry" in nodes.columns else "geom"
        if col not in nodes.columns:
            msg = "Node table needs x/y columns or a point geometry column."
            raise GraphContractError(msg)
        pts = _as_geoms(nodes[col].to_numpy())
        xs, ys = shapely.get_x(pts), shapely.get_y(pts)
    return {_py(n): (float(x), float(y)) for n, x, y in zip(ids, xs, ys, strict=True)}


def _orient_all(
    frame: pd.DataFrame, geom_col: str, coords: dict[Hashable, tuple[float, float]]
) -> np.ndarray:
    """Geometries oriented source → target with their ends exactly on the nodes.

    Nodes not yet placed take the position of the first geometry end that reaches them.
    """
    lines = frame[geom_col].to_numpy()
    first = shapely.get_coordinates(shapely.get_point(lines, 0))
    last = shapely.get_coordinates(shapely.get_point(lines, -1))
    ids = frame["id"].tolist()
    out = lines.copy()
    for i, (u, v) in enumerate(
        zip(frame["source"].map(_py), frame["target"].map(_py), strict=True)
    ):
        start, end = (first[i, 0], first[i, 1]), (last[i, 0], last[i, 1])
        ku, kv = coords.get(u), coords.get(v)
        flip = False
        if u != v and (ku is not None or kv is not None):
            fwd = (_d(start, ku) if ku else 0.0) + (_d(end, kv) if kv else 0.0)
            rev = (_d(end, ku) if ku else 0.0) + (_d(start, kv) if kv else 0.0)
            if rev < fwd:
                flip, start, end = True, end, start
        for n, xy in ((u, start), (v, end)):
            known = coords.setdefault(n, (float(xy[0]), float(xy[1])))
            if _d(xy, known) > _END_TOLERANCE_DEG:
                msg = (
                    f"Edge {ids[i]} does not end at node {n!r} (its end is {xy}, the node {known})."
                )
                raise GraphContractError(msg)
        if flip or start != coords[u] or end != coords[v]:
            c = shapely.get_coordinates(lines[i])
            if flip:
                c = c[::-1].copy()
            c[0], c[-1] = coords[u], coords[v]
            out[i] = LineString(c)
    return out


class _Columns:
    """Column values as Python lists with nulls as None (absent columns: all None)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame, self.n = frame, len(frame)

    def objects(self, name: str) -> list[Any]:
        if name not in self.frame.columns:
            return [None] * self.n
        col = self.frame[name]
        return [None if null else _py(v) for v, null in zip(col.tolist(), col.isna(), strict=True)]

    def floats(self, name: str) -> list[float | None]:
        if name not in self.frame.columns:
            return [None] * self.n
        col = pd.to_numeric(self.frame[name], errors="coerce")
        return [
            None if null else float(v) for v, null in zip(col.tolist(), col.isna(), strict=True)
        ]

    def flags(self, name: str, default: bool) -> list[bool]:
        if name not in self.frame.columns:
            return [default] * self.n
        col = self.frame[name]
        return [
            default if null else bool(v) for v, null in zip(col.tolist(), col.isna(), strict=True)
        ]


def _d(a: Any, b: Any) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _py(v: Any) -> Any:
    """Numpy scalars to Python scalars (ints stay ints), so node ids hash like the DB's."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, numbers.Integral):
        return int(v)
    return v
