"""The Citus distribution plan: which table is what, and the ordered SQL that makes it so.

``build_plan(schema)`` reads nothing but the :class:`Schema` introspected from a migrated
database (``introspect(conn)``) and returns the ordered :class:`Step` list that
``firetwin db distribute`` runs (``--dry-run`` prints it). The plan is idempotent: it is derived
from the live catalogue, so keys already rewritten and tables already handed to Citus are
skipped, and a plan interrupted half-way can be rerun.

Classes of tables (``docs/scaling.md`` gives the reasons):

* **distributed, co-located with ``unit``** (hash of the unit id): ``unit`` by ``id`` and every
  unit-owned table by its *home unit* (``home_unit_id``, migration 0017: the unit, else
  ``-grid_id`` for the public space of the grid, else 0) or by ``unit_id`` where that is never
  NULL. A unit's hazards, their history, inspections, sensors, readings, alarms, risk scores,
  incidents and hot-work permits sit on the shard of the unit, so joins between them on the
  home unit never leave a worker.
* **distributed by user** (own co-location group): ``notification`` by ``user_id`` — an inbox
  is read per user and many notifications (digests, cluster warnings) have no hazard.
* **reference** (a full copy on every node): the governance polygons, users and roles, the
  physical city (buildings, facilities including hydrants, road network, stations, vehicles)
  and the analysis outputs keyed by grid, cell or cluster. Spatial joins against them run
  locally on every shard.
* **local** (coordinator only): bookkeeping that is never joined with distributed data.

H3 cells and region codes stay ordinary indexed columns: sharding by them would put a dense
city block or a whole street on one worker.

Phases of the plan, in order:

1. ``keys`` (plain SQL, one transaction): drop every foreign key Citus would refuse or that is
   about to change; rewrite the primary and unique keys of distributed tables to lead with the
   distribution column (Citus can only enforce uniqueness within a shard).
2. ``triggers`` (plain SQL): statement-level triggers with transition tables are not
   propagated to shards, so the tile change-log triggers are dropped (layers on those tables
   are then served uncached: ``tiles.service`` stops caching a layer whose table is untracked)
   and the escalation queue and the road-network version are kept by row-level triggers.
3. ``citus``: ``create_reference_table`` then ``create_distributed_table`` (``unit`` first,
   the rest ``colocate_with => 'firetwin.unit'``), parents before children.
4. ``foreign keys`` (plain SQL): the foreign keys Citus accepts, re-added — composite
   ``(home_unit_id, x_id) → parent (home_unit_id, id)`` between co-located tables.

Phases 1, 2 and 4 are plain PostgreSQL and are executed on a scratch database by the tests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

SCHEMA = "firetwin"

#: Distributed tables co-located with ``unit`` and their distribution column.
UNIT_DISTRIBUTED: dict[str, str] = {
    "unit": "id",
    "hazard": "home_unit_id",
    "hazard_event": "home_unit_id",
    "hazard_department": "home_unit_id",
    "hazard_escalation_due": "home_unit_id",
    "work_order": "home_unit_id",
    "inspection": "home_unit_id",
    "inspection_plan": "unit_id",
    "incident": "home_unit_id",
    "hot_work_permit": "home_unit_id",
    "risk_score": "unit_id",
    "sensor": "home_unit_id",
    "sensor_reading": "home_unit_id",
    "sensor_rule_state": "home_unit_id",
    "sensor_alarm": "home_unit_id",
}
#: Distributed tables in their own co-location group, and their distribution column.
OTHER_DISTRIBUTED: dict[str, str] = {"notification": "user_id"}

REFERENCE: tuple[str, ...] = (
    "role", "region", "grid", "app_user", "user_grid", "building", "facility", "station",
    "vehicle", "road_node", "road_edge", "network_state", "risk_model", "risk_cell",
    "risk_grid", "hazard_cluster", "hotspot_cell", "hazard_warning", "station_isochrone",
    "first_due_area", "coverage_gap", "fire_lane_problem", "attachment", "hazard_code_counter",
)
#: Stay plain tables on the coordinator (never joined with distributed tables).
LOCAL: tuple[str, ...] = ("alembic_version", "tile_change", "rate_event", "idempotency_key")

#: Child -> parent pairs whose home unit is the parent's by construction (migration 0017):
#: their foreign key becomes (home_unit_id, fk) -> parent (home_unit_id, id).
COMPOSITE_FKS: frozenset[tuple[str, str]] = frozenset({
    ("hazard_event", "hazard"), ("hazard_department", "hazard"),
    ("hazard_escalation_due", "hazard"), ("work_order", "hazard"),
    ("sensor_reading", "sensor"), ("sensor_rule_state", "sensor"), ("sensor_alarm", "sensor"),
})

#: The escalation queue kept row by row (migration 0016 does it per statement).
_ESCALATION_ROW_SQL = """
CREATE OR REPLACE FUNCTION firetwin.sync_escalation_due_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.next_escalation_at IS NULL OR NEW.status IN ('closed', 'rejected') THEN
        DELETE FROM firetwin.hazard_escalation_due
        WHERE home_unit_id = NEW.home_unit_id AND hazard_id = NEW.id;
    ELSE
        INSERT INTO firetwin.hazard_escalation_due (home_unit_id, hazard_id, due_at)
        VALUES (NEW.home_unit_id, NEW.id, NEW.next_escalation_at)
        ON CONFLICT (home_unit_id, hazard_id) DO UPDATE SET due_at = EXCLUDED.due_at
        WHERE firetwin.hazard_escalation_due.due_at <> EXCLUDED.due_at;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER trg_hazard_escalation_due_row
    AFTER INSERT OR UPDATE OF next_escalation_at, status ON firetwin.hazard
    FOR EACH ROW EXECUTE FUNCTION firetwin.sync_escalation_due_row()"""

_NETWORK_ROW_SQL = """
CREATE TRIGGER trg_road_edge_network_version_row
    AFTER INSERT OR UPDATE OR DELETE ON firetwin.road_edge
    FOR EACH ROW EXECUTE FUNCTION firetwin.bump_network_version()"""


class PlanError(Exception):
    """The schema cannot be planned (a table nobody classified, a key that cannot be kept)."""


# ----------------------------------------------------------------------------- introspection


@dataclass(frozen=True, slots=True)
class Key:
    """A primary key, unique constraint, unique index or foreign key of a firetwin table."""

    name: str
    kind: str  # 'p' primary, 'u' unique constraint, 'i' unique index, 'f' foreign key
    table: str
    columns: tuple[str, ...]
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()
    on_delete: str = "a"  # pg_constraint.confdeltype
    definition: str = ""


@dataclass(frozen=True, slots=True)
class Trigger:
    """A user trigger: row or statement level, with or without transition tables."""

    name: str
    table: str
    row_level: bool
    transition: bool
    function: str


@dataclass(slots=True)
class Schema:
    """What the plan needs from the catalogue."""

    tables: set[str] = field(default_factory=set)
    columns: dict[str, dict[str, bool]] = field(default_factory=dict)  # table -> col -> not null
    keys: list[Key] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    citus_tables: dict[str, str] = field(default_factory=dict)  # table -> 'reference'|'hash'


_TABLES_SQL = """
SELECT c.relname, a.attname, a.attnotnull FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')  -- PostGIS's spatial_ref_sys
"""
_KEYS_SQL = """
SELECT c.conname, c.contype::text, t.relname,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
       rt.relname,
       array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o),
       c.confdeltype::text, pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
LEFT JOIN pg_class rt ON rt.oid = c.confrelid
WHERE c.connamespace = %s::regnamespace AND c.contype IN ('p', 'u', 'f')
  AND t.relname <> 'spatial_ref_sys'
UNION ALL
SELECT ic.relname, 'i', t.relname,
       array(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),
       NULL, '{}'::text[], 'a', pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relnamespace = %s::regnamespace AND i.indisunique AND t.relname <> 'spatial_ref_sys'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""
_TRIGGERS_SQL = """
SELECT t.tgname, c.relname, (t.tgtype & 1) = 1,
       t.tgoldtable IS NOT NULL OR t.tgnewtable IS NOT NULL, p.proname
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
WHERE c.relnamespace = %s::regnamespace AND NOT t.tgisinternal
"""
_CITUS_SQL = """
SELECT c.relname, CASE p.partmethod WHEN 'n' THEN 'reference' ELSE 'hash' END
FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
WHERE c.relnamespace = %s::regnamespace
"""


def introspect(conn: psycopg.Connection, schema: str = SCHEMA) -> Schema:
    """Tables, columns, keys and triggers of ``schema`` (and what Citus already holds)."""
    s = Schema()
    for table, column, notnull in conn.execute(_TABLES_SQL, (schema,)):
        s.tables.add(table)
        s.columns.setdefault(table, {})[column] = notnull
    for name, kind, table, cols, ref, ref_cols, on_delete, definition in conn.execute(
        _KEYS_SQL, (schema, schema)
    ):
        s.keys.append(Key(name, kind, table, tuple(cols), ref, tuple(ref_cols or ()),
                          on_delete, definition))
    for name, table, row_level, transition, function in conn.execute(_TRIGGERS_SQL, (schema,)):
        s.triggers.append(Trigger(name, table, row_level, transition, function))
    if has_citus(conn):
        s.citus_tables = dict(conn.execute(_CITUS_SQL, (schema,)).fetchall())
    return s


def has_citus(conn: psycopg.Connection) -> bool:
    """Whether the citus extension is created in this database."""
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone()
    return row is not None


def citus_available(conn: psycopg.Connection) -> bool:
    """Whether the server has the citus extension installed (CREATE EXTENSION would work)."""
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'citus'").fetchone()
    return row is not None


# ----------------------------------------------------------------------------------- classes


def kind_of(table: str) -> str:
    """'distributed', 'reference' or 'local'; PlanError for a table nobody classified."""
    if table in UNIT_DISTRIBUTED or table in OTHER_DISTRIBUTED:
        return "distributed"
    if table in REFERENCE:
        return "reference"
    if table in LOCAL:
        return "local"
    msg = (f"table firetwin.{table} is not classified for Citus: add it to UNIT_DISTRIBUTED, "
           "OTHER_DISTRIBUTED, REFERENCE or LOCAL in gis/distribute.py (docs/scaling.md)")
    raise PlanError(msg)


def distribution_column(table: str) -> str | None:
    """The distribution column of a distributed table, else None."""
    return UNIT_DISTRIBUTED.get(table) or OTHER_DISTRIBUTED.get(table)


def colocation_group(table: str) -> str | None:
    """Tables in one group are co-located; None for reference and local tables."""
    if table in UNIT_DISTRIBUTED:
        return "unit"
    if table in OTHER_DISTRIBUTED:
        return table
    return None


# -------------------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of the plan; ``citus`` steps need the extension, the others do not."""

    phase: str  # 'keys', 'triggers', 'citus', 'foreign keys'
    sql: str
    note: str = ""
    table: str | None = None

    @property
    def citus(self) -> bool:
        return self.phase == "citus"


_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
              "d": "SET DEFAULT"}


def _q(table: str) -> str:
    return f"{SCHEMA}.{table}"


def _cols(cols: Iterable[str]) -> str:
    return ", ".join(cols)


def _desired_fk(key: Key) -> tuple[Key | None, str]:
    """The foreign key Citus gets in place of ``key`` (None: dropped) and why."""
    a, b = key.table, key.ref_table or ""
    ka, kb = kind_of(a), kind_of(b)
    if kb == "reference" and ka in ("distributed", "reference"):
        return key, "to a reference table: kept"
    if ka == "distributed" and kb == "distributed":
        da, db = distribution_column(a), distribution_column(b)
        same_group = colocation_group(a) == colocation_group(b)
        if same_group and key.columns[:1] == (da,) and key.ref_columns[:1] == (db,):
            return key, "co-located, on the distribution columns: kept"
        if same_group and da and db and (a, b) in COMPOSITE_FKS:
            new = Key(key.name, "f", a, (da, *key.columns), b, (db, *key.ref_columns),
                      key.on_delete)
            return new, "co-located child: rewritten to include the home unit"
        return None, ("between distributed tables not on the distribution column: Citus "
                      "cannot enforce it; the application keeps it (docs/scaling.md)")
    if kb == "distributed":
        return None, f"from a {ka} table to a distributed one: Citus cannot enforce it"
    if ka == "local" or kb == "local":
        return None, "involves a coordinator-local table: dropped"
    return None, "not supported by Citus"


def _fk_sql(key: Key) -> str:
    return (f"ALTER TABLE {_q(key.table)} ADD CONSTRAINT {key.name} FOREIGN KEY "
            f"({_cols(key.columns)}) REFERENCES {_q(key.ref_table or '')} "
            f"({_cols(key.ref_columns)}) ON DELETE {_ON_DELETE[key.on_delete]}")


def _lookup_index(key: Key) -> Step:
    """A plain index on the key's own columns: lookups by id or code without the home unit
    (``GET /api/hazards/{id}``, tracking codes, QR tokens) stay index scans on every shard."""
    name = f"ix_{key.table}_{'_'.join(key.columns)}_lookup"[:63]
    return Step("keys", f"CREATE INDEX {name} ON {_q(key.table)} ({_cols(key.columns)})",
                "the old key's columns stay indexed for lookups without the home unit", key.table)


def _order(tables: Iterable[str], parents: dict[str, set[str]]) -> list[str]:
    """Tables with parents first (depth-first; cycles broken at the first table reached)."""
    done: list[str] = []
    seen: set[str] = set()
    pool = set(tables)

    def visit(t: str, stack: set[str]) -> None:
        if t in seen or t in stack:
            return
        stack.add(t)
        for p in sorted(parents.get(t, ())):
            if p in pool and p != t:
                visit(p, stack)
        stack.discard(t)
        seen.add(t)
        done.append(t)

    for t in sorted(pool):
        visit(t, set())
    return done


def build_plan(schema: Schema, *, shard_count: int = 32) -> list[Step]:
    """The ordered steps that distribute ``schema`` (see the module docstring)."""
    if shard_count < 1:
        msg = "shard_count must be at least 1"
        raise PlanError(msg)
    for table in sorted(schema.tables):
        kind_of(table)  # refuses unclassified tables
    for table in sorted(schema.tables):
        col = distribution_column(table)
        if col is None:
            continue
        notnull = schema.columns.get(table, {}).get(col)
        if notnull is None:
            msg = f"distributed table firetwin.{table} has no column {col}: migrate first"
            raise PlanError(msg)
        if not notnull and col != "id":
            msg = f"distribution column firetwin.{table}.{col} must be NOT NULL"
            raise PlanError(msg)

    steps: list[Step] = []
    fks = [k for k in schema.keys if k.kind == "f" and k.table in schema.tables]
    # Every foreign key is dropped before the tables change hands and the accepted ones are
    # added back once all tables are Citus tables, so creation order never trips on a key
    # (reference tables reference each other in a cycle: region -> grid -> app_user -> region).
    kept: list[tuple[Key, str]] = []
    settled: set[tuple[str, str]] = set()
    for key in fks:
        desired, why = _desired_fk(key)
        if (desired == key and key.table in schema.citus_tables
                and key.ref_table in schema.citus_tables):
            settled.add((key.table, key.name))  # a finished earlier run: nothing to do
            continue
        note = f"{key.table} → {key.ref_table}: {why}"
        if desired is not None:
            note += "; added back after the tables are distributed"
            kept.append((desired, why))
        steps.append(Step("keys", f"ALTER TABLE {_q(key.table)} DROP CONSTRAINT {key.name}",
                          note, key.table))

    # Primary and unique keys of distributed tables lead with the distribution column.
    for key in sorted(schema.keys, key=lambda k: (k.table, k.kind, k.name)):
        col = distribution_column(key.table)
        if key.kind == "f" or col is None or col in key.columns:
            continue
        new_cols = (col, *key.columns)
        if key.kind == "i":
            steps.append(Step("keys", f"DROP INDEX {SCHEMA}.{key.name}", "", key.table))
            steps.append(Step(
                "keys", f"CREATE UNIQUE INDEX {key.name} ON {_q(key.table)} ({_cols(new_cols)})",
                "unique index with the distribution column first", key.table))
            steps.append(_lookup_index(key))
            continue
        what = "PRIMARY KEY" if key.kind == "p" else "UNIQUE"
        note = ("Citus enforces uniqueness per shard only: the key leads with the "
                f"distribution column {col}")
        if key.kind == "u":
            note += "; global uniqueness of " + _cols(key.columns) + " rests on how it is minted"
        steps.append(Step("keys", f"ALTER TABLE {_q(key.table)} DROP CONSTRAINT {key.name}",
                          "", key.table))
        steps.append(Step("keys", f"ALTER TABLE {_q(key.table)} ADD CONSTRAINT {key.name} "
                          f"{what} ({_cols(new_cols)})", note, key.table))
        steps.append(_lookup_index(key))

    # Triggers Citus does not propagate to shards.
    citus_tables = [t for t in schema.tables if kind_of(t) != "local"]
    for trig in sorted(schema.triggers, key=lambda t: (t.table, t.name)):
        if trig.table not in citus_tables:
            continue
        if trig.transition or not trig.row_level:
            steps.append(Step(
                "triggers", f"DROP TRIGGER {trig.name} ON {_q(trig.table)}",
                f"statement-level trigger ({trig.function}) is not propagated to shards",
                trig.table))
    names = {(t.table, t.name) for t in schema.triggers}
    if ("hazard", "trg_hazard_escalation_due_ins") in names:
        steps.append(Step("triggers", _ESCALATION_ROW_SQL.strip(),
                          "the escalation queue kept row by row, on the hazard's shard",
                          "hazard"))
    if ("road_edge", "trg_road_edge_network_version") in names:
        steps.append(Step("triggers", _NETWORK_ROW_SQL.strip(),
                          "road-network version bumped row by row (API workers rebuild)",
                          "road_edge"))

    # Citus tables, parents first.
    parents: dict[str, set[str]] = defaultdict(set)
    for key in (*(k for k, _ in kept), *(k for k in fks if (k.table, k.name) in settled)):
        parents[key.table].add(key.ref_table or "")
    refs = _order([t for t in schema.tables if kind_of(t) == "reference"], parents)
    for t in refs:
        if schema.citus_tables.get(t) == "reference":
            continue
        steps.append(Step("citus", f"SELECT create_reference_table('{_q(t)}')",
                          "reference table: a copy on every node", t))
    dist = [t for t in _order([t for t in schema.tables if t in UNIT_DISTRIBUTED], parents)
            if t != "unit"]
    if "unit" in schema.tables and schema.citus_tables.get("unit") != "hash":
        steps.append(Step(
            "citus", f"SELECT create_distributed_table('{_q('unit')}', 'id', "
            f"shard_count => {int(shard_count)})",
            "the anchor of the co-location group", "unit"))
    for t in dist:
        if schema.citus_tables.get(t) == "hash":
            continue
        steps.append(Step(
            "citus", f"SELECT create_distributed_table('{_q(t)}', '{UNIT_DISTRIBUTED[t]}', "
            f"colocate_with => '{_q('unit')}')", "co-located with unit", t))
    for t in sorted(t for t in schema.tables if t in OTHER_DISTRIBUTED):
        if schema.citus_tables.get(t) == "hash":
            continue
        steps.append(Step(
            "citus", f"SELECT create_distributed_table('{_q(t)}', '{OTHER_DISTRIBUTED[t]}', "
            f"colocate_with => 'none', shard_count => {int(shard_count)})",
            "its own co-location group", t))

    for key, why in sorted(kept, key=lambda kw: (kw[0].table, kw[0].name)):
        steps.append(Step("foreign keys", _fk_sql(key), why, key.table))
    return steps


def plan_sql(steps: list[Step]) -> str:
    """The plan as one SQL script with its notes as comments (``--dry-run``)."""
    lines = ["-- firetwin db distribute: the plan (gis/distribute.py, docs/scaling.md)",
             "-- Run on the Citus coordinator after CREATE EXTENSION citus and citus_add_node.",
             "SET citus.enable_unsafe_triggers TO on;  -- row triggers propagate to shards",
             "BEGIN;"]
    phase = None
    for step in steps:
        if step.phase != phase:
            if phase == "triggers":
                lines.append("COMMIT;")
            phase = step.phase
            lines.append("")
            lines.append(f"-- ---- {phase}")
        if step.note:
            lines.append(f"-- {step.note}")
        lines.append(step.sql.rstrip(";") + ";")
    if phase in ("keys", "triggers"):
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def run_plan(conn: psycopg.Connection, steps: list[Step], *, citus: bool = True) -> int:
    """Execute the steps: keys and triggers in one transaction, then each Citus step and the
    foreign keys in their own. ``citus=False`` skips the Citus steps (plain PostgreSQL, tests).
    Returns the number of statements run.
    """
    done = 0
    with conn.transaction():
        if citus:
            conn.execute("SET LOCAL citus.enable_unsafe_triggers TO on")
        for step in steps:
            if step.phase in ("keys", "triggers"):
                conn.execute(sql.SQL(step.sql))  # type: ignore[arg-type]
                done += 1
    for step in steps:
        if step.phase == "citus" and not citus:
            continue
        if step.phase in ("citus", "foreign keys"):
            with conn.transaction():
                if citus:
                    conn.execute("SET LOCAL citus.enable_unsafe_triggers TO on")
                conn.execute(sql.SQL(step.sql))  # type: ignore[arg-type]
            done += 1
    return done
