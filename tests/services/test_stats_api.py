"""Hazard statistics per grid / community / street / district, checked on a hand-built district.

District D (street S1: communities C1 → grid G1, C2 → grid G2; street S2: C3 → grid G3).
Every hazard and inspection below carries a comment saying which figures it counts in for the
period 2026-01-01 .. 2026-06-30 (UTC), measured as of 2026-07-01 00:00 (the clock is later).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from shapely.geometry import Point, box

from gis.bulk import copy_frame
from gis.indexing import index_geometry
from gis.vocab import HAZARD_TAXONOMY
from services.auth import mint_token
from services.clock import FixedClock
from services.main import create_app
from services.settings import APISettings
from tests.conftest import app_client, fresh_sibling_database

pytestmark = pytest.mark.postgis

NOW = datetime(2026, 8, 1, tzinfo=UTC)
PERIOD = {"from": "2026-01-01", "to": "2026-06-30"}
P_G2 = (120.575, 30.05)  # the street-side spot in G2 where fire-lane hazards recur
OUTSIDE = (121.5, 31.5)  # in no grid


def _t(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s + "T00:00:00+00:00")


@pytest.fixture(scope="module")
def stats_db(db_url):
    url = fresh_sibling_database(db_url, "_stats")
    with psycopg.connect(url) as conn:
        copy_frame(conn, "region", gpd.GeoDataFrame(
            {"id": [100, 101, 102, 111, 112, 121],
             "code": ["D", "S1", "S2", "C1", "C2", "C3"],
             "name": ["红山区", "西屯街道", "东湖街道", "一社区", "二社区", "三社区"],
             "level": ["district", "street", "street", "community", "community", "community"],
             "parent_id": pd.array([None, 100, 100, 101, 101, 102], dtype="Int64")},
            geometry=[box(120.50, 30.00, 120.70, 30.10), box(120.50, 30.00, 120.60, 30.10),
                      box(120.60, 30.00, 120.70, 30.10), box(120.50, 30.00, 120.55, 30.10),
                      box(120.55, 30.00, 120.60, 30.10), box(120.60, 30.00, 120.70, 30.10)],
            crs=4326))
        copy_frame(conn, "grid", gpd.GeoDataFrame(
            {"id": [1, 2, 3], "code": ["G1", "G2", "G3"], "name": ["一网格", "二网格", "三网格"],
             "kind": ["ordinary"] * 3, "community_id": [111, 112, 121],
             "street_id": [101, 101, 102]},
            geometry=[box(120.50, 30.00, 120.55, 30.10), box(120.55, 30.00, 120.60, 30.10),
                      box(120.60, 30.00, 120.70, 30.10)], crs=4326))
        copy_frame(conn, "unit", gpd.GeoDataFrame(
            {"id": [1, 2, 3, 4, 5], "code": [f"SU{i}" for i in range(1, 6)],
             "name": [f"店{i}" for i in range(1, 6)], "category": ["general"] * 5},
            geometry=[Point(120.51, 30.05), Point(120.52, 30.05), Point(120.56, 30.05),
                      Point(120.65, 30.05), Point(120.66, 30.05)], crs=4326))

        def inspection(unit, at, kind="patrol", where=None):
            pt = Point(*where) if where else None
            if unit is not None:
                conn.execute(
                    "INSERT INTO firetwin.inspection (kind, unit_id, inspected_at, result, geom, "
                    "h3_r7, h3_r9, h3_r11) SELECT %s, id, %s, 'pass', geom, h3_r7, h3_r9, "
                    "h3_r11 FROM firetwin.unit WHERE id = %s", (kind, _t(at), unit))
            else:
                cells = index_geometry(pt)
                conn.execute(
                    "INSERT INTO firetwin.inspection (kind, inspected_at, result, geom, h3_r7, "
                    "h3_r9, h3_r11) VALUES (%s, %s, 'pass', ST_SetSRID(ST_MakePoint(%s, %s), "
                    "4326), %s, %s, %s)", (kind, _t(at), pt.x, pt.y, cells["h3_r7"],
                                           cells["h3_r9"], cells["h3_r11"]))

        inspection(1, "2026-02-10")  # G1: u1
        inspection(1, "2026-03-10")  # G1: u1 again (2 inspections, 1 unit)
        inspection(2, "2026-04-10")  # G1: u2
        inspection(2, "2025-12-10")  # before the period
        inspection(1, "2026-04-11", kind="self_check")  # the unit's own check: not counted
        inspection(3, "2026-05-05")  # G2: u3
        inspection(3, "2026-07-05")  # after the period (counts in July)
        inspection(None, "2026-03-03", where=OUTSIDE)  # unassigned, no unit

        def hazard(hid, *, unit=None, where=None, sub="aged_cable", status, reported,
                   verify_due=None, verified=None, rectify_due=None, rectified=None,
                   recheck_due=None, rechecked=None, closed=None):
            if unit is not None:
                with conn.cursor() as cur:
                    cur.execute("SELECT ST_X(geom), ST_Y(geom) FROM firetwin.unit WHERE id = %s",
                                (unit,))
                    where = cur.fetchone()
            cells = index_geometry(Point(*where))
            cat = next(c for c, subs in HAZARD_TAXONOMY.items() if sub in subs)
            conn.execute(
                "INSERT INTO firetwin.hazard (id, code, category, subcategory, tier, status, "
                "source, title, unit_id, reported_at, verify_due_at, verified_at, "
                "rectify_due_at, rectified_at, recheck_due_at, rechecked_at, closed_at, geom, "
                "h3_r7, h3_r9, h3_r11) VALUES (%s, %s, %s, %s, 'yellow', %s, 'grid_worker', "
                "'t', %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s)",
                (hid, f"H{hid}", cat, sub, status, unit, _t(reported), _t(verify_due),
                 _t(verified), _t(rectify_due), _t(rectified), _t(recheck_due), _t(rechecked),
                 _t(closed), where[0], where[1], cells["h3_r7"], cells["h3_r9"],
                 cells["h3_r11"]))

        ebike = "ebike_indoor_charging"
        # ---- G1
        # h1: found, rectified (in period), closed; rectified_of_found, closed_of_found.
        hazard(1, unit=1, sub=ebike, status="closed", reported="2026-02-01",
               verified="2026-02-02", rectified="2026-02-05", rechecked="2026-02-06",
               closed="2026-02-07")
        # h2: found; recurrent (h1: same unit and subcategory, closed 22 days before);
        #     overdue (rectify by 03-10, still rectifying).
        hazard(2, unit=1, sub=ebike, status="rectifying", reported="2026-03-01",
               verified="2026-03-02", rectify_due="2026-03-10")
        # h3: found, rectified in period (rectified_of_found); overdue: recheck due 06-28.
        hazard(3, unit=2, sub="corridor_clutter", status="rectified", reported="2026-06-20",
               verified="2026-06-21", rectify_due="2026-06-27", rectified="2026-06-25",
               recheck_due="2026-06-28")
        # h4: a false report: counts nowhere.
        hazard(4, unit=2, status="rejected", reported="2026-04-01", verify_due="2026-04-02")
        # h5: found before the period, rectified in it: hazards_rectified only.
        hazard(5, unit=1, status="closed", reported="2025-11-01", verified="2025-11-02",
               rectify_due="2025-11-10", rectified="2026-01-15", closed="2026-01-20")
        # h6: found; overdue (verify by 06-30, still reported).
        hazard(6, unit=2, status="reported", reported="2026-06-29", verify_due="2026-06-30")
        # h7: found; at the period's end it was verified and past its rectify date (overdue),
        #     rectified and closed only in July: not rectified_of_found for this period.
        hazard(7, unit=1, status="closed", reported="2026-05-01", verified="2026-05-02",
               rectify_due="2026-05-20", rectified="2026-07-10", closed="2026-07-15")
        # h8: found in 2025, still open and overdue: overdue only.
        hazard(8, unit=2, status="verified", reported="2025-12-01", verified="2025-12-02",
               rectify_due="2025-12-20")
        # ---- G2
        # h9: closed in 2025; h10 (same unit, same subcategory) comes 137 days later: no
        #     recurrence with a 90-day window. h10: found, rectified, closed.
        hazard(9, unit=3, sub="cylinder_storage", status="closed", reported="2025-09-20",
               rectified="2025-09-30", closed="2025-10-01")
        hazard(10, unit=3, sub="cylinder_storage", status="closed", reported="2026-02-15",
               verified="2026-02-16", rectified="2026-02-20", closed="2026-02-21")
        # h11 and h12 at the same street-side spot, no unit: h12 recurs (same H3 r11 cell,
        # h11 closed 50 days before); h12 overdue (verify by 03-02).
        hazard(11, where=P_G2, sub="fire_lane_blocked", status="closed", reported="2026-01-05",
               verified="2026-01-06", rectified="2026-01-09", closed="2026-01-10")
        hazard(12, where=P_G2, sub="fire_lane_blocked", status="reported",
               reported="2026-03-01", verify_due="2026-03-02")
        # h13: same subcategory 1 km away (another cell): not recurrent; found, rectified, closed.
        hazard(13, where=(120.585, 30.05), sub="fire_lane_blocked", status="closed",
               reported="2026-03-05", rectified="2026-03-06", closed="2026-03-07")
        # ---- no grid: found, overdue.
        hazard(14, where=OUTSIDE, status="reported", reported="2026-04-01",
               verify_due="2026-04-02")

        for uid, role in ((1, "admin"), (2, "grid_worker"), (3, "planner"), (4, "dispatcher"),
                          (5, "unit_manager"), (6, "street_officer"), (7, "inspector")):
            conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) "
                         "VALUES (%s, %s, %s, %s)", (uid, f"s{uid}", f"s{uid}", role))
        conn.execute("UPDATE firetwin.app_user SET unit_id = 1 WHERE id = 5")
        conn.execute("INSERT INTO firetwin.user_grid VALUES (2, 1), (6, 1), (6, 2)")
    return url


@pytest.fixture
async def client(stats_db):
    app = create_app(APISettings(escalation_sweep=False), database_url_override=stats_db)
    app.state.clock = FixedClock(NOW)
    async with app_client(app) as c:
        c.token = lambda uid, role: {  # type: ignore[attr-defined]
            "Authorization": f"Bearer {mint_token(app.state.secret_key, user_id=uid, role=role)}"}
        yield c


FIELDS = ("units_inspected", "inspections", "hazards_found", "rectified_of_found",
          "closed_of_found", "hazards_rectified", "overdue", "recurrent")
# Hand-counted from the fixture comments.
BY_GRID = {
    "G1": (2, 3, 5, 2, 1, 3, 5, 1),
    "G2": (1, 1, 4, 3, 3, 3, 1, 1),
    "G3": (0, 0, 0, 0, 0, 0, 0, 0),
    None: (0, 1, 1, 0, 0, 0, 1, 0),
}


def _add(*rows):
    return tuple(map(sum, zip(*rows, strict=True)))


async def _stats(client, who=(1, "admin"), **params):
    r = await client.get("/api/stats/hazards", params={**PERIOD, **params},
                         headers=client.token(*who))
    assert r.status_code == 200, r.text
    return r.json()


def _table(body):
    return {row["code"]: tuple(row[f] for f in FIELDS) for row in body["rows"]}


async def test_grid_rows_match_the_hand_count(client):
    body = await _stats(client, group="grid")
    assert _table(body) == BY_GRID
    g1 = next(r for r in body["rows"] if r["code"] == "G1")
    assert (g1["name"], g1["parent_code"], g1["parent_name"]) == ("一网格", "C1", "一社区")
    assert (g1["rectification_rate"], g1["closure_rate"], g1["recurrence_rate"]) == (0.4, 0.2, 0.2)
    g2 = next(r for r in body["rows"] if r["code"] == "G2")
    assert (g2["rectification_rate"], g2["closure_rate"], g2["recurrence_rate"]) == (
        0.75, 0.75, 0.25)
    g3 = next(r for r in body["rows"] if r["code"] == "G3")
    assert g3["rectification_rate"] is None  # nothing found: no rate
    assert body["rows"][-1]["id"] is None and body["rows"][-1]["name"] == "未归属 unassigned"
    assert tuple(body["totals"][f] for f in FIELDS) == _add(*BY_GRID.values())
    assert body["totals"]["rectification_rate"] == round(5 / 10, 4)
    assert body["as_of"] == "2026-07-01T00:00:00+00:00"
    assert body["targets"] == {"rectification_rate": 0.95, "recurrence_rate": 0.05}


async def test_regions_roll_the_grids_up(client):
    g = BY_GRID
    community = _table(await _stats(client, group="community"))
    assert community == {"C1": g["G1"], "C2": g["G2"], "C3": g["G3"], None: g[None]}
    street = await _stats(client, group="street")
    assert _table(street) == {"S1": _add(g["G1"], g["G2"]), "S2": g["G3"], None: g[None]}
    assert {r["code"]: r["parent_name"] for r in street["rows"]}["S1"] == "红山区"
    district = _table(await _stats(client, group="district"))
    assert district == {"D": _add(g["G1"], g["G2"], g["G3"]), None: g[None]}


async def test_independent_sql_agrees(client, stats_db):
    """The per-street found/rectified counts, recounted with plain SQL on the fixture."""
    with psycopg.connect(stats_db) as c:
        expected = dict(c.execute("""
            SELECT r.code, count(h.id) FILTER (WHERE h.reported_at >= '2026-01-01'
                       AND h.reported_at < '2026-07-01' AND h.status <> 'rejected')
                   || '/' || count(h.id) FILTER (WHERE h.rectified_at >= '2026-01-01'
                       AND h.rectified_at < '2026-07-01')
            FROM firetwin.region r
            JOIN firetwin.region c ON c.parent_id = r.id
            LEFT JOIN firetwin.hazard h ON ST_Intersects(h.geom, c.geom)
            WHERE r.level = 'street' GROUP BY r.code""").fetchall())
    body = await _stats(client, group="street")
    got = {r["code"]: f"{r['hazards_found']}/{r['hazards_rectified']}" for r in body["rows"]
           if r["code"] is not None}
    assert got == expected == {"S1": "9/6", "S2": "0/0"}


async def test_a_period_ending_now_uses_live_statuses(client):
    body = await _stats(client, group="grid", **{"from": "2026-07-01", "to": "2026-08-31"})
    assert body["as_of"] == NOW.isoformat()
    t = _table(body)
    # Live: h2 rectifying past due, h3 awaiting recheck past due, h6 unverified past due, h8;
    # h7 is closed now (it was overdue at the end of June).
    assert t["G1"] == (0, 0, 0, 0, 0, 1, 4, 0)  # h7 rectified 07-10
    assert t["G2"] == (1, 1, 0, 0, 0, 0, 1, 0)  # u3 inspected 07-05; h12 overdue
    assert t[None] == (0, 0, 0, 0, 0, 0, 1, 0)


async def test_grid_scoped_callers_get_their_grids_only(client):
    worker = await _stats(client, who=(2, "grid_worker"), group="grid")
    assert _table(worker) == {"G1": BY_GRID["G1"]} and worker["scope"] == "grids"
    street = await _stats(client, who=(2, "grid_worker"), group="street")
    assert _table(street) == {"S1": BY_GRID["G1"]}  # only G1's share of S1, no unassigned row
    officer = await _stats(client, who=(6, "street_officer"), group="community")
    assert _table(officer) == {"C1": BY_GRID["G1"], "C2": BY_GRID["G2"]}
    for who in ((3, "planner"), (4, "dispatcher")):
        assert _table(await _stats(client, who=who, group="grid")) == BY_GRID
    assert (await client.get("/api/stats/hazards", params=PERIOD)).status_code == 401
    r = await client.get("/api/stats/hazards", params=PERIOD,
                         headers=client.token(5, "unit_manager"))
    assert r.status_code == 403


async def test_csv_export(client):
    body = await _stats(client, group="community")
    r = await client.get("/api/stats/hazards", params={**PERIOD, "group": "community",
                                                       "format": "csv"},
                         headers=client.token(1, "admin"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "hazard-stats-community-2026-01-01-2026-06-30.csv" in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == len(body["rows"]) + 1
    c1 = next(row for row in rows if row["code"] == "C1")
    assert (c1["name"], c1["parent_name"]) == ("一社区", "西屯街道")
    assert tuple(int(c1[f]) for f in FIELDS) == BY_GRID["G1"]
    assert float(c1["rectification_rate"]) == 0.4
    total = rows[-1]
    assert total["group"] == "total" and int(total["hazards_found"]) == 10


@pytest.mark.parametrize(("params", "status", "phrase"), [
    ({"group": "city"}, 400, "group 'city' is not one of"),
    ({"from": "2026-07-01", "to": "2026-06-01"}, 400, "is after"),
    ({"format": "xlsx"}, 400, "format 'xlsx'"),
    ({"from": "2020-01-01", "to": "2030-12-31"}, 400, "may not exceed"),
    ({"from": "01/01/2026"}, 422, ""),
    ({"to": None}, 422, ""),
])
async def test_bad_requests(client, params, status, phrase):
    query = {k: v for k, v in {**PERIOD, "group": "grid", **params}.items() if v is not None}
    r = await client.get("/api/stats/hazards", params=query, headers=client.token(1, "admin"))
    assert r.status_code == status, r.text
    assert phrase in str(r.json()["detail"])
