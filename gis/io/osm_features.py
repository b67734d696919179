"""Turn pyrosm's building, POI and boundary frames into rows of FireTwin tables.

Pure functions, no database: each takes a pyrosm GeoDataFrame (EPSG:4326) and returns a
GeoDataFrame with the target table's column names. Codes are ``OSM-`` + N/W/R + the OSM id,
so re-importing the same extract finds its rows again. Metric areas are computed in a
Lambert azimuthal equal-area projection centred on the data (areas are exact in it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.indexing import anchor_points
from gis.io.osm_rules import (
    ADMIN_LEVELS,
    BUILDING_USES,
    EMERGENCY_FACILITIES,
    UNIT_RULES,
    parse_height_m,
    parse_int,
)

__all__ = [
    "POI_FILTER",
    "Tags",
    "buildings_frame",
    "facilities_frame",
    "osm_codes",
    "regions_frame",
    "stations_frame",
    "units_frame",
]

STOREY_HEIGHT_M = 3.0  # height assumed per storey when only building:levels is tagged

# What to ask pyrosm for: every key a unit, station or facility rule looks at.
POI_FILTER: dict[str, Any] = {
    "amenity": True,
    "shop": True,
    "tourism": True,
    "craft": True,
    "healthcare": True,
    "office": True,
    "leisure": True,
    "emergency": True,
    "social_facility": True,
    "man_made": ["works"],
    "industrial": True,
}

_TYPE_LETTER = {"node": "N", "way": "W", "relation": "R"}


class Tags:
    """Tag lookup on a pyrosm frame: its tag columns, then its JSON ``tags`` column."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._extra: pd.Series | None = None

    def _json(self) -> pd.Series:
        if self._extra is None:
            raw = (
                self.frame["tags"]
                if "tags" in self.frame
                else pd.Series(None, index=self.frame.index)
            )
            self._extra = raw.map(_loads)
        return self._extra

    def get(self, key: str) -> pd.Series:
        """The values of tag ``key`` (None where absent)."""
        col = self.frame[key].astype(object) if key in self.frame else None
        from_json = self._json().map(lambda d: d.get(key))
        if col is None:
            return from_json.astype(object)
        return col.where(col.notna(), from_json).astype(object)

    def text(self, key: str) -> pd.Series:
        return _objects(self.get(key).map(_clean))


def _objects(series: pd.Series) -> pd.Series:
    """``series`` as dtype object with None for missing values (pandas may infer NaN)."""
    out = series.astype(object)
    return out.where(out.notna(), None)


def _loads(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            loaded = json.loads(value)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _clean(value: Any) -> str | None:
    if value is None or value != value:
        return None
    text = str(value).strip()
    return text or None


def osm_codes(frame: pd.DataFrame) -> pd.Series:
    """``OSM-N123``, ``OSM-W45``, ``OSM-R6`` from ``osm_type`` and ``id``."""
    kind = frame["osm_type"] if "osm_type" in frame else pd.Series("node", index=frame.index)
    letters = kind.map(lambda k: _TYPE_LETTER.get(str(k), "X"))
    return "OSM-" + letters + frame["id"].astype("int64").astype(str)


def _equal_area_m2(geoms: np.ndarray) -> np.ndarray:
    series = gpd.GeoSeries(geoms, crs=4326)
    if series.empty:
        return np.zeros(0)
    x0, y0, x1, y1 = series.total_bounds
    laea = f"+proj=laea +lat_0={(y0 + y1) / 2} +lon_0={(x0 + x1) / 2} +datum=WGS84 +units=m"
    return series.to_crs(laea).area.to_numpy()


def _valid(geoms: np.ndarray) -> np.ndarray:
    """Geometries made valid (as the loader will store them), so that areas are right."""
    geoms = np.asarray(geoms, dtype=object).copy()
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    return geoms


def _first(*series: pd.Series) -> pd.Series:
    out = series[0]
    for s in series[1:]:
        out = out.where(out.notna(), s)
    return out


def _address(tags: Tags) -> pd.Series:
    parts = [
        tags.text(k) for k in ("addr:city", "addr:district", "addr:street", "addr:housenumber")
    ]
    joined = pd.Series(
        [
            " ".join(p for p in row if isinstance(p, str)) or None
            for row in zip(*parts, strict=True)
        ],
        index=tags.frame.index,
        dtype=object,
    )
    return _first(tags.text("addr:full"), joined).map(lambda a: a[:256] if a else a)


def _names(tags: Tags, fallback: pd.Series, limit: int) -> pd.Series:
    name = _first(tags.text("name"), tags.text("name:zh"), tags.text("brand"), fallback)
    return name.map(lambda s: s[:limit])


# --------------------------------------------------------------------------- buildings


def buildings_frame(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows of ``building`` from pyrosm ``get_buildings``."""
    tags = Tags(frame)
    building = tags.text("building").fillna("yes")
    use = building.map(lambda b: BUILDING_USES.get(b.lower(), "other"))
    # building=yes says nothing: fall back on building:use and what the building houses
    hint = _first(
        tags.text("building:use").map(
            lambda b: BUILDING_USES.get(str(b).lower()), na_action="ignore"
        ),
        tags.text("shop").map(lambda _: "commercial", na_action="ignore"),
        tags.text("office").map(lambda _: "office", na_action="ignore"),
    )
    use = use.where((use != "other") | hint.isna(), hint)
    floors = tags.get("building:levels").map(parse_int).astype("Int64")
    height = _first(tags.get("height"), tags.get("building:height")).map(parse_height_m)
    height = height.astype(float).where(height.notna(), floors.astype(float) * STOREY_HEIGHT_M)
    year = tags.text("start_date").str.extract(r"(\d{4})", expand=False)
    return gpd.GeoDataFrame(
        {
            "name": tags.text("name").map(lambda s: s[:128], na_action="ignore"),
            "use": use.to_numpy(dtype=object),
            "floors": floors,
            "height_m": height,
            "built_year": pd.to_numeric(year, errors="coerce").astype("Int64"),
            "footprint_m2": _equal_area_m2(_valid(frame.geometry.values)),
            "osm_id": frame["id"].astype("int64").to_numpy(),
        },
        geometry=frame.geometry.values,
        crs=4326,
    )


# ------------------------------------------------------------------------------- POIs


def _classify(
    tags: Tags, rules: Iterable[tuple[str, str, str, str | None, str | None]]
) -> pd.DataFrame:
    n = len(tags.frame)
    out = pd.DataFrame(
        {
            "category": [None] * n,
            "small_place_type": [None] * n,
            "key_unit_type": [None] * n,
            "what": [None] * n,
        },
        index=tags.frame.index,
        dtype=object,
    )
    todo = pd.Series(True, index=tags.frame.index)
    cache: dict[str, pd.Series] = {}
    for key, value, category, small, key_type in rules:
        if key not in cache:
            cache[key] = tags.text(key)
        values = cache[key]
        hit = todo & (values.notna() if value == "*" else values.eq(value))
        if hit.any():
            out.loc[hit, ["category", "small_place_type", "key_unit_type"]] = [
                category,
                small,
                key_type,
            ]
            out.loc[hit, "what"] = values[hit]
            todo &= ~hit
    return out


def units_frame(pois: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows of ``unit`` from pyrosm ``get_pois``: the POIs that ``UNIT_RULES`` classify."""
    tags = Tags(pois)
    kinds = _classify(tags, UNIT_RULES)
    station = tags.text("amenity").eq("fire_station")
    keep = (kinds["category"].notna() & ~station).to_numpy()
    if not keep.any():
        return gpd.GeoDataFrame(geometry=[], crs=4326)
    sub = pois[keep]
    tags = Tags(sub)
    kinds = kinds[keep]
    codes = osm_codes(sub)
    return gpd.GeoDataFrame(
        {
            "code": codes.to_numpy(),
            "name": _names(tags, kinds["what"].astype(str) + " " + codes, 256).to_numpy(),
            "category": kinds["category"].to_numpy(),
            "small_place_type": kinds["small_place_type"].to_numpy(),
            "key_unit_type": kinds["key_unit_type"].to_numpy(),
            "address": _address(tags).to_numpy(),
            "responsible_phone": _first(tags.text("phone"), tags.text("contact:phone"))
            .map(lambda s: s[:32], na_action="ignore")
            .to_numpy(),
            "osm_id": sub["id"].astype("int64").to_numpy(),
        },
        geometry=anchor_points(sub.geometry.values),
        crs=4326,
    ).drop_duplicates("code")


def stations_frame(pois: gpd.GeoDataFrame, *, kind: str) -> gpd.GeoDataFrame:
    """Rows of ``station`` from the ``amenity=fire_station`` POIs, all of ``kind``."""
    tags = Tags(pois)
    sub = pois[tags.text("amenity").eq("fire_station").to_numpy()]
    if sub.empty:
        return gpd.GeoDataFrame(geometry=[], crs=4326)
    tags = Tags(sub)
    codes = osm_codes(sub)
    return gpd.GeoDataFrame(
        {
            "code": codes.to_numpy(),
            "name": _names(tags, "消防站 " + codes, 128).to_numpy(),
            "kind": kind,
            "phone": _first(tags.text("phone"), tags.text("contact:phone"))
            .map(lambda s: s[:32], na_action="ignore")
            .to_numpy(),
            "address": _address(tags).to_numpy(),
            "osm_id": sub["id"].astype("int64").to_numpy(),
        },
        geometry=anchor_points(sub.geometry.values),
        crs=4326,
    ).drop_duplicates("code")


_FACILITY_PROPERTIES = (
    "fire_hydrant:type",
    "fire_hydrant:position",
    "fire_hydrant:diameter",
    "fire_hydrant:pressure",
    "couplings",
    "water_source",
    "pressure",
    "ref",
    "operator",
    "colour",
)


def facilities_frame(pois: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows of ``facility`` from ``emergency=fire_hydrant``/``fire_extinguisher`` POIs."""
    tags = Tags(pois)
    kind = tags.text("emergency").map(EMERGENCY_FACILITIES.get, na_action="ignore")
    sub = pois[kind.notna().to_numpy()]
    if sub.empty:
        return gpd.GeoDataFrame(geometry=[], crs=4326)
    tags = Tags(sub)
    props = {k: tags.text(k) for k in _FACILITY_PROPERTIES}
    properties = [
        {k: v for k, v in zip(props, row, strict=True) if v is not None}
        for row in zip(*props.values(), strict=True)
    ]
    return gpd.GeoDataFrame(
        {
            "code": osm_codes(sub).to_numpy(),
            "kind": kind[kind.notna()].to_numpy(),
            "status": "in_service",
            "properties": properties,
            "osm_id": sub["id"].astype("int64").to_numpy(),
        },
        geometry=anchor_points(sub.geometry.values),
        crs=4326,
    ).drop_duplicates("code")


# ---------------------------------------------------------------------------- regions


def regions_frame(boundaries: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows of ``region`` from pyrosm ``get_boundaries``: polygons at ``ADMIN_LEVELS``."""
    tags = Tags(boundaries)
    level = tags.get("admin_level").map(parse_int).map(ADMIN_LEVELS.get, na_action="ignore")
    polygonal = np.isin(shapely.get_type_id(boundaries.geometry.values), (3, 6))
    keep = (level.notna() & tags.text("boundary").eq("administrative")).to_numpy() & polygonal
    sub = boundaries[keep]
    if sub.empty:
        return gpd.GeoDataFrame(geometry=[], crs=4326)
    tags = Tags(sub)
    codes = osm_codes(sub)
    return gpd.GeoDataFrame(
        {
            "code": codes.to_numpy(),
            "name": _names(tags, codes, 128).to_numpy(),
            "level": level[keep].to_numpy(),
            "population": tags.get("population")
            .map(lambda v: parse_int(re.sub(r"[,\s]", "", str(v)), maximum=2**31 - 1))
            .astype("Int64")
            .to_numpy(),
            "area_km2": _equal_area_m2(_valid(sub.geometry.values)) / 1e6,
        },
        geometry=sub.geometry.values,
        crs=4326,
    ).drop_duplicates("code")
