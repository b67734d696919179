"""grid triggers restorable by pg_restore: no IS DISTINCT FROM on geometry in WHEN clauses

Revision ID: 0012
Revises: 0006
Create Date: 2026-11-22

pg_restore runs with an empty search_path, where ``geometry IS DISTINCT FROM geometry`` cannot
find PostGIS's ``=`` operator (IS DISTINCT FROM cannot be schema-qualified), so a backup could
not be restored. The WHEN clauses now call the schema-qualified ``ST_OrderingEquals``.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0006"
branch_labels = None
depends_on = None

_RECREATE = """
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT tg.tgname, c.relname
        FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'firetwin' AND tg.tgname LIKE 'trg\\_%\\_grid\\_update'
    LOOP
        EXECUTE format('DROP TRIGGER %I ON firetwin.%I', t.tgname, t.relname);
        EXECUTE format(
            'CREATE TRIGGER %I BEFORE UPDATE OF geom ON firetwin.%I FOR EACH ROW WHEN (%s) '
            'EXECUTE FUNCTION firetwin.assign_grid()', t.tgname, t.relname, %(cond)s);
    END LOOP;
END
$$;
"""


def upgrade() -> None:
    op.execute(_RECREATE.replace(
        "%(cond)s",
        "'(NEW.geom IS NULL) <> (OLD.geom IS NULL) "
        "OR NOT firetwin.ST_OrderingEquals(NEW.geom, OLD.geom)'"))


def downgrade() -> None:
    op.execute(_RECREATE.replace("%(cond)s", "'NEW.geom IS DISTINCT FROM OLD.geom'"))
