"""Import an OpenStreetMap PBF extract (pyrosm): roads, buildings, units, stations, hydrants,
administrative regions.

=========  =====================================  ==================================================
layer      OSM                                    FireTwin
=========  =====================================  ==================================================
roads      the driving network (``network_type``) ``road_node`` + routable ``road_edge``
                                                  (``gis.io.osm_roads``)
buildings  ``building=*``                         ``building``: use, floors, height, footprint
units      shops, restaurants, hotels, schools,   ``unit``: category, small place type, key unit
           clinics, … (``osm_rules.UNIT_RULES``)  type, name, address, code ``OSM-N123``
stations   ``amenity=fire_station``               ``station`` of kind ``station_kind``
hydrants   ``emergency=fire_hydrant`` (and        ``facility`` of kind ``hydrant``
           ``fire_extinguisher``)                 (``extinguisher``), OSM details in properties
regions    ``boundary=administrative``            ``region`` (``osm_rules.ADMIN_LEVELS``), with
                                                  parents by containment
=========  =====================================  ==================================================

Units are linked to the building that contains them. The whole import is one transaction and
follows the package's bad-input policy (``gis.io``); polygons invalid as mapped are repaired.
Without ``replace``, importing the same extract twice is refused (its codes and OSM way ids
are already there); with it, rows a previous OSM import wrote to the chosen layers' tables are
deleted first, inside the same transaction.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
from pyrosm import OSM

from gis import vocab
from gis.bulk import copy_frame
from gis.errors import InvalidInputError
from gis.io.load import Progress, TableLoader
from gis.io.osm_features import (
    POI_FILTER,
    buildings_frame,
    facilities_frame,
    regions_frame,
    stations_frame,
    units_frame,
)
from gis.io.osm_roads import ROAD_TAGS, build_network
from gis.io.osm_rules import DEFAULT_ROAD_RULES, RoadRules
from gis.io.report import ImportReport

__all__ = ["OSM_LAYERS", "import_osm"]

OSM_LAYERS = ("regions", "roads", "buildings", "units", "stations", "hydrants")

_PARENT_SQL = """
UPDATE firetwin.region AS c SET parent_id = (
    SELECT p.id FROM firetwin.region AS p
    WHERE p.id <> c.id
      AND p.level = CASE c.level WHEN 'community' THEN 'street' ELSE 'district' END
      AND ST_Contains(p.geom, ST_PointOnSurface(c.geom))
    ORDER BY ST_Area(p.geom) LIMIT 1)
WHERE c.code = ANY(%s) AND c.parent_id IS NULL AND c.level <> 'district'
"""
_UNIT_BUILDING_SQL = """
UPDATE firetwin.unit AS u SET building_id = b.id
FROM firetwin.building AS b
WHERE u.code = ANY(%s) AND u.building_id IS NULL AND ST_Intersects(b.geom, u.geom)
"""


class _Reader:
    """pyrosm reads, with their errors turned into InvalidInputError."""

    def __init__(self, path: Path, bounding_box: Sequence[float] | None) -> None:
        self.label = str(path)
        try:
            self.osm = OSM(str(path), bounding_box=list(bounding_box) if bounding_box else None)
        except Exception as e:
            msg = f"{self.label}: cannot read it as an OSM PBF file: {e}"
            raise InvalidInputError(msg) from e

    def __call__(self, method: str, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return getattr(self.osm, method)(**kwargs)
        except InvalidInputError:
            raise
        except Exception as e:
            msg = f"{self.label}: cannot read OSM data ({method}): {e}"
            raise InvalidInputError(msg) from e


def _empty(frame: Any) -> bool:
    return frame is None or len(frame) == 0


def import_osm(
    conn: psycopg.Connection,
    path: str | Path,
    *,
    layers: Collection[str] = OSM_LAYERS,
    network_type: str = "driving+service",
    bounding_box: Sequence[float] | None = None,
    rules: RoadRules = DEFAULT_ROAD_RULES,
    station_kind: str = "level1",
    replace: bool = False,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Load an OSM PBF extract into FireTwin tables (see the module docstring).

    Parameters
    ----------
    conn
        A psycopg connection; everything runs in one transaction (a savepoint if the caller
        has one open).
    path
        The ``.osm.pbf`` file.
    layers
        Which of ``OSM_LAYERS`` to import.
    network_type
        pyrosm network: ``"driving+service"`` (default: service roads are where residential
        compounds' fire lanes are) or ``"driving"``.
    bounding_box
        ``[min_lon, min_lat, max_lon, max_lat]`` to import part of the extract.
    rules
        Road defaults and truck thresholds (``gis.io.osm_rules.RoadRules``).
    station_kind
        ``station.kind`` given to OSM fire stations (OSM does not tell the level).
    replace
        Delete what earlier OSM imports wrote to these layers' tables first.
    skip_invalid
        Load the good features and report the bad ones instead of refusing the extract.
    progress
        ``progress(step, done, total)`` callback.

    Returns
    -------
    ImportReport
        Rows loaded per table (``road_node`` counts new nodes only), rejections, repairs.

    Raises
    ------
    InvalidInputError
        Unreadable file, unknown layer or station kind, an extract already imported (without
        ``replace``), or (without ``skip_invalid``) an invalid feature; nothing is stored.
    """
    t0 = time.perf_counter()
    path = Path(path)
    label = str(path)
    unknown = sorted(set(layers) - set(OSM_LAYERS))
    if unknown:
        msg = f"unknown OSM layer(s) {', '.join(unknown)}; choose from {', '.join(OSM_LAYERS)}"
        raise InvalidInputError(msg)
    if station_kind not in vocab.STATION_KINDS:
        msg = f"station_kind {station_kind!r} is not one of: {', '.join(vocab.STATION_KINDS)}"
        raise InvalidInputError(msg)
    if not path.exists():
        msg = f"{label}: no such file"
        raise InvalidInputError(msg)
    report = ImportReport(source=label)
    frames = _read(
        _Reader(path, bounding_box), layers, network_type, rules, station_kind, report, progress
    )
    common = {"report": report, "skip_invalid": skip_invalid, "progress": progress}
    with conn.transaction():
        if replace:
            _delete_previous(conn, layers)
        if not _empty(frames.get("region")):
            codes = _load(conn, "region", frames["region"], repair=True, **common)
            if codes:
                conn.execute(_PARENT_SQL, (codes,))
        if "road_edge" in frames:
            _load_roads(conn, frames["road_node"], frames["road_edge"], **common)
        if not _empty(frames.get("building")):
            _load(conn, "building", frames["building"], repair=True, **common)
        if not _empty(frames.get("unit")):
            codes = _load(conn, "unit", frames["unit"], **common)
            if codes:
                conn.execute(_UNIT_BUILDING_SQL, (codes,))
        for table in ("station", "facility"):
            if not _empty(frames.get(table)):
                _load(conn, table, frames[table], **common)
    report.seconds = time.perf_counter() - t0
    return report


def _read(
    read: _Reader,
    layers: Collection[str],
    network_type: str,
    rules: RoadRules,
    station_kind: str,
    report: ImportReport,
    progress: Progress | None,
) -> dict[str, gpd.GeoDataFrame]:
    """Read and convert the chosen layers (before any database work)."""
    frames: dict[str, gpd.GeoDataFrame] = {}
    wanted = [x for x in OSM_LAYERS if x in layers]
    step = f"reading {Path(read.label).name}"
    poi_layers = {"units", "stations", "hydrants"} & set(wanted)
    pois = read("get_pois", custom_filter=POI_FILTER) if poi_layers else None
    for i, layer in enumerate(wanted):
        if progress is not None:
            progress(step, i, len(wanted))
        if layer == "roads":
            segments = read(
                "get_network", network_type=network_type, nodes=True, extra_attributes=ROAD_TAGS
            )
            segments = segments[1] if isinstance(segments, tuple) else segments
            if _empty(segments):
                report.notes.append("no roads in the extract")
                continue
            frames["road_node"], frames["road_edge"] = build_network(segments, rules=rules)
        elif layer == "buildings":
            raw = read(
                "get_buildings",
                extra_attributes=[
                    "building:levels",
                    "building:height",
                    "building:use",
                    "height",
                    "start_date",
                ],
            )
            if not _empty(raw):
                frames["building"] = buildings_frame(raw)
        elif layer == "regions":
            raw = read(
                "get_boundaries",
                boundary_type="administrative",
                extra_attributes=["admin_level", "population", "boundary"],
            )
            if _empty(raw):
                report.notes.append("no administrative boundaries in the extract")
            else:
                frames["region"] = regions_frame(raw)
        elif _empty(pois):
            continue
        elif layer == "units":
            frames["unit"] = units_frame(pois)
        elif layer == "stations":
            frames["station"] = stations_frame(pois, kind=station_kind)
        elif layer == "hydrants":
            frames["facility"] = facilities_frame(pois)
    if progress is not None:
        progress(step, len(wanted), len(wanted))
    return frames


def _load(
    conn: psycopg.Connection,
    table: str,
    frame: gpd.GeoDataFrame,
    *,
    report: ImportReport,
    skip_invalid: bool,
    progress: Progress | None,
    repair: bool = False,
) -> list[str]:
    """Load one frame through a TableLoader; return the codes written (if it has codes)."""
    with TableLoader(
        conn,
        table,
        report=report,
        noun="feature",
        skip_invalid=skip_invalid,
        repair=repair,
        expected_rows=len(frame),
        progress=progress,
    ) as loader:
        loader.add(frame.reset_index(drop=True))
        loader.finish()
    if "code" not in frame:
        return []
    rejected = {r.ident for r in report.rejected if r.table == table}
    return [c for c in frame["code"].tolist() if c not in rejected]


def _load_roads(
    conn: psycopg.Connection,
    nodes: gpd.GeoDataFrame,
    edges: gpd.GeoDataFrame,
    *,
    report: ImportReport,
    skip_invalid: bool,
    progress: Progress | None,
) -> None:
    way_ids = sorted({int(w) for w in edges["osm_id"]})
    (already,) = conn.execute(
        "SELECT count(*) FROM firetwin.road_edge WHERE osm_id = ANY(%s)", (way_ids,)
    ).fetchone()
    if already:
        msg = (
            f"{report.source}: {already:,} road edges of this extract are already in road_edge; "
            "pass replace=True to import it again"
        )
        raise InvalidInputError(msg)
    ids = [int(i) for i in nodes["id"]]
    existing = {
        r[0] for r in conn.execute("SELECT id FROM firetwin.road_node WHERE id = ANY(%s)", (ids,))
    }
    new = nodes[~nodes["id"].isin(existing)]
    if existing:
        report.notes.append(f"{len(existing):,} road nodes were already there and were reused")
    report.add_loaded("road_node", copy_frame(conn, "road_node", new) if len(new) else 0)
    _load(conn, "road_edge", edges, report=report, skip_invalid=skip_invalid, progress=progress)


def _delete_previous(conn: psycopg.Connection, layers: Collection[str]) -> None:
    """Delete rows earlier OSM imports wrote to the tables of ``layers``."""
    for layer in layers:
        if layer == "roads":
            conn.execute("DELETE FROM firetwin.road_edge WHERE osm_id IS NOT NULL")
            conn.execute(
                "DELETE FROM firetwin.road_node AS n WHERE NOT EXISTS (SELECT 1 FROM "
                "firetwin.road_edge AS e WHERE e.source = n.id OR e.target = n.id)"
            )
        elif layer == "regions":
            conn.execute("DELETE FROM firetwin.region WHERE code LIKE 'OSM-%'")
        elif layer == "buildings":
            conn.execute("DELETE FROM firetwin.building WHERE osm_id IS NOT NULL")
        elif layer == "units":
            conn.execute("DELETE FROM firetwin.unit WHERE code LIKE 'OSM-%'")
        elif layer == "stations":
            conn.execute("DELETE FROM firetwin.station WHERE code LIKE 'OSM-%'")
        elif layer == "hydrants":
            conn.execute("DELETE FROM firetwin.facility WHERE code LIKE 'OSM-%'")
