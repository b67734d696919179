"""Risk features use nothing dated on or after the cut-off."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from gis.indexing import index_geometry
from gis.risk.features import FEATURE_NAMES, cutoff_instant, fire_labels, unit_features
from tests.risk.plant import FIRST_UNIT

pytestmark = pytest.mark.postgis

CUTOFF = cutoff_instant(date(2024, 6, 30), "Asia/Shanghai")
AFTER = datetime(2024, 6, 30, 16, 30, tzinfo=UTC)  # 00:30 on 1 July in Shanghai: after the cut


@pytest.fixture
def world(rconn):
    return rconn.execute(
        "SELECT id FROM firetwin.unit WHERE id >= %s ORDER BY id", (FIRST_UNIT,)).fetchall()


def _point(lon: float, lat: float) -> dict:
    return {"lon": lon, "lat": lat, **index_geometry(__import__("shapely").Point(lon, lat))}


def _plant_after(conn, unit_id: int) -> None:
    """One row of every kind the features read, dated just after the cut-off."""
    lon, lat = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM firetwin.unit WHERE id = %s",
                            (unit_id,)).fetchone()
    p = _point(lon, lat)
    geo = ("ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(h3_r7)s, %(h3_r9)s, "
           "%(h3_r11)s")
    args = {**p, "u": unit_id, "t": AFTER}
    conn.execute(
        "INSERT INTO firetwin.hazard (id, code, category, subcategory, tier, status, source, "
        "title, unit_id, reported_at, verified_at, rectify_due_at, geom, h3_r7, h3_r9, h3_r11) "
        "VALUES (999001, 'LATE-1', 'electrical', 'aged_cable', 'red', 'verified', 'public', "
        f"'late', %(u)s, %(t)s, %(t)s, %(t)s, {geo})", args)
    conn.execute(
        "INSERT INTO firetwin.incident (id, kind, occurred_at, unit_id, geom, h3_r7, h3_r9, "
        f"h3_r11) VALUES (999001, 'fire', %(t)s, %(u)s, {geo})", args)
    conn.execute(
        "INSERT INTO firetwin.inspection (kind, unit_id, inspected_at, result, geom, h3_r7, "
        f"h3_r9, h3_r11) VALUES ('inspection', %(u)s, %(t)s, 'not_accessible', {geo})", args)
    conn.execute(
        "INSERT INTO firetwin.work_order (kind, unit_id, issued_at) "
        "VALUES ('temporary_seal', %(u)s, %(t)s)", args)
    sid = conn.execute(
        "INSERT INTO firetwin.sensor (id, code, kind, unit_id, installed_at, geom, h3_r7, h3_r9, "
        f"h3_r11) VALUES (999001, 'LATE-S', 'smoke', %(u)s, %(t)s, {geo}) RETURNING id",
        args).fetchone()[0]
    conn.execute(
        "INSERT INTO firetwin.sensor_reading (sensor_id, observed_at, value, message_id, state) "
        "VALUES (%s, %s, 9.0, 'm1', 'alarm')", (sid, AFTER))
    # A hazard reported before the cut-off but closed after it stays open as of the cut-off.


def test_features_ignore_rows_after_the_cutoff(world, rconn):
    before = unit_features(rconn, CUTOFF)
    unit = int(world[3][0])
    _plant_after(rconn, unit)
    after = unit_features(rconn, CUTOFF, start=None)
    assert list(after.columns[:-1]) == list(FEATURE_NAMES)
    np.testing.assert_array_equal(before.to_numpy(), after.to_numpy())
    # ... while a later as-of date does see them.
    later = unit_features(rconn, cutoff_instant(date(2024, 7, 1), "Asia/Shanghai"))
    assert later.loc[unit, "own_fires"] == before.loc[unit, "own_fires"] + 1
    assert later.loc[unit, "seals"] == before.loc[unit, "seals"] + 1
    assert later.loc[unit, "sensors"] == before.loc[unit, "sensors"] + 1
    assert later.loc[unit, "hz_electrical_rate"] > before.loc[unit, "hz_electrical_rate"]


def test_state_changes_after_the_cutoff_do_not_change_features(world, rconn):
    before = unit_features(rconn, CUTOFF)
    # Close every hazard and change every current-state column after the cut-off.
    rconn.execute("UPDATE firetwin.hazard SET status = 'closed', tier = 'red', "
                 "closed_at = greatest(closed_at, %s) WHERE closed_at IS NULL OR closed_at >= %s",
                 (AFTER, CUTOFF))
    rconn.execute("UPDATE firetwin.unit SET colour_code = 'red'")
    after = unit_features(rconn, CUTOFF)
    np.testing.assert_array_equal(before.to_numpy(), after.to_numpy())


def test_labels_are_the_following_year_only(world, rconn):
    y = fire_labels(rconn, CUTOFF)
    got = rconn.execute(
        "SELECT count(DISTINCT unit_id) FROM firetwin.incident WHERE kind = 'fire' "
        "AND occurred_at >= %s AND occurred_at < %s + interval '365 days'",
        (CUTOFF, CUTOFF)).fetchone()[0]
    assert len(y) == got > 0
