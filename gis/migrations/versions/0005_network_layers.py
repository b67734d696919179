"""coverage_gap and fire_lane_problem: network analysis results published as layers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_spec = importlib.util.spec_from_file_location(
    "v0002", Path(__file__).with_name("0002_layer_views.py"))
_v0002 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_v0002)


def upgrade() -> None:
    op.execute("""
        CREATE TABLE firetwin.coverage_gap (
            id bigserial PRIMARY KEY,
            h3_cell bigint NOT NULL,
            resolution smallint NOT NULL,
            units integer NOT NULL DEFAULT 0,
            buildings integer NOT NULL DEFAULT 0,
            high_risk_units integer NOT NULL DEFAULT 0,
            best_eta_s double precision,
            computed_at timestamptz NOT NULL DEFAULT now(),
            grid_id integer REFERENCES firetwin.grid (id) ON DELETE SET NULL,
            geom geometry(Polygon, 4326) NOT NULL
        );
        CREATE INDEX idx_coverage_gap_geom ON firetwin.coverage_gap USING gist (geom);
        CREATE TABLE firetwin.fire_lane_problem (
            id bigserial PRIMARY KEY,
            building_id integer NOT NULL REFERENCES firetwin.building (id) ON DELETE CASCADE,
            problem varchar(48) NOT NULL,
            message text NOT NULL,
            label_zh text,
            computed_at timestamptz NOT NULL DEFAULT now(),
            grid_id integer REFERENCES firetwin.grid (id) ON DELETE SET NULL,
            geom geometry(MultiPolygon, 4326) NOT NULL
        );
        CREATE INDEX idx_fire_lane_problem_geom ON firetwin.fire_lane_problem USING gist (geom);
        CREATE INDEX ix_fire_lane_problem_building ON firetwin.fire_lane_problem (building_id);
        SELECT firetwin.track_tile_changes('firetwin.coverage_gap');
        SELECT firetwin.track_tile_changes('firetwin.fire_lane_problem');
    """)
    _v0002.apply_views(("coverage_gaps", "fire_lane_problems"))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS layers.coverage_gaps, layers.fire_lane_problems")
    op.execute("DROP TABLE IF EXISTS firetwin.coverage_gap, firetwin.fire_lane_problem")
