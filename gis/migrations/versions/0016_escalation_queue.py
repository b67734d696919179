"""escalation queue: the sweep's due list in a narrow table, hazard rows updated in place (HOT)

Revision ID: 0016
Revises: 0009
Create Date: 2026-11-22

The escalation sweep raised a million overdue hazards at about 7,000 a second: each escalation
rewrote the wide hazard row and all of its 17 index entries (geometry GiST, H3 cells, grid, …),
because two of the columns it changes — ``tier`` and ``next_escalation_at`` — were indexed.
Now:

* ``firetwin.hazard_escalation_due (hazard_id, due_at)`` holds one row per open hazard whose
  escalation clock runs (``hazard.next_escalation_at`` stays the truth; the queue is its
  index). Statement-level triggers keep it in step with every INSERT and UPDATE of ``hazard``
  by one MERGE from the transition table — transitions, the sweep, bulk loads and imports
  alike — so no code path has to remember it; deleting a hazard cascades. The queue is narrow
  (about 40 bytes a row) and has no index on ``due_at``: the sweep reads it whole (a million
  rows in well under 100 ms) and every update of it is HOT (``fillfactor = 50``).
* ``ix_hazard_next_escalation`` and the low-selectivity ``ix_hazard_tier`` (four values; no
  query reads hazards through it — tiles and lists go through the bbox, grid or status) are
  dropped, so an escalation changes no indexed column of ``hazard``.
* ``hazard`` gets ``fillfactor = 50``: every page keeps room for a new version of each of its
  rows, so the sweep's updates are heap-only tuple (HOT) updates that touch no index at all.
  Existing pages follow after ``VACUUM FULL firetwin.hazard`` (not run here: it locks the
  table); new rows follow at once.
* The sweep's history rows carry no geometry, H3 cell or grid; the history indexes on those
  columns become partial (``… IS NOT NULL``), which every query on them implies.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0009"
branch_labels = None
depends_on = None

FINAL = "('closed', 'rejected')"

UPGRADE_SQL = f"""
CREATE TABLE firetwin.hazard_escalation_due (
    hazard_id integer PRIMARY KEY
        REFERENCES firetwin.hazard (id) ON DELETE CASCADE,
    due_at timestamptz NOT NULL
) WITH (fillfactor = 50);
COMMENT ON TABLE firetwin.hazard_escalation_due IS
    'Open hazards whose escalation clock runs (the sweep''s queue), kept by triggers on hazard';

INSERT INTO firetwin.hazard_escalation_due (hazard_id, due_at)
SELECT id, next_escalation_at FROM firetwin.hazard
WHERE next_escalation_at IS NOT NULL AND status NOT IN {FINAL};

CREATE FUNCTION firetwin.sync_escalation_due() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    MERGE INTO firetwin.hazard_escalation_due q
    USING new_rows n ON q.hazard_id = n.id
    WHEN MATCHED AND (n.next_escalation_at IS NULL OR n.status IN {FINAL}) THEN DELETE
    WHEN MATCHED AND q.due_at <> n.next_escalation_at THEN
        UPDATE SET due_at = n.next_escalation_at
    WHEN NOT MATCHED AND n.next_escalation_at IS NOT NULL AND n.status NOT IN {FINAL} THEN
        INSERT (hazard_id, due_at) VALUES (n.id, n.next_escalation_at);
    RETURN NULL;
END
$$;
ALTER FUNCTION firetwin.sync_escalation_due() SET search_path FROM CURRENT;
-- The transition table has no statistics: without these the planner hashes the whole queue
-- for every statement (0.5 s per 50,000 escalations) instead of probing its primary key.
ALTER FUNCTION firetwin.sync_escalation_due() SET enable_hashjoin = off;
ALTER FUNCTION firetwin.sync_escalation_due() SET enable_mergejoin = off;
CREATE TRIGGER trg_hazard_escalation_due_ins AFTER INSERT ON firetwin.hazard
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION firetwin.sync_escalation_due();
CREATE TRIGGER trg_hazard_escalation_due_upd AFTER UPDATE ON firetwin.hazard
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION firetwin.sync_escalation_due();

DROP INDEX firetwin.ix_hazard_next_escalation;
DROP INDEX firetwin.ix_hazard_tier;
ALTER TABLE firetwin.hazard SET (fillfactor = 50);

DROP INDEX firetwin.idx_hazard_event_geom;
CREATE INDEX idx_hazard_event_geom ON firetwin.hazard_event USING gist (geom)
    WHERE geom IS NOT NULL;
DROP INDEX firetwin.ix_hazard_event_grid_id;
CREATE INDEX ix_hazard_event_grid_id ON firetwin.hazard_event (grid_id)
    WHERE grid_id IS NOT NULL;
DROP INDEX firetwin.ix_hazard_event_h3_r7;
CREATE INDEX ix_hazard_event_h3_r7 ON firetwin.hazard_event (h3_r7) WHERE h3_r7 IS NOT NULL;
DROP INDEX firetwin.ix_hazard_event_h3_r9;
CREATE INDEX ix_hazard_event_h3_r9 ON firetwin.hazard_event (h3_r9) WHERE h3_r9 IS NOT NULL;
DROP INDEX firetwin.ix_hazard_event_h3_r11;
CREATE INDEX ix_hazard_event_h3_r11 ON firetwin.hazard_event (h3_r11) WHERE h3_r11 IS NOT NULL;
"""

DOWNGRADE_SQL = """
DROP TRIGGER trg_hazard_escalation_due_ins ON firetwin.hazard;
DROP TRIGGER trg_hazard_escalation_due_upd ON firetwin.hazard;
DROP FUNCTION firetwin.sync_escalation_due();
DROP TABLE firetwin.hazard_escalation_due;
CREATE INDEX ix_hazard_next_escalation ON firetwin.hazard (next_escalation_at)
    WHERE next_escalation_at IS NOT NULL;
CREATE INDEX ix_hazard_tier ON firetwin.hazard (tier);
ALTER TABLE firetwin.hazard RESET (fillfactor);
DROP INDEX firetwin.idx_hazard_event_geom;
CREATE INDEX idx_hazard_event_geom ON firetwin.hazard_event USING gist (geom);
DROP INDEX firetwin.ix_hazard_event_grid_id;
CREATE INDEX ix_hazard_event_grid_id ON firetwin.hazard_event (grid_id);
DROP INDEX firetwin.ix_hazard_event_h3_r7;
CREATE INDEX ix_hazard_event_h3_r7 ON firetwin.hazard_event (h3_r7);
DROP INDEX firetwin.ix_hazard_event_h3_r9;
CREATE INDEX ix_hazard_event_h3_r9 ON firetwin.hazard_event (h3_r9);
DROP INDEX firetwin.ix_hazard_event_h3_r11;
CREATE INDEX ix_hazard_event_h3_r11 ON firetwin.hazard_event (h3_r11);
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
