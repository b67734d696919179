"""tile_change log and statement triggers for vector-tile cache invalidation

Every API worker keeps an in-process tile cache (tiles/cache.py). So that a hazard created or
closed shows in the next tile request on every worker, each write to a table that a layer view
reads appends the EPSG:4326 boxes of the changed rows (old and new versions, one box per H3 r7
cell) to ``firetwin.tile_change``; workers read the rows after the last one they saw and evict
the cached tiles those boxes touch. Statement-level triggers with transition tables keep the cost
to one small INSERT per statement (a bulk COPY of a million rows logs a few hundred boxes). A
NULL box means "anywhere": TRUNCATE, and tables without geometry (vehicle, app_user).

A later migration that adds a layer view over a new table calls
``SELECT firetwin.track_tile_changes('firetwin.<table>')`` (idempotent), or re-runs
``track_layer_tables()`` below.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = """
CREATE TABLE firetwin.tile_change (
    id bigserial PRIMARY KEY,
    table_name text NOT NULL,
    min_x double precision,
    min_y double precision,
    max_x double precision,
    max_y double precision,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_tile_change_changed_at ON firetwin.tile_change (changed_at);
COMMENT ON TABLE firetwin.tile_change IS
    'EPSG:4326 boxes (NULL: anywhere) of rows changed in tables that layer views read; '
    'tile caches evict the tiles they touch (tiles/cache.py).';
"""

# One function for every event: PL/pgSQL plans a statement only when it first runs, so each
# branch names only the transition tables its event has. TG_ARGV[0] is the table's mode:
# 'h3' (geom and h3_r7: one box per r7 cell), 'geom' (one box), 'none' (no geometry).
FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION firetwin.log_tile_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mode text := TG_ARGV[0];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO firetwin.tile_change (table_name) VALUES (TG_TABLE_NAME);
    ELSIF mode = 'none' THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM 1 FROM old_rows LIMIT 1;
        ELSE
            PERFORM 1 FROM new_rows LIMIT 1;
        END IF;
        IF FOUND THEN
            INSERT INTO firetwin.tile_change (table_name) VALUES (TG_TABLE_NAME);
        END IF;
    ELSIF mode = 'h3' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO firetwin.tile_change (table_name, min_x, min_y, max_x, max_y)
            SELECT TG_TABLE_NAME, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (SELECT ST_Extent(geom) AS e FROM new_rows GROUP BY h3_r7) s
            WHERE e IS NOT NULL;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO firetwin.tile_change (table_name, min_x, min_y, max_x, max_y)
            SELECT TG_TABLE_NAME, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (SELECT ST_Extent(geom) AS e FROM old_rows GROUP BY h3_r7) s
            WHERE e IS NOT NULL;
        ELSE
            INSERT INTO firetwin.tile_change (table_name, min_x, min_y, max_x, max_y)
            SELECT TG_TABLE_NAME, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (
                SELECT ST_Extent(geom) AS e
                FROM (SELECT h3_r7, geom FROM new_rows
                      UNION ALL SELECT h3_r7, geom FROM old_rows) c
                GROUP BY h3_r7
            ) s
            WHERE e IS NOT NULL;
        END IF;
    ELSE
        IF TG_OP = 'INSERT' THEN
            INSERT INTO firetwin.tile_change (table_name, min_x, min_y, max_x, max_y)
            SELECT TG_TABLE_NAME, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (SELECT ST_Extent(geom) AS e FROM new_rows) s WHERE e IS NOT NULL;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO firetwin.tile_change (table_name, min_x, min_y, max_x, max_y)
            SELECT TG_TABLE_NAME, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (SELECT ST_Extent(geom) AS e FROM old_rows) s WHERE e IS NOT NULL;
        ELSE
            INSERT INTO firetwin.tile_change (table_name, min_x, min_y, max_x, max_y)
            SELECT TG_TABLE_NAME, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (SELECT ST_Extent(geom) AS e
                  FROM (SELECT geom FROM new_rows UNION ALL SELECT geom FROM old_rows) c) s
            WHERE e IS NOT NULL;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- Install the four statement triggers on a table (transition tables allow one event each).
CREATE OR REPLACE FUNCTION firetwin.track_tile_changes(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    has_geom boolean;
    has_h3 boolean;
    mode text;
BEGIN
    SELECT coalesce(bool_or(attname = 'geom'), false), coalesce(bool_or(attname = 'h3_r7'), false)
    INTO has_geom, has_h3
    FROM pg_attribute WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped;
    mode := CASE WHEN has_geom AND has_h3 THEN 'h3' WHEN has_geom THEN 'geom' ELSE 'none' END;
    EXECUTE format('DROP TRIGGER IF EXISTS trg_tile_change_ins ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS trg_tile_change_upd ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS trg_tile_change_del ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS trg_tile_change_trunc ON %s', tbl);
    EXECUTE format('CREATE TRIGGER trg_tile_change_ins AFTER INSERT ON %s '
                   'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION firetwin.log_tile_change(%L)', tbl, mode);
    EXECUTE format('CREATE TRIGGER trg_tile_change_upd AFTER UPDATE ON %s '
                   'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION firetwin.log_tile_change(%L)', tbl, mode);
    EXECUTE format('CREATE TRIGGER trg_tile_change_del AFTER DELETE ON %s '
                   'REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION firetwin.log_tile_change(%L)', tbl, mode);
    EXECUTE format('CREATE TRIGGER trg_tile_change_trunc AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION firetwin.log_tile_change(%L)', tbl, mode);
END
$$;

-- The firetwin tables each layer view reads (directly or through joins and subqueries).
CREATE OR REPLACE FUNCTION firetwin.layer_tables()
RETURNS TABLE (view_name name, table_name name)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT v.relname, t.relname
    FROM pg_depend d
    JOIN pg_rewrite r ON r.oid = d.objid
    JOIN pg_class v ON v.oid = r.ev_class
    JOIN pg_namespace vn ON vn.oid = v.relnamespace
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
      AND vn.nspname = 'layers' AND tn.nspname = 'firetwin' AND t.relkind IN ('r', 'p')
$$;

-- A writer with an unusual search_path must still find PostGIS in the trigger.
ALTER FUNCTION firetwin.log_tile_change() SET search_path FROM CURRENT;
"""

TRACK_ALL = """
SELECT firetwin.track_tile_changes(format('firetwin.%I', t)::regclass)
FROM (SELECT DISTINCT table_name AS t FROM firetwin.layer_tables()) s
"""


def track_layer_tables() -> None:
    """Install the change triggers on every table a layer view reads."""
    op.execute(TRACK_ALL)


def upgrade() -> None:
    op.execute(TABLE)
    op.execute(FUNCTIONS)
    track_layer_tables()


def downgrade() -> None:
    op.execute("""
        DO $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT tgrelid::regclass AS tbl, tgname FROM pg_trigger
                     WHERE tgname LIKE 'trg_tile_change_%' LOOP
                EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.tbl);
            END LOOP;
        END $$
    """)
    op.execute("DROP FUNCTION IF EXISTS firetwin.layer_tables()")
    op.execute("DROP FUNCTION IF EXISTS firetwin.track_tile_changes(regclass)")
    op.execute("DROP FUNCTION IF EXISTS firetwin.log_tile_change()")
    op.execute("DROP TABLE IF EXISTS firetwin.tile_change")
