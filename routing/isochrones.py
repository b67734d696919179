"""Per-station drive-time rings and first-due area polygons (for maps and published layers).

Both are road corridors, not hulls: the roads reached (in time, or first) buffered by
`buffer_m` metres in the transverse Mercator projection of the `SnapIndex` and returned in
EPSG:4326. Rings are the differences of consecutive `routing.coverage.band_polygons`
(0–240 s, 240–300 s, 300–480 s by default); a station's rings do not overlap each other, but
rings of neighbouring stations do.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.ops import substring

from routing._validate import check_bands
from routing.coverage import band_polygons, first_due_areas
from routing.settings import DEFAULTS
from routing.snap import Location, SnapIndex
from routing.weights import TRUCK, Weight, edge_cost

__all__ = ["FirstDueArea", "Ring", "first_due_polygons", "station_rings"]


@dataclass(frozen=True, slots=True)
class Ring:
    """The area one station reaches after `from_s` and within `to_s` seconds of driving."""

    station_id: Hashable
    from_s: float
    to_s: float
    area_km2: float
    geometry: Polygon | MultiPolygon
    """EPSG:4326; never empty (empty rings are left out)."""


@dataclass(frozen=True, slots=True)
class FirstDueArea:
    """The roads a station reaches before any other, as a corridor polygon."""

    station_id: Hashable
    nodes: int
    """Graph nodes in the area."""
    area_km2: float
    geometry: Polygon | MultiPolygon
    """EPSG:4326; empty when the station reaches no node first."""


def station_rings(
    G: nx.MultiDiGraph,
    stations: Mapping[Hashable, Location],
    *,
    bands_s: Iterable[float] = DEFAULTS.coverage_bands_s,
    weight: Weight = TRUCK,
    buffer_m: float = DEFAULTS.band_buffer_m,
    index: SnapIndex,
) -> list[Ring]:
    """
    Drive-time rings of every station: 0 to the first band, then between consecutive bands.

    Parameters
    ----------
    G, stations, bands_s, weight, buffer_m
        As in `routing.coverage.band_polygons`.
    index
        `routing.snap.SnapIndex` of `G` (its projection measures the areas).

    Returns
    -------
    list of Ring
        By station (in the order given), then band; empty rings left out.

    Raises
    ------
    SnapError
        If a station is off the passable network.

    Examples
    --------
    A station at node 0 of a 1 × 4 line of 100 m, 10 s roads; bands 10 s and 25 s::

        S ====== 1 ------ 2 ---.. 3

    >>> from routing.graph import lattice_graph
    >>> G = lattice_graph(1, 4)
    >>> rings = station_rings(G, {"S": 0}, bands_s=(10, 25), buffer_m=10, index=SnapIndex(G))
    >>> [(r.from_s, r.to_s, round(r.area_km2 * 1e6, -2)) for r in rings]
    [(0.0, 10.0, 2300.0), (10.0, 25.0, 3000.0)]
    """
    bands = check_bands(bands_s)
    out = []
    for sid, loc in stations.items():
        polys = band_polygons(G, {sid: loc}, bands_s=bands, weight=weight, buffer_m=buffer_m,
                              index=index)
        inner: Polygon | MultiPolygon = Polygon()
        lower = 0.0
        for band in bands:
            outer = polys[band]
            ring = outer.difference(inner) if not inner.is_empty else outer
            if not ring.is_empty:
                area = float(index.proj.to_metric(ring).area) / 1e6
                out.append(Ring(sid, lower, band, round(area, 4), _polygonal(ring)))
            inner, lower = outer, band
    return out


def first_due_polygons(
    G: nx.MultiDiGraph,
    stations: Mapping[Hashable, Location],
    *,
    weight: Weight = TRUCK,
    buffer_m: float = DEFAULTS.band_buffer_m,
    index: SnapIndex,
) -> tuple[list[FirstDueArea], int]:
    """
    First-due areas (`routing.coverage.first_due_areas`) as road-corridor polygons.

    A road whose two ends belong to one station is that station's; a road between two
    areas (or to a node no station reaches) is split at its middle. Roads hidden by `weight`
    in both directions are left out.

    Returns
    -------
    areas, unreached
        One `FirstDueArea` per station (in the order given) and the number of graph nodes
        no station reaches.

    Examples
    --------
    Stations at both ends of a 1 × 4 line of 100 m roads::

        A ------ 1 ---|--- 2 ------ B

    >>> from routing.graph import lattice_graph
    >>> G = lattice_graph(1, 4)
    >>> areas, unreached = first_due_polygons(G, {"A": 0, "B": 3}, buffer_m=10,
    ...                                       index=SnapIndex(G))
    >>> [(a.station_id, a.nodes, round(a.area_km2 * 1e6, -2)) for a in areas], unreached
    ([('A', 2, 3300.0), ('B', 2, 3300.0)], 0)
    """
    areas, unreachable = first_due_areas(G, stations, weight=weight, index=index)
    owner = {n: sid for sid, nodes in areas.items() for n in nodes}
    cost = edge_cost(weight)
    lines: dict[Hashable, list[LineString]] = {sid: [] for sid in areas}
    seen: set[tuple[frozenset, Hashable]] = set()
    for u, v, k, d in G.edges(keys=True, data=True):
        key = (frozenset((u, v)), k)
        if key in seen or (cost(u, v, k, d) is None and not (
            G.has_edge(v, u, k) and cost(v, u, k, G[v][u][k]) is not None
        )):
            continue
        seen.add(key)
        a, b = owner.get(u), owner.get(v)
        if a is None and b is None:
            continue
        line = index.line_m(u, v, k)
        if a == b:
            lines[a].append(line)
            continue
        if a is not None:
            lines[a].append(substring(line, 0.0, 0.5, normalized=True))
        if b is not None:
            lines[b].append(substring(line, 0.5, 1.0, normalized=True))
    out = []
    for sid, parts in lines.items():
        parts = [p for p in parts if isinstance(p, LineString) and p.length > 0]
        geom: Polygon | MultiPolygon = Polygon()
        area = 0.0
        if parts:
            metric = shapely.union_all(shapely.buffer(np.array(parts, dtype=object), buffer_m,
                                                      quad_segs=4))
            area = round(float(metric.area) / 1e6, 4)
            geom = _polygonal(index.proj.to_lonlat(metric))
        out.append(FirstDueArea(sid, len(areas[sid]), area, geom))
    return out, len(unreachable)


def _polygonal(geom: shapely.Geometry) -> Polygon | MultiPolygon:
    """The polygons of a difference or union result (stray lines and points dropped)."""
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    polys = [g for g in getattr(geom, "geoms", ()) if isinstance(g, Polygon | MultiPolygon)]
    flat = [p for g in polys for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    return MultiPolygon(flat) if flat else Polygon()
