"""station_isochrone and first_due_area: per-station drive-time rings and first-due areas as layers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0010"
branch_labels = None
depends_on = None

_spec = importlib.util.spec_from_file_location(
    "v0002", Path(__file__).with_name("0002_layer_views.py"))
_v0002 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_v0002)


def upgrade() -> None:
    # Both tables are replaced as a whole by services/workflows/network_layers.py.
    op.execute("""
        CREATE TABLE firetwin.station_isochrone (
            id bigserial PRIMARY KEY,
            station_id integer NOT NULL REFERENCES firetwin.station (id) ON DELETE CASCADE,
            from_s double precision NOT NULL,
            to_s double precision NOT NULL,
            area_km2 double precision NOT NULL,
            computed_at timestamptz NOT NULL DEFAULT now(),
            geom geometry(MultiPolygon, 4326) NOT NULL,
            CONSTRAINT ck_station_isochrone_band CHECK (0 <= from_s AND from_s < to_s)
        );
        CREATE INDEX idx_station_isochrone_geom ON firetwin.station_isochrone USING gist (geom);
        CREATE INDEX ix_station_isochrone_station ON firetwin.station_isochrone (station_id);
        CREATE TABLE firetwin.first_due_area (
            id bigserial PRIMARY KEY,
            station_id integer NOT NULL UNIQUE
                REFERENCES firetwin.station (id) ON DELETE CASCADE,
            nodes integer NOT NULL,
            area_km2 double precision NOT NULL,
            computed_at timestamptz NOT NULL DEFAULT now(),
            geom geometry(MultiPolygon, 4326) NOT NULL
        );
        CREATE INDEX idx_first_due_area_geom ON firetwin.first_due_area USING gist (geom);
        SELECT firetwin.track_tile_changes('firetwin.station_isochrone');
        SELECT firetwin.track_tile_changes('firetwin.first_due_area');
    """)
    _v0002.apply_views(("isochrones", "first_due_areas"))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS layers.isochrones, layers.first_due_areas")
    op.execute("DROP TABLE IF EXISTS firetwin.station_isochrone, firetwin.first_due_area")
