"""Import GeoJSON and GeoPackage (any OGR vector format pyogrio reads) into a FireTwin table.

Features are reprojected from the file's CRS to EPSG:4326; a file that declares no CRS is
refused unless ``assume_crs`` says what it is (a declared CRS always wins). Formats with fast
random access (GeoPackage, FlatGeobuf, Shapefile) are read in chunks of ``chunk_rows``
features, so memory stays bounded whatever the file size; others are read whole.

Bad input follows the package policy (``gis.io``): one transaction, any bad feature aborts it
with an ``InvalidInputError`` naming the feature, unless ``skip_invalid``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
import pyogrio
from pyproj import CRS
from pyproj.exceptions import CRSError

from gis.errors import InvalidInputError
from gis.io.load import Progress, TableLoader, resolve_columns
from gis.io.report import ImportReport
from gis.io.schema import table_spec
from gis.models import SRID

__all__ = ["import_vector", "read_crs"]

CHUNKED_DRIVERS = frozenset({"GPKG", "FlatGeobuf", "ESRI Shapefile"})


def read_crs(declared: Any, assume_crs: Any, *, label: str) -> CRS:
    """The CRS to read a source in: the declared one, else ``assume_crs``, else refuse."""
    if declared:
        try:
            return CRS.from_user_input(declared)
        except CRSError as e:
            msg = f"{label}: cannot understand its CRS {declared!r}: {e}"
            raise InvalidInputError(msg) from e
    if assume_crs is None:
        msg = (
            f"{label}: the file declares no coordinate reference system; pass assume_crs= "
            "(e.g. 'EPSG:4326' for WGS 84 lon/lat, 'EPSG:4490' for CGCS2000) if you know it"
        )
        raise InvalidInputError(msg)
    try:
        return CRS.from_user_input(assume_crs)
    except CRSError as e:
        msg = f"assume_crs={assume_crs!r} is not a coordinate reference system: {e}"
        raise InvalidInputError(msg) from e


def _open(path: Path, layer: str | int | None) -> tuple[dict[str, Any], str | int | None]:
    label = str(path)
    if not path.exists():
        msg = f"{label}: no such file"
        raise InvalidInputError(msg)
    try:
        with warnings.catch_warnings():  # GDAL's complaints about a broken file: we raise
            warnings.simplefilter("ignore", RuntimeWarning)
            layers = pyogrio.list_layers(path)
    except Exception as e:  # pyogrio raises DataSourceError and friends
        msg = f"{label}: cannot read it as a vector file: {e}"
        raise InvalidInputError(msg) from e
    names = [str(row[0]) for row in layers]
    if layer is None and len(names) > 1:
        msg = f"{label} has several layers ({', '.join(names)}): choose one with layer="
        raise InvalidInputError(msg)
    if layer is not None and not isinstance(layer, int) and layer not in names:
        msg = f"{label} has no layer {layer!r}; its layers are: {', '.join(names)}"
        raise InvalidInputError(msg)
    try:
        info = pyogrio.read_info(path, layer=layer, force_feature_count=True)
    except Exception as e:
        msg = f"{label}: cannot read layer {layer if layer is not None else names[0]!r}: {e}"
        raise InvalidInputError(msg) from e
    return info, layer


def import_vector(
    conn: psycopg.Connection,
    path: str | Path,
    *,
    table: str,
    layer: str | int | None = None,
    columns: Mapping[str, str | None] | None = None,
    ignore_extra: bool = False,
    assume_crs: Any = None,
    skip_invalid: bool = False,
    chunk_rows: int = 100_000,
    progress: Progress | None = None,
) -> ImportReport:
    """Load the features of a GeoJSON/GeoPackage file into ``firetwin.<table>``.

    Parameters
    ----------
    conn
        A psycopg connection; the import runs in one transaction (a savepoint if the caller
        has one open) and commits with the caller.
    path
        The file (GeoJSON, GeoPackage, or another OGR vector format).
    table
        Target table, e.g. ``unit``, ``building``, ``facility``, ``station``, ``hazard``,
        ``grid``, ``region``.
    layer
        Layer name or index, required when the file has several.
    columns
        Mapping source column -> table column (None drops the column). Unmapped columns
        named like table columns load as they are.
    ignore_extra
        Drop source columns the table does not have instead of refusing the file.
    assume_crs
        The CRS of a file that declares none (anything pyproj understands).
    skip_invalid
        Load the good features and report the bad ones instead of refusing the file.
    chunk_rows
        Features read and written per chunk.
    progress
        ``progress(step, done, total)`` callback.

    Returns
    -------
    ImportReport
        Rows loaded per table, rejected features with their reasons, dropped columns.

    Raises
    ------
    InvalidInputError
        Unreadable file, unknown table or layer, missing or wrong CRS, unmapped or missing
        columns, or (without ``skip_invalid``) any invalid feature; nothing is stored.
    """
    t0 = time.perf_counter()
    path = Path(path)
    label = str(path)
    info, layer = _open(path, layer)
    crs = read_crs(info.get("crs"), assume_crs, label=label)
    report = ImportReport(source=label)
    total = int(info.get("features") or 0)
    chunked = info.get("driver") in CHUNKED_DRIVERS and total > chunk_rows
    step = f"reading {path.name}"

    def read(skip: int, count: int | None) -> gpd.GeoDataFrame:
        try:
            frame = pyogrio.read_dataframe(
                path,
                layer=layer,
                columns=list(rename),
                skip_features=skip,
                max_features=count,
            )
        except Exception as e:
            where = f"features {skip}–{skip + (count or total) - 1}" if count else "features"
            msg = f"{label}: cannot read {where}: {e}"
            raise InvalidInputError(msg) from e
        if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
            msg = f"{label}: the layer has no geometry column"
            raise InvalidInputError(msg)
        return frame

    with conn.transaction():
        spec = table_spec(conn, table)
        fields = [str(f) for f in info["fields"]]
        rename = resolve_columns(
            fields, spec, mapping=columns, ignore_extra=ignore_extra, report=report, label=label
        )
        t_setup = time.perf_counter()
        with TableLoader(
            conn,
            table,
            report=report,
            noun="feature",
            skip_invalid=skip_invalid,
            expected_rows=total,
            progress=progress,
            spec=spec,
        ) as loader:
            report.timed("setup", time.perf_counter() - t_setup)
            starts = range(0, total, chunk_rows) if chunked else [0]
            done = 0
            for start in starts:
                t_read = time.perf_counter()
                frame = read(start, chunk_rows if chunked else None)
                frame = _to_wgs84(frame, crs, label=label).rename(columns=rename)
                report.timed("read", time.perf_counter() - t_read)
                loader.add(frame, first_index=start)
                done += len(frame)
                if progress is not None:
                    progress(step, done, max(total, done))
            loader.finish()
    report.seconds = time.perf_counter() - t0
    return report


def _to_wgs84(frame: gpd.GeoDataFrame, crs: CRS, *, label: str) -> gpd.GeoDataFrame:
    frame = frame.set_crs(crs, allow_override=True)
    if crs.to_epsg() == SRID:
        return frame
    try:
        return frame.to_crs(SRID)
    except Exception as e:  # pyproj errors when no transformation exists
        msg = f"{label}: cannot reproject from {crs.to_string()} to EPSG:4326: {e}"
        raise InvalidInputError(msg) from e
