"""risk_cell table and the layer views (schema ``layers``)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from pathlib import Path

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The published layers' views live beside the catalogue (layers/views/*.sql); they are data for
# this migration, not code it imports, so gis/ keeps no dependency on layers/.
VIEWS = Path(__file__).resolve().parents[3] / "layers" / "views"


#: The views this revision creates; later revisions apply their own files (a view may read a
#: table that only a later revision creates).
VIEW_FILES = (
    "buildings", "grids", "hazards", "hot_work", "hydrants", "incidents", "regions", "risk",
    "risk_cells", "roads", "sensors", "stations", "units",
)


def apply_views(names: tuple[str, ...] = VIEW_FILES) -> None:
    """(Re)create the named layer views from layers/views/<name>.sql."""
    op.execute("CREATE SCHEMA IF NOT EXISTS layers")
    for name in names:
        op.execute((VIEWS / f"{name}.sql").read_text(encoding="utf-8"))


def upgrade() -> None:
    op.create_table(
        "risk_cell",
        sa.Column("h3_cell", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("resolution", sa.SmallInteger(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("max_score", sa.Double(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(geometry_type="POLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("h3_cell", "as_of", "model_version", name=op.f("pk_risk_cell")),
        schema="firetwin",
    )
    op.create_index(op.f("ix_risk_cell_resolution"), "risk_cell", ["resolution"], schema="firetwin")
    op.execute("CREATE INDEX idx_risk_cell_geom ON firetwin.risk_cell USING gist (geom)")
    apply_views()


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS layers CASCADE")
    op.drop_table("risk_cell", schema="firetwin")
