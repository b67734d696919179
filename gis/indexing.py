"""H3 and grid indexing of features, in bulk (GeoDataFrames) and one at a time.

Every feature row carries ``h3_r7``, ``h3_r9``, ``h3_r11`` and ``grid_id``. The anchor point of
a feature is the point itself, the middle of a line, or ``point_on_surface`` of a polygon — the
same rule as ``firetwin.anchor_point`` in SQL. Grid assignment here (a vectorised spatial join)
gives the same answer as the database trigger: the ordinary grid with the lowest id whose
polygon intersects the anchor point.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidInputError
from gis.grid import RESOLUTIONS, cells_for_points

__all__ = ["anchor_points", "grid_polygons", "h3_columns", "index_frame", "index_geometry"]


def anchor_points(geoms: np.ndarray | gpd.GeoSeries) -> np.ndarray:
    """The anchor point of each geometry (see the module docstring)."""
    arr = np.asarray(geoms.values if isinstance(geoms, gpd.GeoSeries) else geoms, dtype=object)
    types = shapely.get_type_id(arr)
    out = np.empty(len(arr), dtype=object)
    is_point = types == 0
    is_line = types == 1
    other = ~(is_point | is_line)
    out[is_point] = arr[is_point]
    if is_line.any():
        out[is_line] = shapely.line_interpolate_point(arr[is_line], 0.5, normalized=True)
    if other.any():
        out[other] = shapely.point_on_surface(arr[other])
    return out


def h3_columns(geoms: np.ndarray | gpd.GeoSeries) -> dict[str, np.ndarray]:
    """``{"h3_r7": ..., "h3_r9": ..., "h3_r11": ...}`` for geometries in EPSG:4326."""
    pts = anchor_points(geoms)
    if len(pts) == 0:
        return {f"h3_r{r}": np.empty(0, dtype=np.int64) for r in RESOLUTIONS}
    x = shapely.get_x(pts)
    y = shapely.get_y(pts)
    bad = ~np.isfinite(x) | ~np.isfinite(y) | (np.abs(x) > 180) | (np.abs(y) > 90)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"row {i}: coordinates ({x[i]}, {y[i]}) are not valid longitude/latitude (EPSG:4326)"
        raise InvalidInputError(msg)
    cells = cells_for_points(x, y)
    return {f"h3_r{r}": cells[r] for r in RESOLUTIONS}


def grid_polygons(conn: psycopg.Connection) -> gpd.GeoDataFrame:
    """The ordinary grid polygons (id, geom) from the database."""
    rows = conn.execute(
        "SELECT id, ST_AsBinary(geom) FROM firetwin.grid WHERE kind = 'ordinary' ORDER BY id"
    ).fetchall()
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows]},
        geometry=shapely.from_wkb([bytes(r[1]) for r in rows]) if rows else [],
        crs="EPSG:4326",
    )


def grid_ids(points: np.ndarray, grids: gpd.GeoDataFrame) -> np.ndarray:
    """Grid id per anchor point (nullable Int64), lowest id among intersecting grids."""
    result = pd.array([pd.NA] * len(points), dtype="Int64")
    if len(grids) == 0 or len(points) == 0:
        return result
    tree = shapely.STRtree(grids.geometry.values)
    pidx, gidx = tree.query(points, predicate="intersects")
    if len(pidx):
        ids = grids["id"].to_numpy()[gidx]
        best = pd.Series(ids).groupby(pidx).min()
        result[best.index.to_numpy()] = best.to_numpy()
    return result


def index_frame(gdf: gpd.GeoDataFrame, grids: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` (EPSG:4326) with H3 columns and, if grids given, ``grid_id``."""
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        msg = f"features must be in EPSG:4326 before indexing, got {gdf.crs}"
        raise InvalidInputError(msg)
    out = gdf.copy()
    for name, values in h3_columns(out.geometry).items():
        out[name] = values
    if grids is not None:
        out["grid_id"] = grid_ids(anchor_points(out.geometry), grids)
    return out


def index_geometry(geom: BaseGeometry) -> dict[str, int]:
    """H3 columns of one geometry in EPSG:4326 (grid_id is left to the database trigger)."""
    cols = h3_columns(np.array([geom], dtype=object))
    return {k: int(v[0]) for k, v in cols.items()}
