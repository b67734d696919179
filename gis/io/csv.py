"""Import a CSV file of points (lon/lat columns) or of WKT geometries into a FireTwin table.

The coordinate columns are found by name (case-insensitive): ``lon``/``lat``, ``lng``/``lat``,
``longitude``/``latitude``, ``x``/``y``; ``lon=``/``lat=`` name them explicitly, or
``geometry_column=`` names a WKT column. A CSV carries no CRS: lon/lat-style columns are read
as WGS 84 (EPSG:4326) unless ``assume_crs`` says otherwise (e.g. ``EPSG:4490`` for CGCS2000);
``x``/``y`` and WKT columns are refused unless ``assume_crs`` is given, since they are usually
projected. Every value is read as text and converted to the table's column types, so codes
such as ``007`` keep their leading zeros. Rows are read in chunks of ``chunk_rows``.

Bad input follows the package policy (``gis.io``): one transaction, any bad row aborts it with
an ``InvalidInputError`` naming the row (0-based data row and its line in the file), unless
``skip_invalid``.
"""

from __future__ import annotations

import csv as std_csv
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from pyproj import CRS

from gis.errors import InvalidInputError
from gis.io.load import Progress, TableLoader, resolve_columns
from gis.io.report import ImportReport
from gis.io.schema import table_spec
from gis.io.validate import Problems
from gis.io.vector import _to_wgs84, read_crs

__all__ = ["COORDINATE_COLUMNS", "import_csv"]

# Recognised coordinate column pairs, in order of preference; True: lon/lat (WGS 84 default).
COORDINATE_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("lon", "lat", True),
    ("lng", "lat", True),
    ("longitude", "latitude", True),
    ("x", "y", False),
)


def _header(path: Path, *, delimiter: str, encoding: str) -> list[str]:
    label = str(path)
    if not path.exists():
        msg = f"{label}: no such file"
        raise InvalidInputError(msg)
    try:
        with path.open(encoding=encoding, newline="") as fh:
            row = next(std_csv.reader(fh, delimiter=delimiter), None)
    except UnicodeDecodeError as e:
        msg = f"{label}: not {encoding} text ({e.reason} at byte {e.start}); pass encoding="
        raise InvalidInputError(msg) from e
    except (OSError, std_csv.Error) as e:
        msg = f"{label}: cannot read it as CSV: {e}"
        raise InvalidInputError(msg) from e
    if not row or not any(c.strip() for c in row):
        msg = f"{label}: empty file or no header row"
        raise InvalidInputError(msg)
    names = [c.strip().lstrip("\ufeff") for c in row]
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        msg = f"{label}: the header names {', '.join(map(repr, twice))} more than once"
        raise InvalidInputError(msg)
    return names


def _coordinate_columns(
    header: list[str], lon: str | None, lat: str | None, geometry_column: str | None, label: str
) -> tuple[str | None, str | None, bool]:
    """(lon column, lat column, is lon/lat) — or (wkt column, None, False)."""
    if geometry_column is not None:
        if geometry_column not in header:
            msg = f"{label}: no column {geometry_column!r}; columns: {', '.join(header)}"
            raise InvalidInputError(msg)
        return geometry_column, None, False
    if lon or lat:
        missing = [c for c in (lon, lat) if not c or c not in header]
        if missing:
            msg = (
                f"{label}: coordinate column(s) {', '.join(map(repr, missing))} not found "
                f"(give both lon= and lat=); columns: {', '.join(header)}"
            )
            raise InvalidInputError(msg)
        lonlat = (lon or "").lower() not in ("x", "easting") and (lat or "").lower() not in (
            "y",
            "northing",
        )
        return lon, lat, lonlat
    lower = {c.lower(): c for c in header}
    for x, y, lonlat in COORDINATE_COLUMNS:
        if x in lower and y in lower:
            return lower[x], lower[y], lonlat
    msg = (
        f"{label}: no coordinate columns found: expected lon/lat, lng/lat, longitude/latitude "
        f"or x/y (or pass lon=, lat= or geometry_column=); columns: {', '.join(header)}"
    )
    raise InvalidInputError(msg)


def _count_rows(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 24):
            n += block.count(b"\n")
    return max(n - 1, 0)


def _chunks(
    path: Path, header: list[str], *, delimiter: str, encoding: str, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Data rows in chunks, as text. The header line is read as a row too, so that a data row
    with more fields than the header is an error rather than an index column."""
    label = str(path)
    try:
        reader = pd.read_csv(
            path,
            sep=delimiter,
            encoding=encoding,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
            chunksize=chunk_rows,
        )
        with reader:
            for i, chunk in enumerate(reader):
                if i == 0:
                    chunk = chunk.iloc[1:]
                chunk.columns = header
                yield chunk.reset_index(drop=True)
    except UnicodeDecodeError as e:
        msg = f"{label}: not {encoding} text ({e.reason}); pass encoding= (e.g. 'gbk')"
        raise InvalidInputError(msg) from e
    except (pd.errors.ParserError, ValueError, OSError) as e:
        msg = f"{label}: cannot parse the CSV: {e}"
        raise InvalidInputError(msg) from e


def _geometries(chunk: pd.DataFrame, xcol: str, ycol: str | None) -> tuple[np.ndarray, Problems]:
    problems: Problems = {}
    if ycol is None:
        text = chunk[xcol]
        geoms = shapely.from_wkt(text.fillna("").to_numpy(dtype=object), on_invalid="ignore")
        bad = text.notna().to_numpy() & shapely.is_missing(geoms)
        for p in np.flatnonzero(bad).tolist():
            problems[p] = [f"{xcol} {text.iloc[p][:60]!r} is not WKT geometry"]
        return geoms, problems
    x = pd.to_numeric(chunk[xcol], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(chunk[ycol], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    geoms = np.full(len(chunk), None, dtype=object)
    geoms[~bad] = shapely.points(x[~bad], y[~bad])
    xs, ys = chunk[xcol].to_numpy(dtype=object), chunk[ycol].to_numpy(dtype=object)
    for p in np.flatnonzero(bad).tolist():
        problems[p] = [f"{xcol}/{ycol} ({xs[p]!r}, {ys[p]!r}) are not numbers"]
    return geoms, problems


def import_csv(
    conn: psycopg.Connection,
    path: str | Path,
    *,
    table: str,
    lon: str | None = None,
    lat: str | None = None,
    geometry_column: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    ignore_extra: bool = False,
    assume_crs: Any = None,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
    skip_invalid: bool = False,
    chunk_rows: int = 100_000,
    progress: Progress | None = None,
) -> ImportReport:
    """Load the rows of a CSV file into ``firetwin.<table>`` as points (or WKT geometries).

    Parameters are those of ``gis.io.vector.import_vector`` plus ``lon``/``lat`` (coordinate
    column names; found automatically when omitted), ``geometry_column`` (a WKT column
    instead of coordinates), ``delimiter`` and ``encoding``. The coordinate columns are
    consumed as the geometry; every other column follows ``columns``/``ignore_extra``.

    Raises
    ------
    InvalidInputError
        Unreadable file, no coordinate columns, x/y or WKT without ``assume_crs``, unmapped
        or missing columns, or (without ``skip_invalid``) any invalid row; nothing is stored.
    """
    t0 = time.perf_counter()
    path = Path(path)
    label = str(path)
    header = _header(path, delimiter=delimiter, encoding=encoding)
    xcol, ycol, lonlat = _coordinate_columns(header, lon, lat, geometry_column, label)
    if assume_crs is None and not lonlat:
        what = f"column {xcol!r}" if ycol is None else f"columns {xcol!r}/{ycol!r}"
        msg = (
            f"{label}: the coordinate {what} carry no CRS; pass assume_crs= (e.g. "
            "'EPSG:4326', or the projected CRS of the x/y values)"
        )
        raise InvalidInputError(msg)
    crs: CRS = read_crs(None, assume_crs if assume_crs is not None else "EPSG:4326", label=label)
    report = ImportReport(source=label)
    attributes = [c for c in header if c not in (xcol, ycol)]
    total = _count_rows(path)
    step = f"reading {path.name}"
    with conn.transaction():
        spec = table_spec(conn, table)
        rename = resolve_columns(
            attributes,
            spec,
            mapping=columns,
            ignore_extra=ignore_extra,
            report=report,
            label=label,
        )
        with TableLoader(
            conn,
            table,
            report=report,
            noun="row",
            line_offset=2,
            skip_invalid=skip_invalid,
            expected_rows=total,
            progress=progress,
            spec=spec,
        ) as loader:
            start = 0
            for chunk in _chunks(
                path, header, delimiter=delimiter, encoding=encoding, chunk_rows=chunk_rows
            ):
                geoms, problems = _geometries(chunk, xcol, ycol)  # type: ignore[arg-type]
                frame = gpd.GeoDataFrame(
                    chunk[list(rename)].rename(columns=rename), geometry=geoms, crs=crs
                )
                loader.add(_to_wgs84(frame, crs, label=label), first_index=start, problems=problems)
                start += len(chunk)
                if progress is not None:
                    progress(step, start, max(total, start))
            loader.finish()
    report.seconds = time.perf_counter() - t0
    return report
