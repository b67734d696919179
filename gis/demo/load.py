"""Write a generated district to PostGIS with ``copy_frame``, in foreign-key order."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import psycopg
from psycopg import sql

from gis.bulk import copy_frame, table_columns
from gis.demo.context import ID_TABLES
from gis.demo.district import DistrictData
from gis.models import SCHEMA

Progress = Callable[[str, int, int], None]
# Tables whose rows are written without a grid polygon set (the database trigger assigns the
# grid): regions (loaded before their grids; updated after), grids (a trigger of their own:
# an ordinary grid is its own grid) and highway links between districts.
_NO_GRIDS = {"region", "grid"}


def _public(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without private (``_``-prefixed) helper columns."""
    drop = [c for c in frame.columns if str(c).startswith("_")]
    return frame.drop(columns=drop)


def load_district(
    conn: psycopg.Connection,
    data: DistrictData,
    counts: dict[str, int],
    progress: Progress | None = None,
) -> None:
    """COPY every table of a district; accumulate row counts in ``counts``.

    ``progress(table, done, total)`` counts rows over the whole run: ``total`` is the rows
    written by earlier districts plus this district's rows of that table.
    """
    columns: dict[str, dict[str, str]] = {}
    totals: dict[str, int] = {}
    for table, frame in data.tables:
        totals[table] = totals.get(table, counts.get(table, 0)) + len(frame)
    for table, frame in data.tables:
        if len(frame) == 0:
            continue
        cols = columns.setdefault(table, table_columns(conn, table))
        out = _public(frame)
        is_link = (
            table == "road_edge" and "_kind" in frame and (frame["_kind"] == "connector").all()
        )
        grids = None if (table in _NO_GRIDS or is_link or "grid_id" not in cols) else data.grids

        def tick(k: int, table: str = table) -> None:
            counts[table] = counts.get(table, 0) + k
            if progress is not None:
                progress(table, counts[table], totals[table])

        copy_frame(conn, table, out, grids=grids, progress=tick, label=table)
    ids = data.region_ids
    conn.execute(
        "UPDATE firetwin.region SET grid_id = firetwin.grid_for(geom) WHERE id BETWEEN %s AND %s",
        (int(ids.min()), int(ids.max())),
    )
    # Open hazards get their escalation clock (the workflow sets it on every live write).
    conn.execute(
        "UPDATE firetwin.hazard SET next_escalation_at = CASE status "
        "WHEN 'reported' THEN verify_due_at WHEN 'rectified' THEN recheck_due_at "
        "ELSE rectify_due_at END "
        "WHERE next_escalation_at IS NULL AND tier <> 'red' "
        "AND status IN ('reported', 'verified', 'rectifying', 'rectified')"
    )
    _write_propensity(conn, data.propensity)
    counts["unit_propensity"] = counts.get("unit_propensity", 0) + len(data.propensity)


def _write_propensity(conn: psycopg.Connection, prop: pd.DataFrame) -> None:
    import json

    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY demo_truth.unit_propensity (unit_id, p_fire, log_odds, drivers) FROM STDIN"
        ) as copy,
    ):
        for uid, p, lo, drv in zip(
            prop["unit_id"], prop["p_fire"], prop["log_odds"], prop["drivers"], strict=True
        ):
            copy.write_row((int(uid), float(p), float(lo), json.dumps(drv, ensure_ascii=False)))


def reset_sequences(conn: psycopg.Connection) -> None:
    """Point every id sequence past the generated ids, so later inserts get fresh ones."""
    for table in ID_TABLES:
        seq = conn.execute(
            "SELECT pg_get_serial_sequence(%s, 'id')", (f"{SCHEMA}.{table}",)
        ).fetchone()[0]
        if seq is None:
            continue
        conn.execute(
            sql.SQL("SELECT setval({}, COALESCE((SELECT max(id) FROM {}), 0) + 1, false)").format(
                sql.Literal(seq), sql.Identifier(SCHEMA, table)
            )
        )
