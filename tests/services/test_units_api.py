"""Units: colour-code rule and recompute, unit detail, QR identity, enforcement actions."""

from __future__ import annotations

import io
import re
import struct
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import psycopg
import pytest
import segno
from shapely.geometry import Point, box

from gis.bulk import copy_frame
from routing import build_graph, lattice_edges
from services.auth import mint_token
from services.clock import FixedClock
from services.main import create_app
from services.settings import APISettings
from services.workflows.colour_codes import recompute_colour_codes
from tests.conftest import app_client, fresh_sibling_database

pytestmark = pytest.mark.postgis

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
PUBLIC_URL = "https://fire.example.cn/twin"
# Grid 1 (colour cases) and grid 2 (another worker's) are boxes away from the road lattice;
# grid 3 covers the lattice (patrol list).
G1 = box(121.00, 31.00, 121.01, 31.01)
G2 = box(121.02, 31.00, 121.03, 31.01)


def _pt(i: int, grid: int = 1) -> Point:
    x0 = 121.0005 if grid == 1 else 121.0205
    return Point(x0 + 0.0003 * (i % 30), 31.0005 + 0.0003 * (i // 30))


def _ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def units_db(db_url):
    url = fresh_sibling_database(db_url, "_units")
    edges = lattice_edges(4, 4)
    G = build_graph(edges)
    xs = [G.nodes[n]["x"] for n in G]
    ys = [G.nodes[n]["y"] for n in G]
    g3 = box(min(xs) - 0.001, min(ys) - 0.001, max(xs) + 0.001, max(ys) + 0.001)
    with psycopg.connect(url) as conn:
        copy_frame(conn, "grid", gpd.GeoDataFrame(
            {"id": [1, 2, 3], "code": ["UG1", "UG2", "UG3"], "name": ["一格", "二格", "三格"],
             "kind": ["ordinary"] * 3}, geometry=[G1, G2, g3], crs=4326))
        copy_frame(conn, "road_edge", gpd.GeoDataFrame(
            edges.drop(columns=["geometry"]).assign(road_class="residential"),
            geometry=edges.geometry, crs=4326))
        # Colour cases 10..20 in grid 1, 40..41 in grid 2, 30 on the lattice (grid 3).
        ids = [*range(10, 21), 21, 22, 23, 40, 41, 30]
        colours = {20: "red", 19: "yellow"}
        lattice_pt = Point(G.nodes[5]["x"] + 0.0002, G.nodes[5]["y"])
        copy_frame(conn, "unit", gpd.GeoDataFrame({
            "id": ids, "code": [f"U{i}" for i in ids], "name": [f"单位{i}" for i in ids],
            "category": ["key_unit" if i == 23 else "general" for i in ids],
            "key_unit_type": ["hospital" if i == 23 else None for i in ids],
            "colour_code": [colours.get(i, "green") for i in ids],
            "responsible_person": [f"负责人{i}" for i in ids],
            "responsible_phone": [f"139000000{i:02d}" for i in ids],
            "qr_token": ["tok-public-unit-21" if i == 21 else None for i in ids]},
            geometry=[_pt(i, 2 if i >= 40 else 1) if i != 30 else lattice_pt for i in ids],
            crs=4326))

        def hazard(hid, unit, tier, status, *, sub="aged_cable", published=False, **times):
            cols = {"verify_due_at": None, "rectify_due_at": None, "recheck_due_at": None,
                    "closed_at": None, **times}
            conn.execute(
                "INSERT INTO firetwin.hazard (id, code, category, subcategory, tier, status, "
                "source, title, unit_id, published, reported_at, verify_due_at, rectify_due_at, "
                "recheck_due_at, closed_at, geom, h3_r7, h3_r9, h3_r11) "
                "SELECT %s, %s, 'electrical', %s, %s, %s, 'grid_worker', 't', id, %s, %s, %s, "
                "%s, %s, %s, geom, h3_r7, h3_r9, h3_r11 FROM firetwin.unit WHERE id = %s",
                (hid, f"HZ{hid}", sub, tier, status, published, _ago(20),
                 cols["verify_due_at"], cols["rectify_due_at"], cols["recheck_due_at"],
                 cols["closed_at"], unit))

        def order(unit, kind, status, issued_days_ago, hazard_id=None):
            conn.execute(
                "INSERT INTO firetwin.work_order (kind, unit_id, hazard_id, issued_at, status) "
                "VALUES (%s, %s, %s, %s, %s)", (kind, unit, hazard_id, _ago(issued_days_ago),
                                                status))

        hazard(1, 11, "blue", "verified", rectify_due_at=NOW + timedelta(days=3))
        hazard(2, 12, "orange", "reported", verify_due_at=NOW + timedelta(hours=5))
        hazard(3, 13, "red", "closed", closed_at=_ago(5))
        hazard(4, 13, "blue", "rejected")
        order(14, "temporary_seal", "open", 3)
        order(15, "temporary_seal", "closed", 30)
        order(15, "penalty", "closed", 10)
        order(16, "penalty", "closed", 200)
        hazard(5, 17, "blue", "closed", closed_at=_ago(2))
        order(None, "correction_order", "open", 4, hazard_id=5)  # the unit via its hazard
        hazard(6, 18, "yellow", "rectifying", rectify_due_at=_ago(1))
        hazard(7, 19, "red", "rechecked")
        # Unit 20 is coded red in the data but has nothing open: recompute turns it green.
        # Unit 21 (QR tests): two published rectified hazards, one unpublished, one open.
        hazard(8, 21, "blue", "rectified", published=True)
        hazard(9, 21, "blue", "closed", published=True, closed_at=_ago(1))
        hazard(10, 21, "blue", "closed", published=False, closed_at=_ago(1))
        hazard(11, 21, "blue", "verified", published=True)
        hazard(12, 22, "blue", "verified")  # unit 22: another unit's hazard (enforcement)
        for uid, when, flagged in ((23, _ago(3), False), (23, _ago(1), True),
                                   (30, _ago(3), False)):
            conn.execute(
                "INSERT INTO firetwin.inspection (kind, unit_id, inspected_at, result, "
                "location_flagged, geom, h3_r7, h3_r9, h3_r11) SELECT 'patrol', id, %s, 'pass', "
                "%s, geom, h3_r7, h3_r9, h3_r11 FROM firetwin.unit WHERE id = %s",
                (when, flagged, uid))
        users = ((1, "admin"), (2, "grid_worker"), (3, "grid_worker"), (4, "inspector"),
                 (5, "planner"), (6, "street_officer"), (7, "unit_manager"),
                 (8, "inspector"), (9, "grid_worker"))
        for uid, role in users:
            conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) "
                         "VALUES (%s, %s, %s, %s)", (uid, f"u{uid}", f"用户{uid}", role))
        conn.execute("UPDATE firetwin.app_user SET unit_id = 21 WHERE id = 7")
        # 2: grid 1; 3: grid 2; 4: inspector of grid 1; 6: officer of grids 1, 2; 8: grid 2;
        # 9: the lattice grid 3.
        conn.execute("INSERT INTO firetwin.user_grid VALUES (2, 1), (3, 2), (4, 1), (6, 1), "
                     "(6, 2), (8, 2), (9, 3)")
    return url, G


@pytest.fixture
async def client(units_db):
    app = create_app(APISettings(public_url=PUBLIC_URL, escalation_sweep=False),
                     database_url_override=units_db[0])
    app.state.clock = FixedClock(NOW)
    async with app_client(app) as c:
        c.token = lambda uid, role: {  # type: ignore[attr-defined]
            "Authorization": f"Bearer {mint_token(app.state.secret_key, user_id=uid, role=role)}"}
        c.app = app  # type: ignore[attr-defined]
        yield c


def _colours(url, ids):
    with psycopg.connect(url) as c:
        return {r[0]: (r[1], r[2], r[3]) for r in c.execute(
            "SELECT id, colour_code, colour_reason, colour_updated_at FROM firetwin.unit "
            "WHERE id = ANY(%s)", (list(ids),))}


# ------------------------------------------------------------------------------ colour rule

EXPECTED = {
    10: ("green", "no open hazards"),
    11: ("yellow", "1 open hazards"),
    12: ("red", "1 open red/orange hazards"),
    13: ("green", "no open hazards"),  # closed red + rejected blue
    14: ("red", "临时查封未解除"),
    15: ("red", "1 penalties in the last 90 days"),  # the seal is closed, the penalty recent
    16: ("green", "no open hazards"),  # penalty 200 days ago
    17: ("yellow", "责令改正通知书未完成"),  # open order through its (closed) hazard
    18: ("yellow", "1 overdue"),
    19: ("green", "no open hazards"),  # rechecked = accepted (seed 003)
    20: ("green", "no open hazards"),
}


async def test_recompute_applies_the_rule_and_writes_only_changes(client, units_db):
    url, _ = units_db
    r = await client.post("/api/units/colour-codes/recompute", json={"unit_ids": list(EXPECTED)},
                          headers=client.token(1, "admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["units"] == len(EXPECTED)
    got = _colours(url, EXPECTED)
    for uid, (colour, phrase) in EXPECTED.items():
        assert got[uid][0] == colour, (uid, got[uid])
        assert phrase in got[uid][1], (uid, got[uid][1])
        assert got[uid][2] == NOW
    assert got[14][1].startswith("红码 red: ") and got[11][1].startswith("黄码 yellow: ")
    assert "其中超期 1 处" in got[18][1]
    # 20 went red -> green; 10 stayed green (but had no reason yet): both are "changed".
    changes = {c["unit_id"]: c for c in body["changes"]}
    assert changes[20]["old_colour"] == "red" and changes[20]["colour"] == "green"
    assert body["colours"]["red"] == 3 and body["colours"]["yellow"] == 3
    # Units outside unit_ids were not touched.
    assert _colours(url, [40])[40][1] is None

    # Run again later: nothing changes, nothing is written.
    client.app.state.clock.set(NOW + timedelta(hours=1))
    again = await client.post("/api/units/colour-codes/recompute",
                              json={"unit_ids": list(EXPECTED)},
                              headers=client.token(1, "admin"))
    assert again.json()["changed"] == 0
    assert all(v[2] == NOW for v in _colours(url, EXPECTED).values())


async def test_recompute_function_in_the_callers_transaction(units_db):
    url, _ = units_db
    before = _colours(url, [12])
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute("UPDATE firetwin.hazard SET status = 'closed', closed_at = %s "
                           "WHERE id = 2", (NOW,))
        res = await recompute_colour_codes(conn, [12], now=NOW)
        assert res.units == 1
        assert [(c.unit_id, c.colour) for c in res.changed] == [(12, "green")]
        await conn.rollback()  # the caller's transaction owns both writes
    assert _colours(url, [12]) == before
    with pytest.raises(ValueError, match="timezone"):
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await recompute_colour_codes(conn, [12], now=datetime(2026, 1, 1))


async def test_recompute_is_admin_only_and_checks_ids(client):
    path = "/api/units/colour-codes/recompute"
    assert (await client.post(path)).status_code == 401
    assert (await client.post(path, headers=client.token(4, "inspector"))).status_code == 403
    r = await client.post(path, json={"unit_ids": [10, 999]}, headers=client.token(1, "admin"))
    assert r.status_code == 400 and "999" in r.json()["detail"]
    r = await client.post(path, json={"unit_ids": ["x"]}, headers=client.token(1, "admin"))
    assert r.status_code == 422


# ------------------------------------------------------------------------------ unit detail


async def test_unit_detail(client, units_db):
    await client.post("/api/units/colour-codes/recompute", json={"unit_ids": [18, 23]},
                      headers=client.token(1, "admin"))
    r = await client.get("/api/units/18", headers=client.token(2, "grid_worker"))
    assert r.status_code == 200, r.text
    u = r.json()
    assert (u["colour_code"], u["colour_label"], u["cadence_days"]) == ("yellow", "黄码", 7)
    assert (u["open_hazards"], u["overdue_hazards"]) == (1, 1)
    assert u["responsible_person"] == "负责人18" and u["grid_code"] == "UG1"
    assert u["last_inspection"] is None and u["inspection_due"] is True
    key = (await client.get("/api/units/23", headers=client.token(1, "admin"))).json()
    assert key["cadence_days"] == 1  # key unit: daily whatever its colour
    assert _dt(key["last_inspection"]["inspected_at"]) == _ago(1)
    assert key["last_inspection"]["location_flagged"] is True
    assert _dt(key["next_inspection_due_at"]) == NOW
    # Planners see no personal data; scope and sign-in are enforced.
    plan = (await client.get("/api/units/18", headers=client.token(5, "planner"))).json()
    assert plan["responsible_person"] is None and plan["responsible_phone"] is None
    assert (await client.get("/api/units/18")).status_code == 401
    assert (await client.get("/api/units/18",
                             headers=client.token(3, "grid_worker"))).status_code == 403
    assert (await client.get("/api/units/999",
                             headers=client.token(1, "admin"))).status_code == 404


# ------------------------------------------------------------------------------ QR identity


def _reference(url: str, kind: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind=kind, scale=scale, border=4)
    return buf.getvalue()


async def test_qr_png_and_svg_encode_the_unit_url(client, units_db):
    url, _ = units_db
    r = await client.get("/api/units/10/qr.png", headers=client.token(2, "grid_worker"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    with psycopg.connect(url) as c:
        token = c.execute("SELECT qr_token FROM firetwin.unit WHERE id = 10").fetchone()[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", token)
    expected_url = f"{PUBLIC_URL}/units/{token}"
    assert r.headers["x-qr-url"] == expected_url
    assert r.content == _reference(expected_url, "png")
    width, height = struct.unpack(">II", r.content[16:24])  # PNG IHDR
    assert width == height == segno.make(expected_url, error="m").symbol_size(scale=8)[0]
    # The token is stable; SVG encodes the same URL; scale is honoured.
    svg = await client.get("/api/units/10/qr.svg", params={"scale": 3},
                           headers=client.token(1, "admin"))
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.content == _reference(expected_url, "svg", 3)
    assert b"<svg" in svg.content
    # Another unit gets another token; an existing token is kept.
    other = await client.get("/api/units/11/qr.png", headers=client.token(1, "admin"))
    assert other.headers["x-qr-url"] != expected_url
    kept = await client.get("/api/units/21/qr.svg", headers=client.token(1, "admin"))
    assert kept.headers["x-qr-url"] == f"{PUBLIC_URL}/units/tok-public-unit-21"


async def test_qr_access(client):
    assert (await client.get("/api/units/10/qr.png")).status_code == 401
    assert (await client.get("/api/units/10/qr.png",
                             headers=client.token(3, "grid_worker"))).status_code == 403
    assert (await client.get("/api/units/21/qr.png",
                             headers=client.token(7, "unit_manager"))).status_code == 200
    assert (await client.get("/api/units/10/qr.png",
                             headers=client.token(7, "unit_manager"))).status_code == 403
    assert (await client.get("/api/units/10/qr.png", params={"scale": 0},
                             headers=client.token(1, "admin"))).status_code == 422


async def test_public_page_by_qr_token(client):
    r = await client.get("/api/units/by-qr/tok-public-unit-21")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "单位21" and body["category"] == "general"
    assert body["colour_code"] in ("red", "yellow", "green")
    assert body["rectified_hazards_published"] == 2  # not the unpublished one nor the open one
    assert "负责人" not in r.text and "139000000" not in r.text
    assert set(body) == {"name", "category", "small_place_type", "key_domain", "key_unit_type",
                         "colour_code", "colour_label", "colour_updated_at",
                         "rectified_hazards_published"}
    assert (await client.get("/api/units/by-qr/no-such-token-000")).status_code == 404
    assert (await client.get("/api/units/by-qr/bad%20token!")).status_code == 404
    # the page the QR code opens: HTML, same facts, no personal data
    page = await client.get("/units/tok-public-unit-21")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "单位21" in page.text and f'id="rectified">{body["rectified_hazards_published"]}<' in page.text
    assert "139000000" not in page.text
    assert (await client.get("/units/no-such-token-000")).status_code == 404


# ------------------------------------------------------------------------------ enforcement


def _count_orders(url) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM firetwin.work_order").fetchone()[0]


async def test_enforcement_turns_the_unit_red_and_closing_turns_it_back(client, units_db):
    url, _ = units_db
    inspector = client.token(4, "inspector")
    r = await client.post("/api/units/10/enforcement", json={
        "kind": "temporary_seal", "legal_basis": "《消防法》第五十四条",
        "due_at": (NOW + timedelta(days=15)).isoformat(), "note": "安全出口封堵"},
        headers=inspector)
    assert r.status_code == 201, r.text
    wo = r.json()
    assert (wo["kind"], wo["status"], wo["label"]) == ("temporary_seal", "open", "临时查封")
    assert wo["unit"]["colour_code"] == "red" and "临时查封未解除" in wo["unit"]["colour_reason"]
    assert _colours(url, [10])[10][0] == "red"
    listed = (await client.get("/api/units/10/enforcement", headers=inspector)).json()
    assert [i["id"] for i in listed["items"]] == [wo["id"]]
    assert listed["items"][0]["overdue"] is False

    closed = await client.post(f"/api/work-orders/{wo['id']}/close", json={"note": "已整改"},
                               headers=client.token(6, "street_officer"))
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and _dt(closed.json()["closed_at"]) == NOW
    assert closed.json()["note"] == "安全出口封堵\n已整改"
    assert closed.json()["unit"]["colour_code"] == "green"
    again = await client.post(f"/api/work-orders/{wo['id']}/close", headers=inspector)
    assert again.status_code == 409
    assert (await client.post(f"/api/work-orders/{wo['id']}/close",
                              headers=client.token(8, "inspector"))).status_code == 403
    assert (await client.post("/api/work-orders/99999/close",
                              headers=inspector)).status_code == 404
    open_only = (await client.get("/api/units/10/enforcement", params={"status": "open"},
                                  headers=inspector)).json()
    assert open_only["count"] == 0


async def test_penalty_and_hazard_linked_orders(client):
    admin = client.token(1, "admin")
    r = await client.post("/api/units/22/enforcement", json={
        "kind": "penalty", "amount_cny": 5000, "legal_basis": "《消防法》第六十条",
        "hazard_id": 12}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["amount_cny"] == 5000 and r.json()["hazard_code"] == "HZ12"
    assert r.json()["unit"]["colour_code"] == "red"
    assert "1 penalties in the last 90 days" in r.json()["unit"]["colour_reason"]
    r = await client.post("/api/units/22/enforcement", json={
        "kind": "correction_order", "hazard_id": 12}, headers=admin)
    assert r.status_code == 201
    items = (await client.get("/api/units/22/enforcement", headers=admin)).json()["items"]
    assert [i["kind"] for i in items] == ["correction_order", "penalty"]


@pytest.mark.parametrize(("body", "status", "phrase"), [
    ({"kind": "fine"}, 400, "is not one of"),
    ({"kind": "penalty", "legal_basis": "x"}, 400, "amount_cny is required"),
    ({"kind": "penalty", "amount_cny": -5, "legal_basis": "x"}, 400, "positive"),
    ({"kind": "penalty", "amount_cny": 0, "legal_basis": "x"}, 400, "positive"),
    ({"kind": "penalty", "amount_cny": 500}, 400, "legal_basis"),
    ({"kind": "risk_notice", "amount_cny": 500}, 400, "only for a penalty"),
    ({"kind": "correction_order", "hazard_id": 12}, 400, "not a hazard of unit 10"),
    ({"kind": "correction_order", "hazard_id": 99999}, 400, "not a hazard"),
    ({"kind": "correction_order", "due_at": "2026-06-01T00:00:00Z"}, 400, "future"),
    ({"kind": "correction_order", "due_at": "2026-08-01T00:00:00"}, 400, "timezone"),
    ({"kind": "correction_order", "amount": 5}, 422, ""),
    ({"kind": "penalty", "amount_cny": "lots", "legal_basis": "x"}, 422, ""),
])
async def test_bad_enforcement_is_refused_and_nothing_stored(client, units_db, body, status,
                                                             phrase):
    url, _ = units_db
    before = _count_orders(url)
    r = await client.post("/api/units/10/enforcement", json=body, headers=client.token(1, "admin"))
    assert r.status_code == status, r.text
    assert phrase in str(r.json()["detail"])
    assert _count_orders(url) == before


async def test_enforcement_roles_and_scope(client, units_db):
    url, _ = units_db
    before = _count_orders(url)
    body = {"kind": "risk_notice"}
    assert (await client.post("/api/units/10/enforcement", json=body)).status_code == 401
    assert (await client.post("/api/units/10/enforcement", json=body,
                              headers=client.token(2, "grid_worker"))).status_code == 403
    assert (await client.post("/api/units/10/enforcement", json=body,
                              headers=client.token(8, "inspector"))).status_code == 403
    assert (await client.post("/api/units/999/enforcement", json=body,
                              headers=client.token(1, "admin"))).status_code == 404
    assert (await client.get("/api/units/10/enforcement",
                             headers=client.token(3, "grid_worker"))).status_code == 403
    assert _count_orders(url) == before


# ------------------------------------------------------------------- colour → patrol cadence


async def test_unit_turning_red_becomes_due_daily(client, units_db):
    _, G = units_db
    start = f"{G.nodes[0]['x']},{G.nodes[0]['y']}"
    params = {"start": start, "day": NOW.date().isoformat()}
    worker = client.token(9, "grid_worker")
    # Green, checked 3 days ago: not due (monthly).
    before = await client.get("/api/patrols/today", params=params, headers=worker)
    assert before.status_code == 200, before.text
    assert "U30" not in {s["code"] for s in before.json()["stops"]}
    r = await client.post("/api/units/30/enforcement", json={
        "kind": "three_stops", "legal_basis": "《消防法》第七十条"},
        headers=client.token(1, "admin"))
    assert r.json()["unit"]["colour_code"] == "red"
    after = await client.get("/api/patrols/today", params=params, headers=worker)
    assert after.status_code == 200, after.text
    stops = {s["code"]: s for s in after.json()["stops"]}
    assert stops["U30"]["reason"] == "red" and stops["U30"]["priority"] == 1
