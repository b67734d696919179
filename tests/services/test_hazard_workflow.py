"""The hazard closed loop end to end over the API, on a real PostGIS, with a movable clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.clock import FixedClock
from services.main import create_app
from services.settings import APISettings
from services.workflows.hazard_rules import HazardSettings
from services.workflows.hazards import escalate_overdue
from tests.conftest import app_client, fresh_sibling_database
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def district_url(db_url):
    url = fresh_sibling_database(db_url, "_workflow")
    sd.build(url)
    return url


@pytest.fixture
async def api(district_url, tmp_path):
    app = create_app(APISettings(media_dir=tmp_path, escalation_sweep=False),
                     database_url_override=district_url)
    app.state.clock = FixedClock(T0)
    async with app_client(app) as c:
        c.app = app  # type: ignore[attr-defined]
        c.as_ = lambda who: sd.token(app.state.secret_key, who)  # type: ignore[attr-defined]
        yield c


def _count(url: str, sql: str, *args) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchone()[0]


def _report(api, who="grid_worker", at=sd.IN_G1, **kw):
    body = {"lon": at[0], "lat": at[1], "category": "ebike",
            "subcategory": "ebike_corridor_parking", "tier": "blue",
            "title": "楼道停放电动车"} | kw
    return api.post("/api/hazards", json=body, headers=api.as_(who))


async def _photo(api, who="grid_worker") -> str:
    r = await api.post("/api/attachments", content=JPEG, headers=api.as_(who))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _act(api, hid, action, who="grid_worker", **kw):
    return await api.post(f"/api/hazards/{hid}/transitions", json={"action": action} | kw,
                          headers=api.as_(who))


async def test_report_is_coded_assigned_and_deadlined(api, district_url):
    r = await _report(api)
    assert r.status_code == 201, r.text
    h = r.json()
    assert h["code"].startswith("西屯-电动车-低-") and h["code"][-6:].isdigit()
    assert h["assignee_user_id"] == 6  # the grid worker of G1
    assert h["unit_id"] == 1 and h["building_id"] == 1  # the point lies in B1, home of U1
    assert h["grid_id"] == 1 and h["status"] == "reported" and h["version"] == 1
    assert datetime.fromisoformat(h["verify_due_at"]) == T0 + timedelta(hours=24)
    assert r.headers["etag"] == '"1"'
    assert "verify" in h["actions"] and "close" not in h["actions"]
    # the next code of the same street continues the sequence: unique and stable
    h2 = (await _report(api, who="admin", at=sd.IN_G2, category="electrical",
                        subcategory="aged_cable", tier="yellow")).json()
    assert h2["code"].startswith("西屯-电气-中-")
    assert int(h2["code"][-6:]) == int(h["code"][-6:]) + 1
    notified = _count(district_url, "SELECT count(*) FROM firetwin.notification WHERE "
                      "hazard_id = %s AND user_id IN (6, 8) AND kind = 'assigned'", h["id"])
    assert notified == 2  # grid worker and unit manager
    events = (await api.get(f"/api/hazards/{h['id']}/history", headers=api.as_("admin"))).json()
    assert [(e["action"], e["to_status"]) for e in events] == [("report", "reported")]
    assert events[0]["lon"] == pytest.approx(sd.IN_G1[0])


@pytest.mark.parametrize(("change", "status", "needle"), [
    ({"lon": sd.OUTSIDE[0], "lat": sd.OUTSIDE[1]}, 400, "outside the district"),
    ({"category": "alien_invasion"}, 400, "unknown category"),
    ({"subcategory": "aged_cable"}, 400, "unknown subcategory"),
    ({"lon": "east"}, 422, "lon"),
    ({"tier": "purple"}, 422, "tier"),
    ({"photos": ["0" * 64 + ".jpg"]}, 400, "upload each file first"),
    ({"surprise": 1}, 422, "surprise"),
])
async def test_bad_reports_are_refused_and_nothing_is_stored(api, district_url, change, status,
                                                             needle):
    before = _count(district_url, "SELECT count(*) FROM firetwin.hazard")
    events = _count(district_url, "SELECT count(*) FROM firetwin.hazard_event")
    r = await _report(api, **change)
    assert r.status_code == status, r.text
    assert needle in r.text
    assert _count(district_url, "SELECT count(*) FROM firetwin.hazard") == before
    assert _count(district_url, "SELECT count(*) FROM firetwin.hazard_event") == events


async def test_grid_worker_reports_only_in_own_grids(api):
    r = await _report(api, who="grid_worker_g2", at=sd.IN_G1)
    assert r.status_code == 403 and "outside your grids" in r.text
    assert (await _report(api, who="public")).status_code == 401
    assert (await _report(api, who="planner")).status_code == 403


async def test_full_closed_loop_with_failed_recheck(api, district_url):
    h = (await _report(api, at=sd.IN_G1_OPEN, tier="yellow")).json()
    hid = h["id"]
    r = await _act(api, hid, "close")
    assert r.status_code == 409 and "needs status rechecked" in r.json()["detail"]
    r = await _act(api, hid, "verify", version=1, lon=sd.IN_G1_OPEN[0], lat=sd.IN_G1_OPEN[1])
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["rectify_due_at"]) == T0 + timedelta(days=7)
    assert (await _act(api, hid, "start_rectification")).status_code == 200
    r = await _act(api, hid, "rectify")
    assert r.status_code == 400 and "evidence" in r.text
    photo = await _photo(api)
    assert (await _act(api, hid, "rectify", attachments=[photo])).status_code == 200
    r = await _act(api, hid, "recheck_fail")
    assert r.status_code == 400 and "note" in r.text
    r = await _act(api, hid, "recheck_fail", note="杂物仍在", who="inspector")
    assert r.json()["status"] == "rectifying" and r.json()["rectified_at"] is None
    assert (await _act(api, hid, "rectify", attachments=[photo], who="grid_worker")).is_success
    assert (await _act(api, hid, "recheck_pass", who="inspector")).is_success
    r = await _act(api, hid, "close", who="community_admin")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["published"] is True and r.json()["next_escalation_at"] is None
    events = (await api.get(f"/api/hazards/{hid}/history", headers=api.as_("admin"))).json()
    assert [e["action"] for e in events] == [
        "report", "verify", "start_rectification", "rectify", "recheck_fail", "rectify",
        "recheck_pass", "close"]
    assert [e["version"] for e in events] == list(range(1, 9))
    assert events[3]["attachments"] == [photo]
    assert events[4]["actor_name"] == "inspector" and events[4]["note"] == "杂物仍在"
    assert events[1]["lon"] == pytest.approx(sd.IN_G1_OPEN[0])
    # the history is append-only in the database itself
    with pytest.raises(psycopg.errors.InsufficientPrivilege), psycopg.connect(district_url) as c:
        c.execute("UPDATE firetwin.hazard_event SET note = 'x' WHERE hazard_id = %s", (hid,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege), psycopg.connect(district_url) as c:
        c.execute("DELETE FROM firetwin.hazard_event WHERE hazard_id = %s", (hid,))


async def test_minor_hazard_fixed_on_the_spot_only_when_blue(api):
    photo = await _photo(api)
    blue = (await _report(api, at=sd.IN_G1_OPEN)).json()
    r = await _act(api, blue["id"], "fix_on_spot", attachments=[photo])
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["rectified_at"] == r.json()["closed_at"] == T0.isoformat()
    yellow = (await _report(api, at=sd.IN_G1_OPEN, tier="yellow")).json()
    r = await _act(api, yellow["id"], "fix_on_spot", attachments=[photo])
    assert r.status_code == 409 and "only blue" in r.text


async def test_concurrent_transitions_exactly_one_wins(api, district_url):
    h = (await _report(api, at=sd.IN_G1_OPEN)).json()
    results = await asyncio.gather(*[
        _act(api, h["id"], "verify", version=1, who=who)
        for who in ("grid_worker", "inspector", "community_admin", "street_officer")])
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409]
    assert _count(district_url, "SELECT count(*) FROM firetwin.hazard_event WHERE hazard_id = %s "
                  "AND action = 'verify'", h["id"]) == 1
    stale = await _act(api, h["id"], "start_rectification", version=1)
    assert stale.status_code == 409 and "changed since you read it" in stale.text
    r = await api.post(f"/api/hazards/{h['id']}/transitions",
                       json={"action": "start_rectification"},
                       headers=api.as_("grid_worker") | {"If-Match": '"2"'})
    assert r.status_code == 200 and r.headers["etag"] == '"3"'


async def test_overdue_hazards_escalate_one_tier_per_period(api, district_url):
    h = (await _report(api, at=sd.IN_G1_OPEN)).json()
    clock = api.app.state.clock
    clock.set(T0 + timedelta(hours=25))  # verify deadline (24 h) passed by 1 h
    r = await api.post("/api/hazards/escalation-sweep", headers=api.as_("admin"))
    assert r.status_code == 200 and r.json()["escalated"] >= 1
    got = (await api.get(f"/api/hazards/{h['id']}", headers=api.as_("admin"))).json()
    assert got["tier"] == "yellow" and got["escalations"] == 1 and got["overdue"] is False
    assert got["supervised"] is False
    # two more periods: yellow → orange → red, supervised, street and command notified
    clock.set(T0 + timedelta(hours=24 + 48, minutes=1))
    await api.post("/api/hazards/escalation-sweep", headers=api.as_("admin"))
    got = (await api.get(f"/api/hazards/{h['id']}", headers=api.as_("admin"))).json()
    assert got["tier"] == "red" and got["escalations"] == 3 and got["supervised"] is True
    assert got["next_escalation_at"] is None  # nothing above red
    kinds = {k for (k,) in psycopg.connect(district_url).execute(
        "SELECT kind || ':' || user_id FROM firetwin.notification WHERE hazard_id = %s",
        (h["id"],)).fetchall()}
    assert {"escalated:6", "supervision:4", "immediate_report:1",
            "immediate_report:2"} <= kinds
    assert "supervision:10" not in kinds  # the other street's officer is not bothered
    events = (await api.get(f"/api/hazards/{h['id']}/history", headers=api.as_("admin"))).json()
    assert [e["tier"] for e in events if e["action"] == "escalate"] == ["yellow", "red"]
    # the public planner-free sweep is for admins only
    assert (await api.post("/api/hazards/escalation-sweep",
                           headers=api.as_("grid_worker"))).status_code == 403


async def test_repeated_submission_is_refused(api, district_url):
    before = _count(district_url, "SELECT count(*) FROM firetwin.hazard")
    headers = api.as_("grid_worker") | {"Idempotency-Key": "phone-42-report-7"}
    body = {"lon": sd.IN_G1_OPEN[0], "lat": sd.IN_G1_OPEN[1], "category": "gas",
            "subcategory": "hose_aged", "tier": "blue", "title": "软管老化"}
    first = await api.post("/api/hazards", json=body, headers=headers)
    again = await api.post("/api/hazards", json=body, headers=headers)
    assert first.status_code == 201
    assert again.status_code == 409 and first.json()["code"] in again.json()["detail"]
    other = await api.post("/api/hazards", json=body | {"title": "别的"}, headers=headers)
    assert other.status_code == 409 and "different submission" in other.text
    assert _count(district_url, "SELECT count(*) FROM firetwin.hazard") == before + 1


async def test_scope_and_masking_on_rest(api):
    h1 = (await _report(api, at=sd.IN_G1)).json()
    h2 = (await _report(api, who="grid_worker_g2", at=sd.IN_G2)).json()
    seen = {}
    for who in ("admin", "dispatcher", "planner", "street_officer", "community_admin",
                "grid_worker", "grid_worker_g2", "unit_manager", "inspector",
                "street_officer_s2"):
        items = (await api.get("/api/hazards?limit=1000", headers=api.as_(who))).json()["items"]
        ids = {i["id"] for i in items}
        seen[who] = (h1["id"] in ids, h2["id"] in ids)
        detail = await api.get(f"/api/hazards/{h1['id']}", headers=api.as_(who))
        assert (detail.status_code == 200) == seen[who][0], who
    assert seen == {
        "admin": (True, True), "dispatcher": (True, True), "planner": (True, True),
        "street_officer": (True, True), "community_admin": (True, False),
        "grid_worker": (True, False), "grid_worker_g2": (False, True),
        "unit_manager": (True, False), "inspector": (True, True),
        "street_officer_s2": (False, False)}
    assert (await api.get("/api/hazards", headers=api.as_("public"))).status_code == 401
    # a grid worker cannot act on another grid's hazard: it does not exist for them
    r = await _act(api, h1["id"], "verify", who="grid_worker_g2")
    assert r.status_code == 404
    csv_text = (await api.get("/api/hazards?format=csv&limit=1000",
                              headers=api.as_("grid_worker_g2"))).text
    assert h2["code"] in csv_text and h1["code"] not in csv_text


async def test_departments_are_called_and_report_in(api):
    h = (await _report(api, at=sd.IN_G1_OPEN, tier="orange")).json()
    assert h["supervised"] is True and h["street_coordination"] is True
    r = await api.post(f"/api/hazards/{h['id']}/departments",
                       json={"departments": ["urban_management", "power_supply"],
                             "note": "协调会"}, headers=api.as_("street_officer"))
    assert r.status_code == 200, r.text
    again = await api.post(f"/api/hazards/{h['id']}/departments",
                           json={"departments": ["power_supply"]},
                           headers=api.as_("street_officer"))
    assert again.status_code == 409
    bad = await api.post(f"/api/hazards/{h['id']}/departments",
                         json={"departments": ["ghostbusters"]}, headers=api.as_("admin"))
    assert bad.status_code == 400 and "urban_management" in bad.text
    assert (await api.post(f"/api/hazards/{h['id']}/departments",
                           json={"departments": ["power_supply"]},
                           headers=api.as_("grid_worker"))).status_code == 403
    r = await api.post(f"/api/hazards/{h['id']}/departments/power_supply/report",
                       json={"note": "已断电检修"}, headers=api.as_("street_officer"))
    assert r.status_code == 200
    detail = (await api.get(f"/api/hazards/{h['id']}", headers=api.as_("admin"))).json()
    by_dept = {d["department"]: d for d in detail["departments"]}
    assert by_dept["power_supply"]["reported_at"] and not by_dept["urban_management"]["reported_at"]
    events = (await api.get(f"/api/hazards/{h['id']}/history", headers=api.as_("admin"))).json()
    assert [e["action"] for e in events] == ["report", "whistle", "department_report"]


async def test_blocked_fire_lane_closes_the_edge_until_closed(api, district_url):
    from gis.queries import roads

    photo = await _photo(api)
    h = (await _report(api, at=(120.531, 30.0502), category="fire_passage",
                       subcategory="fire_lane_blocked")).json()
    assert h["road_edge_id"] == 1
    async with await psycopg.AsyncConnection.connect(district_url) as c:
        assert 1 in await roads.blocked_edge_ids(c)
    await _act(api, h["id"], "fix_on_spot", attachments=[photo])
    async with await psycopg.AsyncConnection.connect(district_url) as c:
        assert 1 not in await roads.blocked_edge_ids(c)


async def test_password_login_and_me(api, district_url):
    from services.auth import hash_password

    with psycopg.connect(district_url) as c:
        c.execute("UPDATE firetwin.app_user SET password_hash = %s WHERE id = 5",
                  (hash_password("correct horse battery"),))
    bad = await api.post("/api/auth/token",
                         data={"username": "community_admin", "password": "wrong password"})
    assert bad.status_code == 401
    r = await api.post("/api/auth/token",
                       data={"username": "community_admin", "password": "correct horse battery"})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = (await api.get("/api/auth/me",
                        headers={"Authorization": "Bearer " + r.json()["access_token"]})).json()
    assert me["role"] == "community_admin" and me["scope"]["grids"] == [1]
    assert _count(district_url, "SELECT count(*) FROM firetwin.app_user WHERE password_hash "
                  "LIKE '$argon2id$%%'") >= 1


async def test_notifications_are_listed_and_marked_read(api):
    await _report(api, at=sd.IN_G1_OPEN)
    r = (await api.get("/api/notifications?unread=true", headers=api.as_("grid_worker"))).json()
    assigned = [n for n in r["items"] if n["kind"] == "assigned"]
    assert r["unread"] >= len(r["items"]) >= 1 and assigned
    nid = assigned[0]["id"]
    assert (await api.post(f"/api/notifications/{nid}/read",
                           headers=api.as_("grid_worker"))).status_code == 200
    assert (await api.post(f"/api/notifications/{nid}/read",
                           headers=api.as_("admin"))).status_code == 404


async def test_mass_escalation_sends_digests_not_floods(api, district_url):
    for _ in range(sd_digest := 7):
        assert (await _report(api, at=sd.IN_G1_OPEN)).status_code == 201
    api.app.state.clock.set(T0 + timedelta(days=30))
    r = await api.post("/api/hazards/escalation-sweep", headers=api.as_("admin"))
    assert r.json()["escalated"] >= sd_digest
    with psycopg.connect(district_url) as c:
        rows = c.execute("SELECT hazard_id, message FROM firetwin.notification WHERE user_id = 6 "
                         "AND kind = 'escalated' AND created_at = %s", (T0 + timedelta(days=30),)
                         ).fetchall()
    assert len(rows) == 1 and rows[0][0] is None
    assert int(rows[0][1].split()[0]) >= sd_digest and "overdue and escalated" in rows[0][1]


# ------------------------------------------------------------------ the escalation queue
# The sweep reads ``firetwin.hazard_escalation_due`` (kept by triggers on ``hazard``, migration
# 0016) instead of an index on ``hazard``: the queue is held to its definition after every kind
# of write, and the same mass escalation runs on one connection and on three.

#: Rows of the definition missing from the queue, and queue rows the definition lacks.
_DRIFT_SQL = """
SELECT (SELECT count(*) FROM (
            SELECT id, next_escalation_at FROM firetwin.hazard
            WHERE next_escalation_at IS NOT NULL AND status NOT IN ('closed', 'rejected')
            EXCEPT SELECT hazard_id, due_at FROM firetwin.hazard_escalation_due) a),
       (SELECT count(*) FROM (
            SELECT hazard_id, due_at FROM firetwin.hazard_escalation_due
            EXCEPT SELECT id, next_escalation_at FROM firetwin.hazard
            WHERE next_escalation_at IS NOT NULL AND status NOT IN ('closed', 'rejected')) b)
"""

#: Overdue hazards in every tier with clocks 1 to 9 periods past ``now``, made in SQL.
_BULK_SQL = """
INSERT INTO firetwin.hazard (code, category, subcategory, tier, source, title, status,
                             next_escalation_at, geom, h3_r7, h3_r9, h3_r11)
SELECT 'Q-' || i, 'ebike', 'ebike_corridor_parking',
       (ARRAY['blue', 'yellow', 'orange'])[1 + i %% 3], 'grid_worker', '楼道停放电动车',
       (ARRAY['reported', 'verified', 'rectifying', 'rectified'])[1 + i %% 4],
       %(now)s - make_interval(hours => 24 * (i %% 9) + 1),
       ST_SetSRID(ST_Point(120.535 + i * 1e-5, 30.02), 4326), 1, 2, 3
FROM generate_series(1, %(n)s) i
"""


def _drift(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as c:
        return c.execute(_DRIFT_SQL).fetchone()


def _queued(url: str, hid: int) -> datetime | None:
    with psycopg.connect(url) as c:
        row = c.execute("SELECT due_at FROM firetwin.hazard_escalation_due WHERE hazard_id = %s",
                        (hid,)).fetchone()
    return row[0] if row else None


async def test_queue_follows_reports_transitions_sweeps_and_bulk_writes(api, district_url):
    a = (await _report(api, at=sd.IN_G1_OPEN)).json()
    assert _queued(district_url, a["id"]) == datetime.fromisoformat(a["next_escalation_at"])
    r = await _act(api, a["id"], "verify")
    assert r.status_code == 200, r.text
    assert _queued(district_url, a["id"]) == datetime.fromisoformat(r.json()["rectify_due_at"])
    b = (await _report(api, at=sd.IN_G1_OPEN)).json()
    assert (await _act(api, b["id"], "reject", note="误报")).status_code == 200
    assert _queued(district_url, b["id"]) is None  # a final state leaves the queue
    assert _drift(district_url) == (0, 0)

    # A sweep moves the queue with the clock, and a hazard reaching red leaves it.
    api.app.state.clock.set(T0 + timedelta(days=60))
    r = await api.post("/api/hazards/escalation-sweep", headers=api.as_("admin"))
    assert r.status_code == 200 and r.json()["escalated"] >= 1
    got = (await api.get(f"/api/hazards/{a['id']}", headers=api.as_("admin"))).json()
    assert got["tier"] == "red" and _queued(district_url, a["id"]) is None
    assert _drift(district_url) == (0, 0)

    # Writes that bypass the API (imports, bulk loads, a DBA's UPDATE) keep it in step too.
    with psycopg.connect(district_url) as c:
        c.execute(_BULK_SQL, {"now": T0, "n": 30})
        c.execute("UPDATE firetwin.hazard SET next_escalation_at = next_escalation_at "
                  "+ interval '1 day' WHERE code IN ('Q-1', 'Q-2')")
        c.execute("UPDATE firetwin.hazard SET status = 'closed' WHERE code = 'Q-3'")
        c.execute("DELETE FROM firetwin.hazard WHERE code = 'Q-4'")
    assert _drift(district_url) == (0, 0)
    with psycopg.connect(district_url) as c:
        assert c.execute("SELECT count(*) FROM firetwin.hazard_escalation_due q JOIN "
                         "firetwin.hazard h ON h.id = q.hazard_id WHERE h.code LIKE 'Q-%%'"
                         ).fetchone()[0] == 28


def _state(url: str) -> tuple[list[tuple], int, int]:
    with psycopg.connect(url) as c:
        rows = c.execute("SELECT code, tier, escalations, next_escalation_at, supervised, version "
                         "FROM firetwin.hazard ORDER BY code").fetchall()
        events = c.execute("SELECT count(*) FROM firetwin.hazard_event "
                           "WHERE action = 'escalate'").fetchone()[0]
        notes = c.execute("SELECT count(*) FROM firetwin.notification").fetchone()[0]
    return rows, events, notes


@pytest.mark.parametrize("n_hazards", [200])
async def test_parallel_sweep_equals_serial_sweep(db_url, n_hazards):
    urls = []
    for suffix in ("_sweep1", "_sweep3"):
        url = fresh_sibling_database(db_url, suffix)
        sd.build(url)
        with psycopg.connect(url) as c:
            c.execute(_BULK_SQL, {"now": T0, "n": n_hazards})
        urls.append(url)
    settings = HazardSettings()
    results = []
    for url, n_conns in zip(urls, (1, 3), strict=True):
        conns = [await psycopg.AsyncConnection.connect(url, autocommit=True)
                 for _ in range(n_conns)]
        try:
            results.append(await escalate_overdue(conns if n_conns > 1 else conns[0], now=T0,
                                                  settings=settings, batch=17))
        finally:
            for c in conns:
                await c.close()
    serial, parallel = results
    assert serial.escalated == parallel.escalated == n_hazards  # every one was overdue
    assert serial.steps == parallel.steps and serial.by_tier == parallel.by_tier
    (rows1, events1, _), (rows3, events3, _) = _state(urls[0]), _state(urls[1])
    assert rows1 == rows3  # the same tiers, clocks, flags and versions, hazard by hazard
    assert events1 == events3 == n_hazards
    assert _drift(urls[1]) == (0, 0)
    with psycopg.connect(urls[1]) as c:  # nothing is left overdue
        assert c.execute("SELECT count(*) FROM firetwin.hazard_escalation_due WHERE due_at <= %s",
                         (T0,)).fetchone()[0] == 0
