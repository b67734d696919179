"""Risk, double-random and index endpoints: scope by role, planted orderings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from gis.queries.patrols import PatrolSettings, due_stops
from gis.risk.settings import RiskSettings
from services.clock import FixedClock
from services.main import create_app
from services.settings import APISettings
from services.workflows.risk import score_units, train_model
from tests.conftest import app_client, fresh_sibling_database
from tests.risk.plant import plant_history, plant_units
from tests.services import small_district

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def api_url(db_url, tmp_path_factory):
    url = fresh_sibling_database(db_url, "_risk_api")
    small_district.build(url)
    models = tmp_path_factory.mktemp("models")
    with psycopg.connect(url) as conn:
        plant_history(conn, plant_units(conn))
        conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) VALUES "
                     "(11, 'inspector2', '检查员二', 'inspector')")
        s = RiskSettings(num_threads=1)
        train_model(conn, cutoff=date(2025, 6, 30), settings=s, directory=models, version="api-v1")
        score_units(conn, as_of=date(2026, 6, 30), settings=s, directory=models)
        # Community C3 (grid G3) has a bad May 2026: overdue, recurrent, public reports.
        conn.execute("""
            INSERT INTO firetwin.hazard (id, code, category, subcategory, tier, status, source,
                title, unit_id, reported_at, verified_at, rectify_due_at, geom, h3_r7, h3_r9,
                h3_r11)
            SELECT 900000 + g, 'C3-' || g, 'ebike', 'ebike_indoor_charging', 'yellow',
                'rectifying', 'public', 'bad', u.id,
                '2026-05-03T10:00Z'::timestamptz + g * interval '1 hour',
                '2026-05-03T12:00Z', '2026-05-10T00:00Z', u.geom, u.h3_r7, u.h3_r9, u.h3_r11
            FROM generate_series(1, 60) g
            JOIN LATERAL (SELECT * FROM firetwin.unit WHERE grid_id = 3 ORDER BY id
                          OFFSET g LIMIT 1) u ON true""")
    return url


@pytest.fixture
async def client(api_url):
    app = create_app(APISettings(escalation_sweep=False), database_url_override=api_url)
    app.state.clock = FixedClock(datetime(2026, 7, 2, 8, tzinfo=UTC))
    async with app_client(app) as c:
        c.key = app.state.secret_key
        yield c


def _h(c, who):
    return small_district.token(c.key, who)


async def test_risk_units_follow_scope(client, api_url):
    r = await client.get("/api/risk/units")
    assert r.status_code == 401
    r = await client.get("/api/risk/units", params={"top": 5000}, headers=_h(client, "admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    with psycopg.connect(api_url) as conn:
        total = conn.execute("SELECT count(*) FROM firetwin.unit").fetchone()[0]
    assert len(body["units"]) == total and body["model_version"] == "api-v1"
    ranks = [u["rank"] for u in body["units"]]
    assert ranks == sorted(ranks)
    r = await client.get("/api/risk/units", params={"top": 5000},
                         headers=_h(client, "grid_worker"))
    assert {u["grid_id"] for u in r.json()["units"]} == {1}
    r = await client.get("/api/risk/units", headers=_h(client, "unit_manager"))
    assert [u["unit_id"] for u in r.json()["units"]] == [1]
    r = await client.get("/api/risk/units", params={"grid_id": 2},
                         headers=_h(client, "grid_worker"))
    assert r.status_code == 403
    r = await client.get("/api/risk/units", params={"grid_id": 2, "tier": "very_high"},
                         headers=_h(client, "planner"))
    assert r.status_code == 200
    assert {(u["grid_id"], u["tier"]) for u in r.json()["units"]} <= {(2, "very_high")}


async def test_risk_unit_detail_and_models(client):
    r = await client.get("/api/risk/units/2", headers=_h(client, "grid_worker"))  # U2 is in G2
    assert r.status_code == 403
    r = await client.get("/api/risk/units", params={"top": 1}, headers=_h(client, "admin"))
    top = r.json()["units"][0]
    r = await client.get(f"/api/risk/units/{top['unit_id']}", headers=_h(client, "dispatcher"))
    assert r.status_code == 200
    body = r.json()
    assert 0 <= body["score"] <= 100 and body["tier"] in ("high", "very_high")
    assert body["factors"] and all("label" in f for f in body["factors"])
    r = await client.get("/api/risk/models", headers=_h(client, "planner"))
    m = r.json()["models"][0]
    assert m["version"] == "api-v1" and "train" in m["metrics"]


async def test_double_random_plan_scope_and_patrols(client, api_url):
    url = "/api/risk/double-random"
    r = await client.post(url, params={"month": "2026-07"}, headers=_h(client, "grid_worker"))
    assert r.status_code == 403
    r = await client.post(url, params={"month": "2026-07"}, json={"seed": 11, "sample_share": 0.1,
                          "high_risk_share": 0.4}, headers=_h(client, "admin"))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["high_risk"] == round(0.4 * made["units"]) and made["inspectors"] == 2
    r = await client.post(url, params={"month": "2026-07"}, headers=_h(client, "admin"))
    assert r.status_code == 409
    r = await client.get(url, params={"month": "2026-07"}, headers=_h(client, "admin"))
    first = sorted(u["unit_id"] for u in r.json()["units"])
    assert len(first) == made["units"]
    assert {u["inspector_user_id"] for u in r.json()["units"]} == {9, 11}
    r = await client.post(url, params={"month": "2026-07"}, json={"seed": 11, "sample_share": 0.1,
                          "high_risk_share": 0.4, "replace": True}, headers=_h(client, "admin"))
    r = await client.get(url, params={"month": "2026-07"}, headers=_h(client, "admin"))
    assert sorted(u["unit_id"] for u in r.json()["units"]) == first
    r = await client.get(url, params={"month": "2026-07"}, headers=_h(client, "grid_worker"))
    mine = list(r.json()["units"])
    assert mine and {u["grid_id"] for u in mine} == {1}
    async with await psycopg.AsyncConnection.connect(api_url) as conn:
        stops = await due_stops(conn, grids=[1], day=date(2026, 7, 2), settings=PatrolSettings())
        dr = {s["id"] for s in stops if s["reason"] == "double_random"}
        assert dr == {u["unit_id"] for u in mine}
        keys = [(s["kind"], s["id"]) for s in stops]
        assert len(keys) == len(set(keys))
        # An inspection of kind double_random takes the unit off the list.
        done = next(iter(dr))
        await conn.execute(
            "INSERT INTO firetwin.inspection (kind, unit_id, inspected_at, result, geom, h3_r7, "
            "h3_r9, h3_r11) SELECT 'double_random', id, '2026-07-01T09:00Z', 'pass', geom, "
            "h3_r7, h3_r9, h3_r11 FROM firetwin.unit WHERE id = %s", (done,))
        stops = await due_stops(conn, grids=[1], day=date(2026, 7, 2), settings=PatrolSettings())
        assert done not in {s["id"] for s in stops if s["reason"] == "double_random"}
        await conn.rollback()


async def test_community_index_orders_planted_communities(client):
    r = await client.get("/api/indices/community", params={"month": "2026-05"},
                         headers=_h(client, "admin"))
    assert r.status_code == 200, r.text
    rows = r.json()["communities"]
    assert {row["code"] for row in rows} == {"C1", "C2", "C3"}
    assert all(0 <= row["index"] <= 100 for row in rows)
    assert rows[-1]["code"] == "C3" and rows[-1]["rank"] == 3
    assert rows[-1]["colour"] in ("red", "yellow")
    ind = rows[-1]["indicators"]
    assert ind["public_reports"] < rows[0]["indicators"]["public_reports"]
    r = await client.get("/api/indices/community", params={"month": "2026-05"},
                         headers=_h(client, "grid_worker"))
    assert [row["code"] for row in r.json()["communities"]] == ["C1"]
    r = await client.get("/api/indices/community", headers=_h(client, "unit_manager"))
    assert r.status_code == 403


async def test_unit_and_street_indices(client, api_url):
    with psycopg.connect(api_url) as conn:
        # Unit 1 does its self-checks and is patrolled; unit 2 is neglected.
        for k in range(4):
            at = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(days=7 * k)
            for uid, kind in ((1, "self_check"), (1, "patrol")):
                conn.execute(
                    "INSERT INTO firetwin.inspection (kind, unit_id, inspected_at, result, geom, "
                    "h3_r7, h3_r9, h3_r11) SELECT %s, id, %s, 'pass', geom, h3_r7, h3_r9, h3_r11 "
                    "FROM firetwin.unit WHERE id = %s", (kind, at, uid))
    r = await client.get("/api/indices/units", params={"month": "2026-06", "top": 5000},
                         headers=_h(client, "admin"))
    assert r.status_code == 200, r.text
    rows = {u["unit_id"]: u for u in r.json()["units"]}
    assert all(0 <= u["index"] <= 100 for u in rows.values())
    assert rows[1]["index"] > rows[2]["index"]
    r = await client.get("/api/indices/units", params={"month": "2026-06"},
                         headers=_h(client, "unit_manager"))
    assert [u["unit_id"] for u in r.json()["units"]] == [1]
    r = await client.get("/api/indices/street", headers=_h(client, "admin"))
    assert r.status_code == 200, r.text
    streets = r.json()["streets"]
    assert {s["code"] for s in streets} == {"S1", "S2"}
    assert all(s["index"] is None or 0 <= s["index"] <= 100 for s in streets)
    assert (await client.get("/api/indices/street")).status_code == 401
