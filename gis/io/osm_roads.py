"""Build a routable, pgRouting-compatible road network from pyrosm's way segments.

``pyrosm.OSM.get_network(nodes=True)`` returns every way cut into two-node segments. Here the
segments of a way are joined back into edges that end only where the graph branches: at a node
shared with another way or visited twice, at the way's ends, or where the segment chain breaks
(clipping). Every ``source``/``target`` is therefore a real graph node (an OSM node id), and
the interior vertices of an edge belong to no other edge.

Costs are travel times in seconds, ``length_m / (speed_kph / 3.6)``; ``reverse_cost`` is −1 on
one-way edges (pgRouting's "no way back"). ``oneway=-1`` ways are reversed so that every
one-way edge points the way traffic flows. Lengths are geodesic on the WGS 84 ellipsoid.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from gis.io.osm_rules import (
    DEFAULT_ROAD_RULES,
    ROAD_CLASS_OF_HIGHWAY,
    RoadRules,
    parse_height_m,
    parse_int,
    parse_length_m,
    parse_speed_kph,
)

__all__ = ["ROAD_TAGS", "build_network", "oneway_direction", "road_class_of"]

# Tags the importer needs as columns of pyrosm's network frame.
ROAD_TAGS = [
    "highway",
    "name",
    "oneway",
    "junction",
    "maxspeed",
    "width",
    "lanes",
    "maxheight",
    "service",
]

_GEOD = Geod(ellps="WGS84")
_FORWARD = {"yes", "true", "1"}
_BACKWARD = {"-1", "reverse"}
_TWO_WAY = {"no", "false", "0", "reversible", "alternating"}


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def road_class_of(highway: Any, service: Any = None) -> str:
    """FireTwin road class of an OSM way (``vocab.ROAD_CLASSES``).

    >>> road_class_of("primary_link"), road_class_of("service", "alley"), road_class_of("x")
    ('primary', 'lane', 'residential')
    """
    if highway == "service" and service == "alley":
        return "lane"
    return ROAD_CLASS_OF_HIGHWAY.get(str(highway), "residential")


def oneway_direction(oneway: Any, junction: Any = None, highway: Any = None) -> int:
    """1 one-way along the way, −1 one-way against it, 0 two-way (OSM's implied rules).

    >>> oneway_direction("yes"), oneway_direction("-1"), oneway_direction(None, "roundabout")
    (1, -1, 1)
    >>> oneway_direction(None, None, "motorway"), oneway_direction("no", "roundabout")
    (1, 0)
    """
    text = str(oneway).strip().lower() if oneway is not None and oneway == oneway else ""
    if text in _FORWARD:
        return 1
    if text in _BACKWARD:
        return -1
    if text in _TWO_WAY:
        return 0
    if junction in ("roundabout", "circular") or highway in ("motorway", "motorway_link"):
        return 1
    return 0


def build_network(
    segments: gpd.GeoDataFrame, *, rules: RoadRules = DEFAULT_ROAD_RULES
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Join pyrosm's segments (``id``, ``u``, ``v``, geometry and tags) into graph edges.

    Returns ``(nodes, edges)``: nodes with ``id`` (OSM node id) and point geometry; edges with
    the ``road_edge`` columns (``source``, ``target``, ``cost``, ``reverse_cost``,
    ``length_m``, ``speed_kph``, ``road_class``, ``name``, ``oneway``, ``width_m``,
    ``maxheight_m``, ``truck_ok``, ``osm_id``) and line geometry, in EPSG:4326. Edge ids are
    left to the database sequence.
    """
    seg = segments[segments["u"].to_numpy() != segments["v"].to_numpy()].reset_index(drop=True)
    if seg.empty:
        empty = gpd.GeoDataFrame({"id": pd.Series(dtype="int64")}, geometry=[], crs=4326)
        return empty, gpd.GeoDataFrame(geometry=[], crs=4326)
    way = seg["id"].to_numpy(dtype=np.int64)
    u = seg["u"].to_numpy(dtype=np.int64)
    v = seg["v"].to_numpy(dtype=np.int64)
    ends, counts = np.unique(np.concatenate([u, v]), return_counts=True)
    degree_v = counts[np.searchsorted(ends, v)]
    # segment i continues segment i-1 when both are of the same way, they chain, and the node
    # between them belongs to nothing else
    cont = np.zeros(len(seg), dtype=bool)
    cont[1:] = (way[1:] == way[:-1]) & (u[1:] == v[:-1]) & (degree_v[:-1] == 2)
    group = np.cumsum(~cont) - 1
    n_edges = int(group[-1]) + 1
    first = np.flatnonzero(~cont)
    last = np.append(first[1:] - 1, len(seg) - 1)

    coords, owner = shapely.get_coordinates(seg.geometry.values, return_index=True)
    starts_seg = np.ones(len(owner), dtype=bool)
    starts_seg[1:] = owner[1:] != owner[:-1]
    # geodesic length of each step between consecutive vertices of a segment
    step = ~starts_seg
    _, _, dist = _GEOD.inv(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
    step_len = np.where(step[1:], dist, 0.0)
    length_m = np.bincount(group[owner[1:]], weights=step_len, minlength=n_edges)
    keep = ~(starts_seg & cont[owner])  # drop the repeated first vertex of continuing segments
    lines = shapely.linestrings(coords[keep], indices=group[owner[keep]])

    attrs = seg.iloc[first].reset_index(drop=True)
    highway = _col(attrs, "highway").to_numpy(dtype=object)
    service = _col(attrs, "service").to_numpy(dtype=object)
    road_class = np.array([road_class_of(h, s) for h, s in zip(highway, service, strict=True)])
    direction = np.array(
        [
            oneway_direction(o, j, h)
            for o, j, h in zip(_col(attrs, "oneway"), _col(attrs, "junction"), highway, strict=True)
        ]
    )
    source, target = u[first].copy(), v[last].copy()
    back = direction < 0
    if back.any():
        lines[back] = shapely.reverse(lines[back])
        source[back], target[back] = target[back], source[back].copy()

    defaults = rules.classes
    speed = np.array(
        [
            s if s is not None else defaults[c].speed_kph
            for s, c in zip(map(parse_speed_kph, _col(attrs, "maxspeed")), road_class, strict=True)
        ],
        dtype=float,
    )
    speed = np.maximum(speed, rules.min_speed_kph)
    width = np.array(
        [
            _width(w, lanes, defaults[c], rules)
            for w, lanes, c in zip(
                _col(attrs, "width"), _col(attrs, "lanes"), road_class, strict=True
            )
        ],
        dtype=float,
    )
    maxheight = np.array([parse_height_m(h) for h in _col(attrs, "maxheight")], dtype=float)
    with np.errstate(invalid="ignore"):
        narrow = np.nan_to_num(width, nan=np.inf) < rules.truck_min_width_m
        low = np.nan_to_num(maxheight, nan=np.inf) < rules.truck_min_height_m
    cost = length_m / (speed / 3.6)
    names = _col(attrs, "name").map(lambda x: None if x is None or x != x else str(x)[:128])
    edges = gpd.GeoDataFrame(
        {
            "source": source,
            "target": target,
            "cost": cost,
            "reverse_cost": np.where(direction != 0, -1.0, cost),
            "length_m": length_m,
            "speed_kph": speed,
            "road_class": road_class,
            "name": names.to_numpy(dtype=object),
            "oneway": direction != 0,
            "width_m": width,
            "maxheight_m": maxheight,
            "truck_ok": ~(narrow | low),
            "osm_id": way[first],
        },
        geometry=lines,
        crs=4326,
    )
    node_ids = np.concatenate([source, target])
    node_pts = np.concatenate([shapely.get_point(lines, 0), shapely.get_point(lines, -1)])
    _, pick = np.unique(node_ids, return_index=True)
    nodes = gpd.GeoDataFrame({"id": node_ids[pick]}, geometry=node_pts[pick], crs=4326)
    return nodes, edges


def _width(width: Any, lanes: Any, defaults: Any, rules: RoadRules) -> float:
    tagged = parse_length_m(width)
    if tagged is not None:
        return tagged
    n = parse_int(lanes)
    if n:
        return n * rules.lane_width_m
    if defaults.lanes:
        return float(defaults.lanes * rules.lane_width_m)
    return float(defaults.width_m) if defaults.width_m is not None else float("nan")
