"""docs/schema.md must match the models, and the migrated database must match the models."""

from __future__ import annotations

import pytest

from gis.models import FEATURE_TABLES, SCHEMA
from gis.schema_doc import DOC_PATH, render


def test_schema_doc_is_current():
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/schema.md is stale: run `.venv/bin/python -m gis.schema_doc > docs/schema.md`"
    )


@pytest.mark.postgis
def test_every_feature_table_has_the_contract_columns(conn):
    for table in FEATURE_TABLES:
        cols = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (SCHEMA, table),
            ).fetchall()
        )
        for c in ("h3_r7", "h3_r9", "h3_r11"):
            assert cols[c] == "bigint", (table, c)
        assert cols["grid_id"] == "integer", table
        srid, gtype = conn.execute(
            "SELECT srid, type FROM geometry_columns WHERE f_table_schema = %s "
            "AND f_table_name = %s AND f_geometry_column = 'geom'",
            (SCHEMA, table),
        ).fetchone()
        assert srid == 4326, table
        gist = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
            "AND indexdef ILIKE '%%gist%%(geom)%%'",
            (SCHEMA, table),
        ).fetchone()[0]
        assert gist >= 1, f"{table}.geom has no GiST index"
        trig = conn.execute(
            "SELECT count(*) FROM information_schema.triggers WHERE event_object_schema = %s "
            "AND event_object_table = %s",
            (SCHEMA, table),
        ).fetchone()[0]
        assert trig >= 1, f"{table} has no grid_id trigger"


@pytest.mark.postgis
def test_road_edge_is_pgrouting_compatible(conn):
    conn.execute(
        "INSERT INTO firetwin.road_edge (id, source, target, cost, reverse_cost, length_m, "
        "speed_kph, road_class, geom, h3_r7, h3_r9, h3_r11) VALUES "
        "(1, 1, 2, 10, 10, 100, 36, 'residential', "
        " ST_GeomFromText('LINESTRING(118.90 42.20, 118.901 42.20)', 4326), 1, 1, 1),"
        "(2, 2, 3, 10, -1, 100, 36, 'residential', "
        " ST_GeomFromText('LINESTRING(118.901 42.20, 118.902 42.20)', 4326), 1, 1, 1)"
    )
    sql = "SELECT id, source, target, cost, reverse_cost FROM firetwin.road_edge"
    fwd = conn.execute("SELECT max(agg_cost) FROM pgr_dijkstra(%s, 1, 3)", (sql,)).fetchone()[0]
    assert fwd == 20
    back = conn.execute("SELECT count(*) FROM pgr_dijkstra(%s, 3, 1)", (sql,)).fetchone()[0]
    assert back == 0  # edge 2 is one-way (negative reverse_cost)
