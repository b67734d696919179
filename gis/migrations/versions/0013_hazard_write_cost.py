"""hazard: drop the unused geography GiST index (every escalation and transition paid for it)

Revision ID: 0013
Revises: 0007
Create Date: 2026-11-22

No query reads hazards through ``geom::geography``: proximity to hazards goes through H3 cells
or the planar GiST index. Each hazard write (an escalation sweep over a million open hazards
above all) maintained it for nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS firetwin.ix_hazard_geog")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_hazard_geog ON firetwin.hazard USING gist ((geom::geography))")
