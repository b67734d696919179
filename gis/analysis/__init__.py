"""Spatial analysis of hazards: density clusters, Gi* hot spots, associations and trends.

Pure functions on arrays and (Geo)DataFrames: no SQL, no HTTP (the database glue is
``services/workflows/hotspots.py``).
"""

from gis.analysis.associations import cooccurrence, mann_kendall, monthly_counts, trends
from gis.analysis.clusters import (
    ClusterRules,
    classify_clusters,
    cluster_polygons,
    dbscan_labels,
    metric_crs,
    project_xy,
)
from gis.analysis.hotspots import bh_fdr, cells_for_polygon, gi_star, h3_neighbours, hotspot_frame

__all__ = [
    "ClusterRules",
    "bh_fdr",
    "cells_for_polygon",
    "classify_clusters",
    "cluster_polygons",
    "cooccurrence",
    "dbscan_labels",
    "gi_star",
    "h3_neighbours",
    "hotspot_frame",
    "mann_kendall",
    "metric_crs",
    "monthly_counts",
    "project_xy",
    "trends",
]
