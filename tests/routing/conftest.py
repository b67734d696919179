"""Helpers for routing tests: tiny road graphs drawn in metres (no database needed).

Coordinates are given in metres east/north of a fixed origin and converted to lon/lat with
the same local projection the package uses, so "30 m" in a test is 30 m on the ground.
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import networkx as nx
import pytest
from shapely.geometry import LineString, Point, Polygon, box

from routing._geo import LocalProjection
from routing.graph import build_graph

ORIGIN = (120.58, 30.08)
PROJ = LocalProjection(*ORIGIN)


def lonlat(x: float, y: float) -> tuple[float, float]:
    p = PROJ.to_lonlat(Point(x, y))
    return (p.x, p.y)


def footprint(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return PROJ.to_lonlat(box(x0, y0, x1, y1))


def make_graph(
    nodes: dict[Any, tuple[float, float]],
    edges: list[tuple[Any, Any, Any] | tuple[Any, Any, Any, dict[str, Any]]],
) -> nx.MultiDiGraph:
    """Edges ``(id, u, v[, overrides])`` as straight roads at 10 m/s, 7 m wide, two-way.

    Overrides are road_edge columns: ``cost``, ``reverse_cost`` (negative = one-way),
    ``width_m``, ``maxheight_m``, ``blocked``, ``is_fire_lane``, ``truck_ok``, ...
    """
    rows = []
    for e in edges:
        eid, u, v = e[:3]
        extra = e[3] if len(e) > 3 else {}
        (x0, y0), (x1, y1) = nodes[u], nodes[v]
        length = math.hypot(x1 - x0, y1 - y0)
        row = {
            "id": eid,
            "source": u,
            "target": v,
            "length_m": length,
            "cost": length / 10.0,
            "reverse_cost": length / 10.0,
            "speed_kph": 36.0,
            "width_m": 7.0,
            "maxheight_m": None,
            "road_class": "residential",
            "blocked": False,
            "truck_ok": True,
            "is_fire_lane": False,
            "geometry": LineString([lonlat(x0, y0), lonlat(x1, y1)]),
        }
        row.update(extra)
        rows.append(row)
    return build_graph(gpd.GeoDataFrame(rows, geometry="geometry", crs=4326))


def snapshot(G: nx.MultiDiGraph) -> Any:
    """Everything in G, to compare before and after an algorithm."""
    return (
        copy.deepcopy(dict(G.graph)),
        [(n, dict(d)) for n, d in G.nodes(data=True)],
        [
            (u, v, k, {a: (b.wkt if hasattr(b, "wkt") else b) for a, b in d.items()})
            for u, v, k, d in G.edges(keys=True, data=True)
        ],
    )


@pytest.fixture
def geo() -> SimpleNamespace:
    """``geo.graph(nodes, edges)``, ``geo.pt(x, y)``, ``geo.box(...)``, ``geo.snapshot(G)``."""
    return SimpleNamespace(graph=make_graph, pt=lonlat, box=footprint, snapshot=snapshot, proj=PROJ)
