"""Inspections with GPS: far ones flagged (also patrol check-ins), listing within scope."""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from shapely.geometry import Point, box

from gis.bulk import copy_frame
from services.auth import mint_token
from services.clock import FixedClock
from services.main import create_app
from services.settings import APISettings
from tests.conftest import app_client, fresh_sibling_database

pytestmark = pytest.mark.postgis

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
U1 = (120.5201, 30.0501)  # grid 1 (community C1)
U2 = (120.5701, 30.0501)  # grid 2 (community C2)
FAR_DEG = 0.01  # ~960 m east at 30° N


@pytest.fixture(scope="module")
def insp_db(db_url):
    url = fresh_sibling_database(db_url, "_inspections")
    with psycopg.connect(url) as conn:
        copy_frame(conn, "region", gpd.GeoDataFrame(
            {"id": [1, 2, 3], "code": ["S1", "C1", "C2"], "name": ["街道", "一社区", "二社区"],
             "level": ["street", "community", "community"],
             "parent_id": pd.array([None, 1, 1], dtype="Int64")},
            geometry=[box(120.50, 30.00, 120.60, 30.10), box(120.50, 30.00, 120.55, 30.10),
                      box(120.55, 30.00, 120.60, 30.10)], crs=4326))
        copy_frame(conn, "grid", gpd.GeoDataFrame(
            {"id": [1, 2], "code": ["IG1", "IG2"], "name": ["一格", "二格"],
             "kind": ["ordinary"] * 2, "community_id": [2, 3], "street_id": [1, 1]},
            geometry=[box(120.50, 30.00, 120.55, 30.10), box(120.55, 30.00, 120.60, 30.10)],
            crs=4326))
        copy_frame(conn, "unit", gpd.GeoDataFrame(
            {"id": [1, 2], "code": ["IU1", "IU2"], "name": ["一号店", "二号店"],
             "category": ["general", "general"]},
            geometry=[Point(*U1), Point(*U2)], crs=4326))
        users = ((1, "admin", None), (2, "grid_worker", None), (3, "grid_worker", None),
                 (4, "inspector", None), (5, "planner", None), (6, "unit_manager", None),
                 (7, "community_admin", 2), (8, "dispatcher", None))
        for uid, role, region in users:
            conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role, "
                         "region_id) VALUES (%s, %s, %s, %s, %s)",
                         (uid, f"i{uid}", f"巡查员{uid}", role, region))
        conn.execute("UPDATE firetwin.app_user SET unit_id = 1 WHERE id = 6")
        conn.execute("INSERT INTO firetwin.user_grid VALUES (2, 1), (3, 2), (4, 1), (4, 2)")
    return url


@pytest.fixture
async def client(insp_db):
    app = create_app(APISettings(escalation_sweep=False), database_url_override=insp_db)
    app.state.clock = FixedClock(NOW)
    async with app_client(app) as c:
        c.token = lambda uid, role: {  # type: ignore[attr-defined]
            "Authorization": f"Bearer {mint_token(app.state.secret_key, user_id=uid, role=role)}"}
        yield c


def _count(url, where="true", params=()) -> int:
    with psycopg.connect(url) as c:
        return c.execute(f"SELECT count(*) FROM firetwin.inspection WHERE {where}",
                         params).fetchone()[0]


async def test_inspection_stores_distance_and_flags_far_ones(client, insp_db):
    near = await client.post("/api/inspections", json={
        "unit_id": 1, "kind": "inspection", "result": "pass", "lon": U1[0], "lat": U1[1] + 0.0005,
        "inspected_at": "2026-06-30T09:30:00+08:00"}, headers=client.token(2, "grid_worker"))
    assert near.status_code == 201, near.text
    n = near.json()
    assert n["location_flagged"] is False and 50 < n["distance_from_unit_m"] < 60
    far = await client.post("/api/inspections", json={
        "unit_id": 1, "kind": "double_random", "result": "hazards_found", "hazards_found": 2,
        "lon": U1[0] + FAR_DEG, "lat": U1[1], "note": "消防通道堵塞"},
        headers=client.token(4, "inspector"))
    assert far.status_code == 201, far.text
    f = far.json()
    assert f["location_flagged"] is True and 900 < f["distance_from_unit_m"] < 1000
    assert f["max_distance_m"] == 200.0
    with psycopg.connect(insp_db) as c:
        rows = c.execute(
            "SELECT id, kind, result, hazards_found, location_flagged, inspector_user_id, "
            "inspected_at, h3_r11 IS NOT NULL, round(ST_X(geom)::numeric, 4)::float8 "
            "FROM firetwin.inspection WHERE id = ANY(%s) ORDER BY id",
            ([n["id"], f["id"]],)).fetchall()
    assert rows[0][1:7] == ("inspection", "pass", 0, False, 2,
                            datetime(2026, 6, 30, 1, 30, tzinfo=UTC))
    assert rows[1][1:6] == ("double_random", "hazards_found", 2, True, 4)
    assert rows[1][6] == NOW  # default: the clock's now
    assert rows[1][7] is True and rows[1][8] == round(U1[0] + FAR_DEG, 4)


async def test_community_admin_records_in_its_community(client):
    ok = await client.post("/api/inspections", json={
        "unit_id": 1, "kind": "patrol", "lon": U1[0], "lat": U1[1]},
        headers=client.token(7, "community_admin"))
    assert ok.status_code == 201, ok.text
    other = await client.post("/api/inspections", json={
        "unit_id": 2, "kind": "patrol", "lon": U2[0], "lat": U2[1]},
        headers=client.token(7, "community_admin"))
    assert other.status_code == 403


@pytest.mark.parametrize(("body", "who", "status", "phrase"), [
    ({"kind": "audit"}, (1, "admin"), 400, "kind 'audit' is not one of"),
    ({"result": "ok"}, (1, "admin"), 400, "result 'ok' is not one of"),
    ({"result": "hazards_found"}, (1, "admin"), 400, "hazards_found >= 1"),
    ({"hazards_found": 3}, (1, "admin"), 400, "cannot have hazards_found"),
    ({"inspected_at": "2026-07-02T00:00:00Z"}, (1, "admin"), 400, "future"),
    ({"inspected_at": "2026-06-29T09:00:00"}, (1, "admin"), 400, "timezone"),
    ({"lon": 500}, (1, "admin"), 422, ""),
    ({"lat": "north"}, (1, "admin"), 422, ""),
    ({"hazards_found": -1}, (1, "admin"), 422, ""),
    ({"colour": "red"}, (1, "admin"), 422, ""),
    ({"unit_id": 999}, (1, "admin"), 404, "unit 999"),
    ({}, (3, "grid_worker"), 403, "not in your scope"),
    ({}, (5, "planner"), 403, "may not record"),
    ({}, (6, "unit_manager"), 403, "may not record"),
    ({}, (8, "dispatcher"), 403, "may not record"),
])
async def test_bad_inspections_are_refused_and_nothing_stored(client, insp_db, body, who,
                                                              status, phrase):
    before = _count(insp_db)
    payload = {"unit_id": 1, "kind": "patrol", "lon": U1[0], "lat": U1[1], **body}
    r = await client.post("/api/inspections", json=payload, headers=client.token(*who))
    assert r.status_code == status, r.text
    assert phrase in str(r.json()["detail"])
    assert _count(insp_db) == before


async def test_public_may_not_record_or_list(client):
    r = await client.post("/api/inspections", json={
        "unit_id": 1, "kind": "patrol", "lon": U1[0], "lat": U1[1]})
    assert r.status_code == 401
    assert (await client.get("/api/inspections")).status_code == 401


async def test_patrol_check_in_stores_the_flag(client, insp_db):
    near = await client.post("/api/patrols/check-in", json={"unit_id": 1, "lon": U1[0],
                                                            "lat": U1[1]},
                             headers=client.token(2, "grid_worker"))
    far = await client.post("/api/patrols/check-in", json={"unit_id": 1,
                                                           "lon": U1[0] + FAR_DEG, "lat": U1[1]},
                            headers=client.token(2, "grid_worker"))
    assert near.status_code == far.status_code == 201, (near.text, far.text)
    assert far.json()["location_flagged"] is True
    with psycopg.connect(insp_db) as c:
        flags = dict(c.execute("SELECT id, location_flagged FROM firetwin.inspection "
                               "WHERE id = ANY(%s)", ([near.json()["id"], far.json()["id"]],)))
    assert flags == {near.json()["id"]: False, far.json()["id"]: True}


async def test_listing_filters_and_scope(client, insp_db):
    with psycopg.connect(insp_db) as c:
        c.execute("DELETE FROM firetwin.inspection")
        for uid, at, flagged, kind in ((1, "2026-06-01T10:00Z", False, "patrol"),
                                       (1, "2026-06-10T10:00Z", True, "inspection"),
                                       (1, "2026-06-20T23:30Z", True, "recheck"),
                                       (2, "2026-06-15T10:00Z", True, "patrol"),
                                       (2, "2026-05-15T10:00Z", False, "patrol")):
            c.execute(
                "INSERT INTO firetwin.inspection (kind, unit_id, inspector_user_id, "
                "inspected_at, result, location_flagged, geom, h3_r7, h3_r9, h3_r11) "
                "SELECT %s, id, 4, %s, 'pass', %s, geom, h3_r7, h3_r9, h3_r11 "
                "FROM firetwin.unit WHERE id = %s", (kind, at, flagged, uid))

    async def ids(who, **params):
        r = await client.get("/api/inspections", params=params, headers=client.token(*who))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["items"])
        return [(i["unit_code"], i["inspected_at"][:10]) for i in body["items"]]

    admin = (1, "admin")
    assert await ids(admin) == [("IU1", "2026-06-20"), ("IU2", "2026-06-15"),
                                ("IU1", "2026-06-10"), ("IU1", "2026-06-01"),
                                ("IU2", "2026-05-15")]
    assert await ids(admin, flagged="true") == [("IU1", "2026-06-20"), ("IU2", "2026-06-15"),
                                                ("IU1", "2026-06-10")]
    assert await ids(admin, flagged="false", unit_id=1) == [("IU1", "2026-06-01")]
    assert await ids(admin, **{"from": "2026-06-10", "to": "2026-06-15"}) == [
        ("IU2", "2026-06-15"), ("IU1", "2026-06-10")]
    assert await ids(admin, **{"to": "2026-06-20"}) == await ids(admin)  # 23:30 is still the 20th
    assert await ids(admin, kind="recheck") == [("IU1", "2026-06-20")]
    # A grid worker sees their grid only; a unit's manager their unit; planners everything
    # without names.
    assert await ids((3, "grid_worker")) == [("IU2", "2026-06-15"), ("IU2", "2026-05-15")]
    assert await ids((6, "unit_manager")) == [("IU1", "2026-06-20"), ("IU1", "2026-06-10"),
                                              ("IU1", "2026-06-01")]
    r = await client.get("/api/inspections", headers=client.token(5, "planner"))
    items = r.json()["items"]
    assert len(items) == 5 and {i["inspector_name"] for i in items} == {None}
    r = await client.get("/api/inspections", headers=client.token(8, "dispatcher"))
    assert {i["inspector_name"] for i in r.json()["items"]} == {"巡查员4"}
    page = await client.get("/api/inspections", params={"limit": 2, "offset": 1},
                            headers=client.token(*admin))
    assert page.json()["total"] == 5 and len(page.json()["items"]) == 2
    # Bad filters are refused.
    for params, status in (({"from": "2026-06-20", "to": "2026-06-01"}, 400),
                           ({"kind": "audit"}, 400), ({"from": "June"}, 422),
                           ({"flagged": "maybe"}, 422), ({"limit": 0}, 422)):
        r = await client.get("/api/inspections", params=params, headers=client.token(*admin))
        assert r.status_code == status, (params, r.text)
    assert (await client.get("/api/inspections", params={"unit_id": 1},
                             headers=client.token(3, "grid_worker"))).status_code == 403
