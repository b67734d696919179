"""network_state: a version number bumped on every change to road_edge

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

API workers hold the road graph in memory; each request compares this version with the one its
graph was built from and rebuilds when they differ, so all workers agree after a road change.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE firetwin.network_state (
            id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
            version bigint NOT NULL DEFAULT 0,
            changed_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO firetwin.network_state (id, version) VALUES (1, 0);
        CREATE FUNCTION firetwin.bump_network_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE firetwin.network_state SET version = version + 1, changed_at = now()
            WHERE id = 1;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER trg_road_edge_network_version
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON firetwin.road_edge
            FOR EACH STATEMENT EXECUTE FUNCTION firetwin.bump_network_version();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS trg_road_edge_network_version ON firetwin.road_edge")
    op.execute("DROP FUNCTION IF EXISTS firetwin.bump_network_version()")
    op.execute("DROP TABLE IF EXISTS firetwin.network_state")
