"""Render docs/schema.md from the SQLAlchemy models (``python -m gis.schema_doc``).

A test checks the committed file is current, so the document cannot drift from the schema.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint

from gis.models import SCHEMA, Base, Feature

HEADER = f"""# FireTwin schema

Generated from `gis/models.py` by `python -m gis.schema_doc > docs/schema.md`; do not edit by hand.
All tables live in schema `{SCHEMA}`; migrations are in `gis/migrations` (Alembic).

**Feature tables** carry `geom` (EPSG:4326, GiST index), `h3_r7`, `h3_r9`, `h3_r11` (BIGINT H3
cells of the feature's anchor point: the point, the middle of a line, or the point on surface of a
polygon) and `grid_id` (the ordinary grid polygon containing the anchor point). H3 cells are
computed at write time (`gis/indexing.py`; a CHECK constraint refuses a geometry without them);
`grid_id` is filled by trigger `firetwin.assign_grid()` whenever a writer leaves it NULL and
recomputed when the geometry moves, so every write path (API, importers, plain SQL) gets it.

`road_edge` is pgRouting-compatible as it is:
`SELECT * FROM pgr_dijkstra('SELECT id, source, target, cost, reverse_cost FROM firetwin.road_edge', a, b)`.
Costs are seconds of travel time; a negative `reverse_cost` marks a one-way edge.

Support tables created by migrations in SQL (not models): `firetwin.tile_change` (bounding
boxes of changed rows, written by statement triggers on every table a layer view reads; the tile
caches of all API workers read it to evict stale tiles; pruned after 15 minutes),
`firetwin.network_state` (a version bumped on any change to `road_edge`, so every worker rebuilds
its in-memory road graph) and `firetwin.alembic_version`. The published layers are views in
schema `layers` (`layers/views/*.sql`, one per catalogue layer).

Schema `demo_truth` holds the demo generator's ground truth (`unit_propensity(unit_id, p_fire,
log_odds, drivers)`, `generation(seed, scale, generated_at, counts)`); the risk model never
reads it.
"""


def _type(col) -> str:
    t = col.type
    if isinstance(t, Geometry):
        return f"geometry({t.geometry_type}, {t.srid})"
    try:
        return str(t.compile()).lower()
    except Exception:
        return type(t).__name__.lower()


def render() -> str:
    parts = [HEADER]
    models = sorted(Base.__subclasses__(), key=lambda m: m.__tablename__)
    for model in models:
        table = model.__table__
        kind = "feature table" if issubclass(model, Feature) else "table"
        doc = inspect.cleandoc(model.__doc__ or "").replace("\n", " ")
        parts.append(f"\n## `{table.name}` ({kind})\n\n{doc}\n")
        parts.append("| column | type | null | notes |\n|---|---|---|---|")
        for col in table.columns:
            notes = []
            if col.primary_key:
                notes.append("primary key")
            for fk in col.foreign_keys:
                notes.append(f"→ `{fk.column.table.name}.{fk.column.name}`")
            if col.unique:
                notes.append("unique")
            if col.identity is not None:
                notes.append("identity")
            elif col.server_default is not None:
                arg = col.server_default.arg
                notes.append(f"default `{getattr(arg, 'text', arg)}`")
            parts.append(
                f"| `{col.name}` | {_type(col)} | {'yes' if col.nullable else 'no'} | "
                f"{', '.join(notes)} |"
            )
        checks = sorted(
            (c for c in table.constraints if isinstance(c, CheckConstraint)), key=lambda c: str(c.sqltext)
        )
        if checks:
            parts.append("\nChecks:\n")
            for c in checks:
                parts.append(f"- `{c.sqltext}`")
    return "\n".join(parts) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()


DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "schema.md"
