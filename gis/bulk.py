"""Bulk loading of GeoDataFrames into FireTwin tables with COPY, H3 and grid indexing included.

The demo generator and every importer write through ``copy_frame``: geometries are validated
and converted to the table's type, H3 cells and the grid id are computed in bulk
(``gis.indexing``), and rows stream to PostgreSQL with ``COPY ... FROM STDIN`` in chunks, so
memory stays bounded. Run it inside one transaction (the caller's connection): a failure leaves
nothing behind.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from gis.errors import InvalidInputError
from gis.grid import H3_COLUMNS
from gis.indexing import index_frame
from gis.models import SCHEMA, SRID

__all__ = ["copy_frame", "table_columns"]

_MULTI = {"MULTIPOLYGON": shapely.MultiPolygon, "MULTILINESTRING": shapely.MultiLineString}


def table_columns(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """Column name -> data type of a FireTwin table, in table order."""
    rows = conn.execute(
        "SELECT column_name, udt_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (SCHEMA, table),
    ).fetchall()
    if not rows:
        msg = f"unknown table {SCHEMA}.{table}"
        raise InvalidInputError(msg)
    return dict(rows)


def _geometry_type(conn: psycopg.Connection, table: str) -> str:
    row = conn.execute(
        "SELECT type FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s "
        "AND f_geometry_column = 'geom'",
        (SCHEMA, table),
    ).fetchone()
    return row[0] if row else "GEOMETRY"


def _conform(geoms: np.ndarray, target: str, *, label: str) -> np.ndarray:
    """Check geometries and promote single to multi where the table wants multi."""
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        msg = f"{label} row {i}: geometry is missing or empty"
        raise InvalidInputError(msg)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        i = int(np.flatnonzero(invalid)[0])
        reason = shapely.is_valid_reason(geoms[i])
        msg = f"{label} row {i}: invalid geometry ({reason})"
        raise InvalidInputError(msg)
    if target in _MULTI:
        single = shapely.get_type_id(geoms) == (3 if target == "MULTIPOLYGON" else 1)
        if single.any():
            geoms = geoms.copy()
            geoms[single] = [_MULTI[target]([g]) for g in geoms[single]]
    want = {"POINT": 0, "LINESTRING": 1, "MULTIPOLYGON": 6, "MULTILINESTRING": 5}.get(target)
    if want is not None:
        wrong = shapely.get_type_id(geoms) != want
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            msg = f"{label} row {i}: {geoms[i].geom_type} where {target} is required"
            raise InvalidInputError(msg)
    return geoms


def copy_frame(
    conn: psycopg.Connection,
    table: str,
    gdf: gpd.GeoDataFrame | pd.DataFrame,
    *,
    grids: gpd.GeoDataFrame | None = None,
    chunk_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
    label: str | None = None,
    binary: bool = False,
) -> int:
    """COPY the rows of ``gdf`` into ``firetwin.<table>``; return the number of rows written.

    Columns of the frame that the table lacks are refused. A GeoDataFrame must be in EPSG:4326;
    its geometry goes to ``geom`` and gets H3 cells, plus ``grid_id`` when ``grids`` is given
    (otherwise the database trigger fills it). ``progress`` is called with each chunk's size.
    ``binary=True`` sends PostgreSQL's binary COPY format (``gis.io.pgcopy``) when every column
    type allows it, from a writer thread so that encoding a chunk overlaps with the server
    storing the previous one; otherwise (and by default) CSV.
    """
    label = label or table
    cols = table_columns(conn, table)
    frame = gdf
    if isinstance(gdf, gpd.GeoDataFrame):
        if gdf.crs is None or gdf.crs.to_epsg() != SRID:
            msg = f"{label}: features must be in EPSG:4326, got {gdf.crs}"
            raise InvalidInputError(msg)
        geoms = _conform(
            np.asarray(gdf.geometry.values, dtype=object),
            _geometry_type(conn, table),
            label=label,
        )
        frame = gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name), geometry=geoms, crs=SRID)
        if "h3_r9" in cols:
            frame = index_frame(frame, grids if "grid_id" in cols else None)
        frame = pd.DataFrame(frame.drop(columns="geometry")).assign(
            geom=shapely.to_wkb(shapely.set_srid(geoms, SRID), hex=not binary, include_srid=True)
        )
    unknown = [c for c in frame.columns if c not in cols]
    if unknown:
        msg = f"{label}: columns not in {SCHEMA}.{table}: {', '.join(map(str, unknown))}"
        raise InvalidInputError(msg)
    names = list(frame.columns)
    if binary:
        from gis.io import pgcopy

        if pgcopy.binary_types([cols[c] for c in names]):
            udts = {c: cols[c] for c in names}
            return _copy_binary(conn, table, frame, udts, chunk_rows, progress)
        if isinstance(gdf, gpd.GeoDataFrame):
            frame["geom"] = [None if b is None else b.hex() for b in frame["geom"]]
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    json_cols = [c for c in names if cols[c] in {"jsonb", "json"}]
    array_cols = [c for c in names if cols[c].startswith("_")]
    total = 0
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start : start + chunk_rows].copy()
            for c in json_cols:
                part[c] = [None if v is None else json.dumps(v, ensure_ascii=False) for v in part[c]]
            for c in array_cols:
                part[c] = ["{" + ",".join(json.dumps(str(x), ensure_ascii=False) for x in v) + "}"
                           if isinstance(v, list | tuple | np.ndarray) else v for v in part[c]]
            buf = io.StringIO()
            part.to_csv(buf, header=False, index=False, na_rep="", quoting=csv.QUOTE_MINIMAL)
            copy.write(buf.getvalue())
            total += len(part)
            if progress is not None:
                progress(len(part))
    return total


def _copy_binary(
    conn: psycopg.Connection,
    table: str,
    frame: pd.DataFrame,
    udts: dict[str, str],
    chunk_rows: int,
    progress: Callable[[int], None] | None,
) -> int:
    from psycopg.copy import QueuedLibpqWriter

    from gis.io import pgcopy

    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, udts))
    )
    total = 0
    with conn.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
        copy.write(pgcopy.HEADER)
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start : start + chunk_rows]
            copy.write(pgcopy.encode_rows(part, udts))
            total += len(part)
            if progress is not None:
                progress(len(part))
        copy.write(pgcopy.TRAILER)
    return total


def drop_h3_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without H3 columns (so they are recomputed on load)."""
    return frame.drop(columns=[c for c in H3_COLUMNS if c in frame.columns])
