"""Geometry of the demo world: a local metric frame, conversion to EPSG:4326, geodesy.

Builders work in metres in a transverse Mercator frame centred on Hongshan district
(118.95° E, 42.27° N; x east, y north; scale error under 0.2 % within 400 km of the origin)
and convert to EPSG:4326 when they build their frames. Lengths and distances stored in the
database are geodesic (WGS84 ellipsoid), computed from the converted coordinates.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

ORIGIN_LON = 118.95
ORIGIN_LAT = 42.27
LOCAL_PROJ = (
    f"+proj=tmerc +lat_0={ORIGIN_LAT} +lon_0={ORIGIN_LON} +k=1 +x_0=0 +y_0=0 "
    "+ellps=WGS84 +units=m +no_defs"
)
_GEOD = pyproj.Geod(ellps="WGS84")


@cache
def _to_wgs84() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(pyproj.CRS.from_proj4(LOCAL_PROJ), 4326, always_xy=True)


def lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of local metric coordinates."""
    lon, lat = _to_wgs84().transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon), np.asarray(lat)


def to_wgs84(geoms: np.ndarray) -> np.ndarray:
    """Geometries in local metres converted vertex by vertex to EPSG:4326."""

    def conv(c: np.ndarray) -> np.ndarray:
        lon, lat = lonlat(c[:, 0], c[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(np.asarray(geoms, dtype=object), conv)


def frame(data: dict | pd.DataFrame, geoms_m: np.ndarray) -> gpd.GeoDataFrame:
    """A GeoDataFrame in EPSG:4326 from columns and geometries in local metres."""
    return gpd.GeoDataFrame(pd.DataFrame(data), geometry=to_wgs84(geoms_m), crs=4326)


def point_frame(data: dict | pd.DataFrame, x: np.ndarray, y: np.ndarray) -> gpd.GeoDataFrame:
    """A point GeoDataFrame in EPSG:4326 with the metric coordinates kept as ``_x``/``_y``."""
    lon, lat = lonlat(x, y)
    df = pd.DataFrame(data)
    df["_x"] = np.asarray(x, dtype=float)
    df["_y"] = np.asarray(y, dtype=float)
    return gpd.GeoDataFrame(df, geometry=shapely.points(lon, lat), crs=4326)


def line_lengths_m(lines_wgs84: np.ndarray) -> np.ndarray:
    """Geodesic length (m) of each line in EPSG:4326."""
    coords, idx = shapely.get_coordinates(lines_wgs84, return_index=True)
    same = idx[1:] == idx[:-1]
    _, _, d = _GEOD.inv(
        coords[:-1, 0][same], coords[:-1, 1][same], coords[1:, 0][same], coords[1:, 1][same]
    )
    return np.bincount(idx[:-1][same], weights=d, minlength=len(lines_wgs84))


def distance_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Geodesic distance (m) between point pairs."""
    _, _, d = _GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(d)


def area_km2(polygons_wgs84: np.ndarray) -> np.ndarray:
    """Geodesic area (km²) of polygons in EPSG:4326."""
    return np.array([abs(_GEOD.geometry_area_perimeter(g)[0]) / 1e6 for g in polygons_wgs84])


def rectangles(
    cx: np.ndarray, cy: np.ndarray, length: np.ndarray, width: np.ndarray, angle: np.ndarray
) -> np.ndarray:
    """Rotated rectangles: ``length`` along direction ``angle`` (radians), ``width`` across."""
    ux, uy = np.cos(angle), np.sin(angle)
    vx, vy = -uy, ux
    hl, hw = np.asarray(length) / 2, np.asarray(width) / 2
    corners = []
    for sl, sw in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)):
        corners.append(
            np.column_stack([cx + sl * hl * ux + sw * hw * vx, cy + sl * hl * uy + sw * hw * vy])
        )
    ring = np.stack(corners, axis=1)
    return shapely.polygons(ring)


def polygonal(geom: BaseGeometry) -> Polygon | MultiPolygon | None:
    """The polygonal part of a geometry (overlay results may carry stray lines or points)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in (p.geoms if p.geom_type == "MultiPolygon" else [p])]
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def voronoi_split(parent: BaseGeometry, seeds: np.ndarray) -> list[Polygon | MultiPolygon | None]:
    """Split ``parent`` into the Voronoi cells of ``seeds`` (k × 2), in seed order.

    The cells tile the parent: they share their edges exactly and their union is the parent.
    A cell may be None when its seed's cell misses the parent entirely.
    """
    if len(seeds) == 1:
        return [parent]
    pts = shapely.multipoints(seeds)
    minx, miny, maxx, maxy = parent.bounds
    pad = max(maxx - minx, maxy - miny)
    env = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cells = list(shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=env, ordered=True)))
    if len(cells) != len(seeds):  # duplicate seeds collapse; map each seed to its cell
        tree = shapely.STRtree(cells)
        idx = tree.query(shapely.points(seeds), predicate="intersects")
        first = pd.Series(idx[1]).groupby(idx[0]).min()
        cells = [cells[first[i]] if i in first.index else None for i in range(len(seeds))]
    out = []
    for c in cells:
        out.append(None if c is None else polygonal(shapely.intersection(c, parent)))
    return out


def random_points(
    rng: np.random.Generator, polygon: BaseGeometry, n: int, *, max_tries: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform random points inside a polygon (rejection sampling from its bounds)."""
    minx, miny, maxx, maxy = polygon.bounds
    shapely.prepare(polygon)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    frac = max(polygon.area / max((maxx - minx) * (maxy - miny), 1e-9), 0.02)
    for _ in range(max_tries):
        m = int((n - have) / frac * 1.3) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(polygon, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        have += int(ok.sum())
        if have >= n:
            break
    x = np.concatenate(xs)[:n]
    y = np.concatenate(ys)[:n]
    return x, y


def inside(polygon: BaseGeometry, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of points inside a polygon."""
    shapely.prepare(polygon)
    return shapely.contains_xy(polygon, np.asarray(x, dtype=float), np.asarray(y, dtype=float))
