"""The Citus plan on plain PostgreSQL: classification, key rules, order, and the home unit.

Citus is not installable here, so the rules Citus enforces are checked by introspection: the
plan's plain-SQL phases (key rewrites, triggers, foreign keys) are executed on a scratch copy of
the migrated schema, and the result is held to what ``create_distributed_table`` and
``create_reference_table`` demand.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from typer.testing import CliRunner

from gis import distribute as d
from tests.conftest import fresh_sibling_database
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def planned(db_url):
    """A scratch database after the plan's non-Citus steps; (url, steps, schema after)."""
    url = fresh_sibling_database(db_url, "_dist")
    with psycopg.connect(url) as conn:
        steps = d.build_plan(d.introspect(conn))
        d.run_plan(conn, steps, citus=False)
        after = d.introspect(conn)
    return url, steps, after


def test_every_table_is_classified(conn):
    schema = d.introspect(conn)
    assert schema.tables, "no tables introspected"
    kinds = {t: d.kind_of(t) for t in schema.tables}  # PlanError names an unclassified table
    assert kinds["hazard"] == "distributed"
    assert kinds["road_edge"] == "reference"
    assert "spatial_ref_sys" not in kinds  # PostGIS's own table is not ours to distribute
    listed = {*d.UNIT_DISTRIBUTED, *d.OTHER_DISTRIBUTED, *d.REFERENCE, *d.LOCAL}
    missing = listed - schema.tables
    assert not missing, f"classified tables that do not exist: {missing}"


def test_an_unclassified_table_is_refused(conn):
    conn.execute("CREATE TABLE firetwin.mystery (id int PRIMARY KEY)")
    with pytest.raises(d.PlanError, match="mystery is not classified"):
        d.build_plan(d.introspect(conn))


def test_distributed_tables_have_their_column_not_null(conn):
    schema = d.introspect(conn)
    for table in schema.tables:
        col = d.distribution_column(table)
        if col is None:
            continue
        assert col in schema.columns[table], f"{table} lacks distribution column {col}"
        assert schema.columns[table][col], f"{table}.{col} is nullable"


def test_h3_and_region_codes_are_not_shard_keys():
    cols = {*d.UNIT_DISTRIBUTED.values(), *d.OTHER_DISTRIBUTED.values()}
    assert not {c for c in cols if c.startswith("h3_") or c in ("code", "grid_id", "region_id")}


def test_every_unique_key_includes_the_distribution_column(planned):
    _, _, after = planned
    for key in after.keys:
        col = d.distribution_column(key.table)
        if col is None or key.kind == "f":
            continue
        assert col in key.columns, f"{key.table}.{key.name} {key.columns} lacks {col}"


def test_foreign_keys_follow_citus_rules(planned):
    _, _, after = planned
    for key in (k for k in after.keys if k.kind == "f"):
        a, b = d.kind_of(key.table), d.kind_of(key.ref_table)
        assert b != "distributed" or a == "distributed", (
            f"{a} table {key.table} references distributed {key.ref_table} ({key.name})")
        assert "local" not in (a, b), f"{key.name} involves a coordinator-local table"
        if a == b == "distributed":
            assert d.colocation_group(key.table) == d.colocation_group(key.ref_table), key.name
            da, db = d.distribution_column(key.table), d.distribution_column(key.ref_table)
            assert da in key.columns and db in key.ref_columns, key.name
            assert key.columns.index(da) == key.ref_columns.index(db), (
                f"{key.name}: {da} must face {db}")


def test_children_keep_their_parent_through_the_home_unit(planned):
    _, _, after = planned
    fks = {(k.table, k.ref_table): k for k in after.keys if k.kind == "f"}
    for child, parent in d.COMPOSITE_FKS:
        key = fks[(child, parent)]
        assert key.columns[0] == "home_unit_id" and key.ref_columns == ("home_unit_id", "id")
    assert ("risk_score", "unit") in fks and ("inspection_plan", "unit") in fks


def test_lookups_by_id_and_code_stay_indexed(planned):
    url, _, _ = planned
    with psycopg.connect(url) as conn:
        indexed = {r[0] for r in conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'firetwin' "
            "AND tablename IN ('hazard', 'sensor_reading')")}
    assert any(i.endswith("hazard USING btree (id)") for i in indexed)
    assert any(i.endswith("hazard USING btree (tracking_code)") for i in indexed)
    assert any(i.endswith("USING btree (sensor_id, message_id)") for i in indexed)


def test_no_statement_trigger_is_left_on_citus_tables(planned):
    _, _, after = planned
    for trig in after.triggers:
        if d.kind_of(trig.table) == "local":
            continue
        assert trig.row_level and not trig.transition, f"{trig.table}.{trig.name}"


def _create_index(steps: list[d.Step]) -> dict[str, int]:
    out = {}
    for i, step in enumerate(steps):
        m = re.match(r"SELECT create_(?:distributed|reference)_table\('firetwin\.(\w+)'", step.sql)
        if m:
            out[m.group(1)] = i
    return out


def _reaches(parents: dict[str, set[str]], a: str, b: str) -> bool:
    seen, todo = set(), [a]
    while todo:
        t = todo.pop()
        if t == b:
            return True
        if t not in seen:
            seen.add(t)
            todo.extend(parents.get(t, ()))
    return False


def test_plan_order_parents_first(planned):
    _, steps, after = planned
    phases = [s.phase for s in steps]
    order = ["keys", "triggers", "citus", "foreign keys"]
    assert phases == sorted(phases, key=order.index), "phases out of order"
    created = _create_index(steps)
    tables = {t for t in after.tables if d.kind_of(t) != "local"}
    assert set(created) == tables, f"not handed to Citus: {tables - set(created)}"
    refs = [created[t] for t in tables if d.kind_of(t) == "reference"]
    dist = [created[t] for t in tables if d.kind_of(t) == "distributed"]
    assert max(refs) < min(dist), "reference tables come before distributed ones"
    assert min(dist) == created["unit"], "unit anchors the co-location group"
    assert "shard_count => 32" in steps[created["unit"]].sql
    assert "colocate_with => 'firetwin.unit'" in steps[created["hazard_event"]].sql
    parents: dict[str, set[str]] = {}
    for k in (k for k in after.keys if k.kind == "f" and k.table != k.ref_table):
        parents.setdefault(k.table, set()).add(k.ref_table)
    for child, ps in parents.items():
        for parent in ps:
            if _reaches(parents, parent, child):
                continue  # a cycle (region → grid → app_user → region): keys are added last
            assert created[parent] < created[child], f"{parent} must precede {child}"


def test_plan_is_idempotent_on_keys(planned):
    url, _, _ = planned
    with psycopg.connect(url) as conn:
        again = d.build_plan(d.introspect(conn))
    assert not [s for s in again if "PRIMARY KEY" in s.sql or "UNIQUE" in s.sql]
    assert not [s for s in again if s.phase == "triggers"]


def test_escalation_queue_runs_on_row_triggers(planned):
    url, _, _ = planned
    with psycopg.connect(url) as conn:
        sd.build(url) if not conn.execute("SELECT 1 FROM firetwin.grid").fetchone() else None
        hid = conn.execute(
            "INSERT INTO firetwin.hazard (code, category, subcategory, tier, source, title, "
            "geom, h3_r7, h3_r9, h3_r11, next_escalation_at) VALUES ('Q-1', 'electrical', "
            "'illegal_wiring', 'blue', 'grid_worker', 'q', ST_SetSRID(ST_MakePoint(%s, %s), 4326), "
            "1, 1, 1, now()) RETURNING id", sd.IN_G1_OPEN).fetchone()[0]
        due = conn.execute("SELECT home_unit_id FROM firetwin.hazard_escalation_due "
                           "WHERE hazard_id = %s", (hid,)).fetchone()
        assert due == (-1,)  # public space of grid G1
        conn.execute("UPDATE firetwin.hazard SET status = 'closed' WHERE id = %s", (hid,))
        assert conn.execute("SELECT count(*) FROM firetwin.hazard_escalation_due "
                            "WHERE hazard_id = %s", (hid,)).fetchone()[0] == 0
        conn.rollback()


def test_dry_run_prints_the_plan_and_distribute_explains_citus(planned, db_url, monkeypatch):
    from services.cli import app

    monkeypatch.setenv("FIRETWIN_DATABASE_URL", db_url)
    runner = CliRunner()
    r = runner.invoke(app, ["db", "distribute", "--dry-run", "--shard-count", "8"])
    assert r.exit_code == 0, r.output
    assert "SELECT create_distributed_table('firetwin.unit', 'id', shard_count => 8);" in r.stdout
    assert "SELECT create_reference_table('firetwin.road_edge');" in r.stdout
    assert r.stdout.index("create_reference_table('firetwin.grid')") < r.stdout.index(
        "create_distributed_table('firetwin.hazard'")
    r = runner.invoke(app, ["db", "distribute"])
    assert r.exit_code == 1
    assert "citus extension is not created" in r.output
    assert "Citus 13" in r.output.replace("\n", " ")


# ----------------------------------------------------------------------- the home unit (0017)


@pytest.fixture(scope="module")
def district_url(db_url):
    url = fresh_sibling_database(db_url, "_home")
    sd.build(url)
    return url


def _hazard(conn, code: str, point: tuple[float, float], unit_id: int | None) -> int:
    return conn.execute(
        "INSERT INTO firetwin.hazard (code, category, subcategory, tier, source, title, geom, "
        "h3_r7, h3_r9, h3_r11, unit_id) VALUES (%s, 'electrical', 'illegal_wiring', 'blue', "
        "'grid_worker', 't', ST_SetSRID(ST_MakePoint(%s, %s), 4326), 1, 1, 1, %s) RETURNING id",
        (code, *point, unit_id)).fetchone()[0]


def _home(conn, table: str, rid: int) -> int:
    return conn.execute(f"SELECT home_unit_id FROM firetwin.{table} WHERE id = %s",
                        (rid,)).fetchone()[0]


def test_home_unit_is_the_unit_or_the_public_space_of_the_grid(district_url):
    with psycopg.connect(district_url) as conn:
        in_unit = _hazard(conn, "H-1", sd.IN_G1, 1)
        open_g2 = _hazard(conn, "H-2", (120.58, 30.02), None)
        nowhere = _hazard(conn, "H-3", sd.OUTSIDE, None)
        assert _home(conn, "hazard", in_unit) == 1
        assert _home(conn, "hazard", open_g2) == -2
        assert _home(conn, "hazard", nowhere) == 0
        ev = conn.execute(
            "INSERT INTO firetwin.hazard_event (hazard_id, at, action, to_status) "
            "VALUES (%s, now(), 'report', 'reported') RETURNING id", (open_g2,)).fetchone()[0]
        assert _home(conn, "hazard_event", ev) == -2
        wo = conn.execute("INSERT INTO firetwin.work_order (kind, unit_id, issued_at) "
                          "VALUES ('risk_notice', 3, now()) RETURNING id").fetchone()[0]
        assert _home(conn, "work_order", wo) == 3
        conn.rollback()


def test_readings_follow_their_sensor_and_a_unit_change_moves_the_root(district_url):
    with psycopg.connect(district_url) as conn:
        sid = conn.execute(
            "INSERT INTO firetwin.sensor (code, kind, unit_id, geom, h3_r7, h3_r9, h3_r11) "
            "VALUES ('S-1', 'smoke', 2, ST_SetSRID(ST_MakePoint(%s, %s), 4326), 1, 1, 1) "
            "RETURNING id", sd.IN_G2).fetchone()[0]
        rid = conn.execute(
            "INSERT INTO firetwin.sensor_reading (sensor_id, observed_at, value, message_id) "
            "VALUES (%s, now(), 1.0, 'm1') RETURNING id", (sid,)).fetchone()[0]
        assert _home(conn, "sensor_reading", rid) == 2
        conn.execute("UPDATE firetwin.sensor SET unit_id = NULL WHERE id = %s", (sid,))
        assert _home(conn, "sensor", sid) == -2
        conn.execute("UPDATE firetwin.sensor SET unit_id = 3 WHERE id = %s", (sid,))
        assert _home(conn, "sensor", sid) == 3
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE firetwin.sensor SET home_unit_id = 1 WHERE id = %s", (sid,))
        conn.rollback()
