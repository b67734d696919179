"""Precondition checks for `routing`, in one place (as osmnx's ``_validate``).

The graph contract (see `routing.graph`) is checked once, when a graph is built or handed
over; algorithms then run only the cheap checks (`check_graph`, `as_lonlat`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import networkx as nx
import pandas as pd
import shapely
from shapely.geometry import Point

from routing.errors import GraphContractError, RoutingError

__all__ = ["as_lonlat", "check_bands", "check_graph", "validate_edges_frame", "validate_graph"]

REQUIRED_EDGE_COLUMNS = ("id", "source", "target", "length_m")


def check_graph(G: Any) -> None:
    """Raise GraphContractError unless `G` is a MultiDiGraph in EPSG:4326.

    A graph without ``G.graph["crs"]`` is taken to be in EPSG:4326 (`validate_graph`
    requires the attribute); any other CRS is refused.
    """
    if not isinstance(G, nx.MultiDiGraph):
        msg = f"Expected a networkx.MultiDiGraph, got {type(G).__name__}."
        raise GraphContractError(msg)
    crs = str(G.graph.get("crs", "EPSG:4326")).upper()
    if crs not in {"EPSG:4326", "WGS84", "WGS 84", "OGC:CRS84"}:
        msg = f"G.graph['crs'] must be 'EPSG:4326', got {G.graph.get('crs')!r}."
        raise GraphContractError(msg)


def validate_graph(G: Any) -> None:
    """Check the whole graph contract; raise GraphContractError at the first violation.

    Nodes need finite ``x`` (lon) and ``y`` (lat); edges need a non-negative
    ``travel_time_s`` and ``length_m``, and a ``geometry`` (if any) that is a LineString
    running from ``u`` to ``v``.
    """
    check_graph(G)
    if "crs" not in G.graph:
        msg = "G.graph['crs'] must be set (to 'EPSG:4326')."
        raise GraphContractError(msg)
    for n, d in G.nodes(data=True):
        x, y = d.get("x"), d.get("y")
        if not (_finite(x) and _finite(y) and -180 <= x <= 180 and -90 <= y <= 90):
            msg = f"Node {n!r} needs lon/lat attributes x, y in EPSG:4326, got x={x!r}, y={y!r}."
            raise GraphContractError(msg)
    for u, v, k, d in G.edges(keys=True, data=True):
        for attr in ("travel_time_s", "length_m"):
            val = d.get(attr)
            if not (_finite(val) and val >= 0):
                msg = f"Edge {(u, v, k)!r} needs a non-negative {attr}, got {val!r}."
                raise GraphContractError(msg)
        geom = d.get("geometry")
        if geom is None:
            continue
        if geom.geom_type != "LineString" or geom.is_empty:
            msg = f"Edge {(u, v, k)!r} geometry must be a non-empty LineString."
            raise GraphContractError(msg)
        c = shapely.get_coordinates(geom)
        if not (_near(c[0], G.nodes[u]) and _near(c[-1], G.nodes[v])):
            msg = f"Edge {(u, v, k)!r} geometry must run from node {u!r} to node {v!r}."
            raise GraphContractError(msg)


def validate_edges_frame(frame: pd.DataFrame, geom_col: str) -> None:
    """Check a road_edge-shaped frame before it becomes a graph."""
    missing = [c for c in (*REQUIRED_EDGE_COLUMNS, geom_col) if c not in frame.columns]
    if missing:
        msg = f"Edge table is missing columns {missing}; road_edge rows are expected."
        raise GraphContractError(msg)
    if "cost" not in frame.columns and "speed_kph" not in frame.columns:
        msg = "Edge table needs 'cost' (seconds) or 'speed_kph' to derive travel times."
        raise GraphContractError(msg)
    if frame["id"].isna().any() or not frame["id"].is_unique:
        msg = "Edge ids must be present and unique."
        raise GraphContractError(msg)
    if frame[["source", "target"]].isna().any().any():
        msg = "Every edge needs a source and a target node."
        raise GraphContractError(msg)
    lengths = pd.to_numeric(frame["length_m"], errors="coerce")
    if lengths.isna().any() or (lengths < 0).any():
        msg = "length_m must be a non-negative number on every edge."
        raise GraphContractError(msg)
    geoms = frame[geom_col].to_numpy()
    types = shapely.get_type_id(geoms)
    if (types != shapely.GeometryType.LINESTRING).any() or shapely.is_empty(geoms).any():
        bad = frame["id"].to_numpy()[
            (types != shapely.GeometryType.LINESTRING) | shapely.is_empty(geoms)
        ]
        msg = f"Edge geometries must be non-empty LineStrings (edge ids {list(bad[:5])})."
        raise GraphContractError(msg)


def as_lonlat(point: Any) -> tuple[float, float]:
    """A (lon, lat) pair from a 2-sequence or a shapely Point, range-checked."""
    if isinstance(point, Point):
        lon, lat = point.x, point.y
    else:
        try:
            lon, lat = (float(c) for c in point)
        except (TypeError, ValueError):
            msg = f"A point must be (lon, lat) or a shapely Point, got {point!r}."
            raise RoutingError(msg) from None
    if not (_finite(lon) and _finite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"Point ({lon}, {lat}) is not a lon/lat pair in EPSG:4326."
        raise RoutingError(msg)
    return float(lon), float(lat)


def check_bands(bands_s: Iterable[float]) -> tuple[float, ...]:
    """Travel-time bands as a sorted tuple of distinct positive floats."""
    bands = tuple(sorted({float(b) for b in bands_s}))
    if not bands or bands[0] <= 0 or not all(math.isfinite(b) for b in bands):
        msg = f"Bands must be positive finite seconds, got {bands_s!r}."
        raise RoutingError(msg)
    return bands


def _finite(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _near(xy: Any, node: dict[str, Any], tol: float = 1e-5) -> bool:
    return abs(xy[0] - node["x"]) <= tol and abs(xy[1] - node["y"]) <= tol
