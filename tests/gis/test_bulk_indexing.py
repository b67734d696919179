"""Bulk COPY with H3 and grid indexing, and the grid trigger, on a real PostGIS."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box

from gis.bulk import copy_frame
from gis.errors import InvalidInputError
from gis.grid import cell_for_point
from gis.indexing import grid_polygons

pytestmark = pytest.mark.postgis


def _two_grids(conn) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["G1", "G2"], "name": ["一网格", "二网格"], "kind": ["ordinary", "ordinary"]},
        geometry=[box(118.90, 42.20, 118.95, 42.25), box(118.95, 42.20, 119.00, 42.25)],
        crs=4326,
    )
    copy_frame(conn, "grid", frame)


def test_copy_frame_fills_h3_and_grid(conn):
    _two_grids(conn)
    grids = grid_polygons(conn)
    assert len(grids) == 2
    units = gpd.GeoDataFrame(
        {"code": ["U1", "U2", "U3"], "name": ["甲", "乙", "丙"], "category": ["general"] * 3},
        geometry=[Point(118.92, 42.22), Point(118.97, 42.22), Point(120.0, 43.0)],
        crs=4326,
    )
    assert copy_frame(conn, "unit", units, grids=grids) == 3
    rows = conn.execute(
        "SELECT u.code, g.code, u.h3_r9, u.h3_r7, u.h3_r11 FROM firetwin.unit u "
        "LEFT JOIN firetwin.grid g ON g.id = u.grid_id ORDER BY u.code"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("U1", "G1"), ("U2", "G2"), ("U3", None)]
    assert rows[0][2] == cell_for_point(118.92, 42.22, res=9)
    assert rows[0][3] == cell_for_point(118.92, 42.22, res=7)
    assert rows[0][4] == cell_for_point(118.92, 42.22, res=11)


def test_trigger_assigns_grid_when_writer_leaves_it_null(conn):
    _two_grids(conn)
    units = gpd.GeoDataFrame(
        {"code": ["U1"], "name": ["甲"], "category": ["general"]},
        geometry=[Point(118.97, 42.22)],
        crs=4326,
    )
    copy_frame(conn, "unit", units)  # no grids passed: the trigger must fill grid_id
    code = conn.execute(
        "SELECT g.code FROM firetwin.unit u JOIN firetwin.grid g ON g.id = u.grid_id"
    ).fetchone()
    assert code == ("G2",)
    conn.execute(
        "UPDATE firetwin.unit SET geom = ST_SetSRID(ST_MakePoint(118.92, 42.22), 4326)"
    )
    assert conn.execute(
        "SELECT g.code FROM firetwin.unit u JOIN firetwin.grid g ON g.id = u.grid_id"
    ).fetchone() == ("G1",)


def test_line_anchor_and_python_sql_agree(conn):
    _two_grids(conn)
    edges = gpd.GeoDataFrame(
        {"id": [1], "source": [1], "target": [2], "cost": [10.0], "reverse_cost": [10.0],
         "length_m": [100.0], "speed_kph": [36.0], "road_class": ["residential"]},
        geometry=[LineString([(118.91, 42.22), (118.99, 42.22)])],  # midpoint 118.95 on the edge
        crs=4326,
    )
    copy_frame(conn, "road_edge", edges, grids=grid_polygons(conn))
    py, sqlv = conn.execute(
        "SELECT grid_id, firetwin.grid_for(geom) FROM firetwin.road_edge"
    ).fetchone()
    assert py == sqlv


def test_invalid_geometry_names_the_row_and_stores_nothing(conn):
    _two_grids(conn)
    bow_tie = gpd.GeoSeries.from_wkt(
        ["POLYGON((118.91 42.21, 118.92 42.22, 118.92 42.21, 118.91 42.22, 118.91 42.21))"]
    )
    frame = gpd.GeoDataFrame(
        {"use": ["residential", "office"]},
        geometry=[box(118.91, 42.21, 118.912, 42.212), bow_tie[0]],
        crs=4326,
    )
    with pytest.raises(InvalidInputError, match="row 1: invalid geometry"):
        copy_frame(conn, "building", frame)
    assert conn.execute("SELECT count(*) FROM firetwin.building").fetchone() == (0,)


def test_wrong_crs_is_refused(conn):
    frame = gpd.GeoDataFrame(
        {"code": ["U1"], "name": ["甲"], "category": ["general"]},
        geometry=[Point(500000, 4600000)],
        crs=32650,
    )
    with pytest.raises(InvalidInputError, match="EPSG:4326"):
        copy_frame(conn, "unit", frame)


def test_h3_check_constraint_refuses_unindexed_geometry(conn):
    import psycopg

    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO firetwin.station (code, name, kind, geom) VALUES "
            "('S1', '站', 'level1', ST_SetSRID(ST_MakePoint(118.9, 42.2), 4326))"
        )


def test_every_resolution_is_the_cell_containing_the_point():
    import numpy as np

    from gis.grid import RESOLUTIONS, cells_for_points

    rng = np.random.default_rng(3)
    lon = rng.uniform(118.6, 119.3, 2000)
    lat = rng.uniform(42.0, 42.5, 2000)
    cells = cells_for_points(lon, lat)
    for res in RESOLUTIONS:
        want = [cell_for_point(x, y, res=res) for x, y in zip(lon, lat, strict=True)]
        assert cells[res].tolist() == want
