"""What an importer needs to know about a target table, read from the database catalogue.

Types, NOT NULL and defaults, text lengths, single-column unique keys and foreign keys come
from ``information_schema``/``pg_catalog``; the CHECK vocabularies come from ``gis.vocab`` (the
same tuples the schema's CHECK constraints are built from), so an importer can name the
allowed values in its message instead of quoting a constraint name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import psycopg

from gis import vocab
from gis.errors import InvalidInputError
from gis.grid import H3_COLUMNS
from gis.models import SCHEMA

__all__ = ["COMPUTED_COLUMNS", "ROW_RULES", "VOCABULARIES", "ColumnSpec", "TableSpec", "table_spec"]

# Columns FireTwin computes on write; a source column of these names is ignored.
# home_unit_id: the Citus distribution column, filled by triggers (migration 0017).
COMPUTED_COLUMNS = frozenset({*H3_COLUMNS, "grid_id", "home_unit_id"})

# Allowed values of the columns that the schema guards with ``<column> IN (...)`` CHECKs.
VOCABULARIES: dict[str, dict[str, tuple[str, ...]]] = {
    "region": {"level": vocab.REGION_LEVELS},
    "grid": {"kind": vocab.GRID_KINDS},
    "building": {"use": vocab.BUILDING_USES},
    "unit": {
        "category": vocab.UNIT_CATEGORIES,
        "colour_code": vocab.COLOUR_CODES,
        "small_place_type": vocab.SMALL_PLACE_TYPES,
        "key_domain": vocab.KEY_DOMAINS,
        "key_unit_type": vocab.KEY_UNIT_TYPES,
    },
    "facility": {"kind": vocab.FACILITY_KINDS, "status": vocab.FACILITY_STATUSES},
    "hazard": {
        "tier": vocab.HAZARD_TIERS,
        "status": vocab.HAZARD_STATUSES,
        "source": vocab.HAZARD_SOURCES,
        "category": tuple(vocab.HAZARD_TAXONOMY),
    },
    "hazard_event": {"from_status": vocab.HAZARD_STATUSES, "to_status": vocab.HAZARD_STATUSES},
    "work_order": {"kind": vocab.WORK_ORDER_KINDS},
    "inspection": {"kind": vocab.INSPECTION_KINDS, "result": vocab.INSPECTION_RESULTS},
    "station": {"kind": vocab.STATION_KINDS, "status": vocab.STATION_STATUSES},
    "vehicle": {"kind": vocab.VEHICLE_KINDS},
    "sensor": {"kind": vocab.SENSOR_KINDS, "status": vocab.SENSOR_STATUSES},
    "incident": {"kind": vocab.INCIDENT_KINDS},
    "hot_work_permit": {"work_kind": vocab.HOT_WORK_KINDS},
    "road_edge": {"road_class": vocab.ROAD_CLASSES},
    "risk_score": {"tier": vocab.RISK_TIERS},
}

RowRule = Callable[[pd.DataFrame], tuple[pd.Series, str]]


def _costs(f: pd.DataFrame) -> tuple[pd.Series, str]:
    bad = pd.Series(False, index=f.index)
    for c in ("length_m", "cost"):
        if c in f:
            bad |= pd.to_numeric(f[c], errors="coerce").lt(0).fillna(False)
    return bad, "length_m and cost must not be negative"


def _score(f: pd.DataFrame) -> tuple[pd.Series, str]:
    s = pd.to_numeric(f["score"], errors="coerce") if "score" in f else pd.Series(dtype=float)
    return (s.lt(0) | s.gt(100)).fillna(False).reindex(f.index, fill_value=False), (
        "score must be between 0 and 100"
    )


def _window(f: pd.DataFrame) -> tuple[pd.Series, str]:
    if "starts_at" not in f or "ends_at" not in f:
        return pd.Series(False, index=f.index), ""
    a = pd.to_datetime(f["starts_at"], errors="coerce", utc=True, format="ISO8601")
    b = pd.to_datetime(f["ends_at"], errors="coerce", utc=True, format="ISO8601")
    return (b <= a).fillna(False), "ends_at must be after starts_at"


# The schema's other row CHECKs, checked in Python so the message names the row.
ROW_RULES: dict[str, tuple[RowRule, ...]] = {
    "road_edge": (_costs,),
    "risk_score": (_score,),
    "hot_work_permit": (_window,),
}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a target table."""

    name: str
    udt: str  # PostgreSQL type name: int4, varchar, timestamptz, _text, geometry, ...
    nullable: bool
    default: str | None  # SQL default expression, None if none
    identity: bool
    max_length: int | None

    @property
    def required(self) -> bool:
        """NOT NULL without a default: the source must supply a value on every row."""
        return not self.nullable and self.default is None and not self.identity


@dataclass(frozen=True)
class TableSpec:
    """A FireTwin table as seen by an importer."""

    name: str
    columns: dict[str, ColumnSpec]
    geometry_type: str | None  # POINT, LINESTRING, MULTIPOLYGON, ...; None without geom
    unique: tuple[str, ...]  # single-column unique keys (primary key included)
    # column -> (referenced table, referenced column)
    foreign_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    vocabularies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def required(self) -> list[str]:
        """Columns a source must provide (geometry and computed columns excluded)."""
        return [
            c.name
            for c in self.columns.values()
            if c.required and c.name != "geom" and c.name not in COMPUTED_COLUMNS
        ]

    @property
    def loadable(self) -> list[str]:
        """Columns a source may provide."""
        return [c for c in self.columns if c != "geom" and c not in COMPUTED_COLUMNS]


def table_spec(conn: psycopg.Connection, table: str) -> TableSpec:
    """Read the description of ``firetwin.<table>`` from the catalogue."""
    rows = conn.execute(
        "SELECT column_name, udt_name, is_nullable = 'YES', column_default, is_identity = 'YES', "
        "character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (SCHEMA, table),
    ).fetchall()
    if not rows:
        known = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "ORDER BY table_name",
                (SCHEMA,),
            )
        ]
        msg = f"unknown table {table!r}; FireTwin tables are: {', '.join(known)}"
        raise InvalidInputError(msg)
    columns = {r[0]: ColumnSpec(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}
    geom = conn.execute(
        "SELECT type FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s "
        "AND f_geometry_column = 'geom'",
        (SCHEMA, table),
    ).fetchone()
    unique = [
        r[0]
        for r in conn.execute(
            "SELECT a.attname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indnkeyatts = 1 "
            "AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY a.attnum",
            (f"{SCHEMA}.{table}",),
        )
    ]
    fks = {
        r[0]: (r[1].split(".")[-1], r[2])
        for r in conn.execute(
            "SELECT a.attname, c.confrelid::regclass::text, r.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1] "
            "WHERE c.conrelid = %s::regclass AND c.contype = 'f' "
            "AND array_length(c.conkey, 1) = 1",
            (f"{SCHEMA}.{table}",),
        )
    }
    return TableSpec(
        name=table,
        columns=columns,
        geometry_type=geom[0] if geom else None,
        unique=tuple(dict.fromkeys(unique)),
        foreign_keys=fks,
        vocabularies=VOCABULARIES.get(table, {}),
    )
