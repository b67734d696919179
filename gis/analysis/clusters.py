"""Density-based clusters of hazard points, in metres.

Points come in EPSG:4326 and are projected to the UTM zone of their centroid
(:func:`metric_crs`; the CRS travels with the frame, never a literal in the algorithm), where
``eps_m`` is a true distance. :func:`dbscan_labels` is DBSCAN (Ester et al. 1996) on a KD-tree
radius graph: a point with at least ``min_samples`` points (itself included) within ``eps_m`` is a
*core* point; core points within ``eps_m`` of each other share a cluster (connected components
of the core–core graph); a non-core point within ``eps_m`` of a core point joins that core
point's cluster (the nearest-indexed one when several qualify, as any DBSCAN order would);
every other point is noise (label -1). Same partition of core points as
``sklearn.cluster.DBSCAN`` (checked in tests), an order of magnitude faster on 10⁶ points
because the radius graph comes from ``scipy.spatial.cKDTree.query_pairs`` in C and the
components from ``scipy.sparse.csgraph``.

:func:`cluster_polygons` turns labelled points into one polygon per cluster: the convex hull
(or concave hull) of its members buffered by ``buffer_m`` metres, with member count,
category mix, area and density; :func:`classify_clusters` marks clusters of similar hazards
(one category, yellow) and systemic ones (several categories, dense, growing; red) — seed 002:
黄色预警针对同类隐患聚集, 红色预警针对系统性风险.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = [
    "ClusterRules",
    "classify_clusters",
    "cluster_polygons",
    "dbscan_labels",
    "metric_crs",
    "project_xy",
]


def metric_crs(lon: np.ndarray, lat: np.ndarray) -> CRS:
    """The UTM zone (WGS 84) containing the centroid of the points.

    >>> metric_crs(np.array([118.95]), np.array([42.27])).to_epsg()
    32650
    >>> metric_crs(np.array([-70.6]), np.array([-33.4])).to_epsg()
    32719
    """
    if len(lon) == 0:
        msg = "no points: cannot choose a metric CRS"
        raise ValueError(msg)
    lon0, lat0 = float(np.mean(lon)), float(np.mean(lat))
    zone = int((lon0 + 180.0) // 6.0) % 60 + 1
    return CRS.from_epsg((32600 if lat0 >= 0 else 32700) + zone)


def project_xy(frame: gpd.GeoDataFrame, crs: CRS | None = None) -> tuple[np.ndarray, CRS]:
    """Point coordinates of ``frame`` in metres (``crs``, default :func:`metric_crs`), (n, 2)."""
    if frame.crs is None:
        msg = "frame has no CRS: set it (EPSG:4326 for stored hazards) before clustering"
        raise ValueError(msg)
    geo = frame.to_crs(4326) if not frame.crs.equals(CRS.from_epsg(4326)) else frame
    lon, lat = geo.geometry.x.to_numpy(), geo.geometry.y.to_numpy()
    crs = crs or metric_crs(lon, lat)
    xy = shapely.get_coordinates(frame.to_crs(crs).geometry.to_numpy())
    return xy, crs


def dbscan_labels(xy: np.ndarray, *, eps_m: float, min_samples: int) -> np.ndarray:
    """DBSCAN cluster label of every point (-1: noise), clusters numbered 0.. by first member.

    ``xy`` are projected coordinates in metres, shape (n, 2).

    >>> xy = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [50, 50], [100, 0]], dtype=float)
    >>> dbscan_labels(xy, eps_m=1.5, min_samples=3).tolist()
    [0, 0, 0, 0, -1, -1]
    """
    n = len(xy)
    if eps_m <= 0 or min_samples < 1:
        msg = "eps_m must be > 0 and min_samples >= 1"
        raise ValueError(msg)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    pairs = cKDTree(xy).query_pairs(eps_m, output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    degree = np.bincount(np.concatenate([a, b]), minlength=n) + 1  # the point itself counts
    return labels_from_pairs(n, a, b, degree >= min_samples)


def labels_from_pairs(n: int, a: np.ndarray, b: np.ndarray, core: np.ndarray) -> np.ndarray:
    """DBSCAN labels from the pairs closer than eps (``a`` < ``b``) and the core flags.

    Core points joined by a pair share a cluster; a border point (not core, with a core
    neighbour) takes the cluster of its lowest-indexed core neighbour; clusters are numbered
    0.. in order of their first member.
    """
    both = core[a] & core[b]
    graph = coo_matrix((np.ones(int(both.sum()), dtype=np.int8), (a[both], b[both])),
                       shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    labels = np.full(n, -1, dtype=np.int64)
    labels[core] = comp[core]
    for s, t in ((a, b), (b, a)):
        m = ~core[s] & core[t]
        if m.any():
            border, anchor = s[m], t[m]
            order = np.lexsort((anchor, border))  # lowest-indexed core neighbour first
            border, anchor = border[order], anchor[order]
            first = np.r_[True, border[1:] != border[:-1]]
            unset = labels[border[first]] == -1
            labels[border[first][unset]] = comp[anchor[first][unset]]
    used = labels >= 0
    if used.any():
        uniq, first_idx, inv = np.unique(labels[used], return_index=True, return_inverse=True)
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[np.argsort(first_idx, kind="stable")] = np.arange(len(uniq))
        labels[used] = rank[inv]
    return labels


@dataclass(frozen=True, kw_only=True)
class ClusterRules:
    """Thresholds that make a cluster a warning (defaults: FIRETWIN_ANALYSIS_* settings).

    similar (yellow): the dominant category has at least ``similar_min_members`` members and at
    least ``similar_min_share`` of the cluster. systemic (red): at least ``systemic_min_members``
    members from at least ``systemic_min_categories`` categories (each with ≥ 2 members), a
    density of at least ``systemic_min_density_per_km2``, and growth: at least
    ``systemic_min_growth`` times the hazards the previous window had inside the same polygon
    (any count when the previous window had none).
    """

    similar_min_members: int = 5
    similar_min_share: float = 0.6
    systemic_min_members: int = 12
    systemic_min_categories: int = 3
    systemic_min_density_per_km2: float = 500.0
    systemic_min_growth: float = 1.25


def cluster_polygons(
    frame: gpd.GeoDataFrame,
    labels: np.ndarray,
    *,
    xy: np.ndarray,
    crs: CRS,
    buffer_m: float = 15.0,
    hull: str = "convex",
    category_column: str = "category",
) -> gpd.GeoDataFrame:
    """One polygon per cluster label ≥ 0, in EPSG:4326, with its statistics.

    Columns: ``label``, ``members``, ``categories`` (dict category → count), ``n_categories``
    (categories with ≥ 2 members), ``dominant_category``, ``dominant_share``, ``area_m2``,
    ``density_per_km2`` (members per km² of the buffered polygon), ``geometry``. ``xy`` are the
    points' coordinates in ``crs`` (metres), as :func:`project_xy` returns them.
    """
    if hull not in ("convex", "concave"):
        msg = f"hull {hull!r} is not one of: convex, concave"
        raise ValueError(msg)
    cols = ["label", "members", "categories", "n_categories", "dominant_category",
            "dominant_share", "area_m2", "density_per_km2"]
    keep = labels >= 0
    if not keep.any():
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=4326)
    lab = labels[keep]
    order = np.argsort(lab, kind="stable")
    lab, pts = lab[order], xy[keep][order]
    uniq, members = np.unique(lab, return_counts=True)
    group = np.repeat(np.arange(len(uniq)), members)
    multi = shapely.multipoints(pts, indices=group)
    shapes = (shapely.convex_hull(multi) if hull == "convex"
              else shapely.concave_hull(multi, ratio=0.3))
    polys = shapely.buffer(shapes, buffer_m, quad_segs=4)
    area_m2 = shapely.area(polys)
    cats = frame[category_column].to_numpy()[keep][order]
    counts = (pd.DataFrame({"g": group, "c": cats}).groupby(["g", "c"]).size()
              .rename("n").reset_index())
    by_group: list[dict[str, int]] = [{} for _ in uniq]
    for g, c, k in counts.itertuples(index=False):
        by_group[g][c] = int(k)
    dominant = [max(d.items(), key=lambda kv: (kv[1], kv[0])) for d in by_group]
    out = gpd.GeoDataFrame({
        "label": uniq.astype(np.int64),
        "members": members.astype(np.int64),
        "categories": by_group,
        "n_categories": [sum(1 for v in d.values() if v >= 2) for d in by_group],
        "dominant_category": [d[0] for d in dominant],
        "dominant_share": [d[1] / m for d, m in zip(dominant, members, strict=True)],
        "area_m2": area_m2,
        "density_per_km2": members / (area_m2 / 1e6),
    }, geometry=polys, crs=crs)
    return out.to_crs(4326)


def classify_clusters(clusters: pd.DataFrame, rules: ClusterRules) -> pd.DataFrame:
    """Add ``kind`` (similar | systemic | mixed) and ``level`` (yellow | red | None).

    Needs the columns of :func:`cluster_polygons` and ``previous_members`` (hazards of the
    previous window inside the cluster's polygon); adds ``growth`` (members / previous, inf
    when the previous window had none).
    """
    out = clusters.copy()
    prev = out["previous_members"].to_numpy(dtype=float)
    members = out["members"].to_numpy(dtype=float)
    with np.errstate(divide="ignore"):
        growth = np.where(prev > 0, members / np.where(prev > 0, prev, 1), np.inf)
    out["growth"] = growth
    dom_n = out["dominant_share"].to_numpy() * members
    similar = ((dom_n >= rules.similar_min_members - 1e-9)
               & (out["dominant_share"].to_numpy() >= rules.similar_min_share))
    systemic = ((members >= rules.systemic_min_members)
                & (out["n_categories"].to_numpy() >= rules.systemic_min_categories)
                & (out["density_per_km2"].to_numpy() >= rules.systemic_min_density_per_km2)
                & (growth >= rules.systemic_min_growth))
    out["kind"] = np.where(systemic, "systemic", np.where(similar, "similar", "mixed"))
    level = np.where(systemic, "red", np.where(similar, "yellow", ""))
    out["level"] = pd.Series([v or None for v in level.tolist()], index=out.index, dtype=object)
    return out
