"""Backup/restore round trip with pg_dump/pg_restore, and migrations that keep existing data."""

from __future__ import annotations

import psycopg
import pytest

from gis import migrate
from gis.backup import BackupError, backup, restore
from gis.errors import InvalidInputError
from tests.conftest import fresh_sibling_database
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis


def _snapshot(url: str) -> dict[str, object]:
    with psycopg.connect(url) as c:
        return {t: c.execute(f"SELECT count(*), md5(string_agg(x::text, '' ORDER BY x::text)) "
                             f"FROM firetwin.{t} x").fetchone()
                for t in ("region", "grid", "unit", "app_user", "hazard", "hazard_event")}


def test_backup_restore_round_trip(db_url, tmp_path):
    src = fresh_sibling_database(db_url, "_backup_src")
    sd.build(src)
    with psycopg.connect(src) as c:
        c.execute("INSERT INTO firetwin.hazard (code, category, subcategory, tier, source, title, "
                  "geom, h3_r7, h3_r9, h3_r11) VALUES ('B-1', 'gas', 'hose_aged', 'blue', "
                  "'grid_worker', '软管', ST_SetSRID(ST_Point(120.52, 30.05), 4326), 1, 2, 3)")
        c.execute("INSERT INTO firetwin.hazard_event (hazard_id, at, action, to_status) "
                  "SELECT id, now(), 'report', 'reported' FROM firetwin.hazard")
    before = _snapshot(src)
    path = tmp_path / "firetwin.dump"
    assert backup(src, path) > 0 and path.read_bytes()[:5] == b"PGDMP"

    dst = fresh_sibling_database(db_url, "_backup_dst")  # migrated, empty
    restore(dst, path)
    assert _snapshot(dst) == before
    with psycopg.connect(dst) as c:
        # triggers and functions came back: grid assignment and the append-only history
        assert c.execute("SELECT grid_id FROM firetwin.hazard WHERE code = 'B-1'").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE firetwin.hazard_event SET note = 'x'")
    # restoring over a database with other data replaces it
    with psycopg.connect(dst) as c:
        c.execute("DELETE FROM firetwin.hazard")
    restore(dst, path)
    assert _snapshot(dst) == before


def test_restore_refuses_a_non_backup_and_changes_nothing(db_url, tmp_path):
    dst = fresh_sibling_database(db_url, "_backup_bad")
    sd.build(dst)
    before = _snapshot(dst)
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a dump at all")
    with pytest.raises(InvalidInputError):
        restore(dst, junk)
    truncated = tmp_path / "cut.dump"
    good = tmp_path / "good.dump"
    backup(dst, good)
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(BackupError):
        restore(dst, truncated)
    assert _snapshot(dst) == before


def test_migrations_upgrade_a_database_holding_data(db_url):
    url = fresh_sibling_database(db_url, "_upgrade", migrated=False)
    migrate.upgrade(url, "0005")
    with psycopg.connect(url) as c:
        c.execute("INSERT INTO firetwin.hazard (code, category, subcategory, tier, status, source, "
                  "title, verify_due_at, geom, h3_r7, h3_r9, h3_r11) VALUES "
                  "('OLD-1', 'gas', 'hose_aged', 'blue', 'reported', 'grid_worker', '旧隐患', "
                  "'2026-01-02T00:00Z', ST_SetSRID(ST_Point(120.52, 30.05), 4326), 1, 2, 3)")
    migrate.upgrade(url)
    with psycopg.connect(url) as c:
        row = c.execute("SELECT code, title, version, next_escalation_at::text FROM "
                        "firetwin.hazard").fetchall()
    assert row == [("OLD-1", "旧隐患", 1, "2026-01-02 00:00:00+00")]
