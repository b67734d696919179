"""Anonymous public reports: tracking codes, progress, rate limit, Open311 GeoReport v2."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from services.clock import FixedClock
from services.main import create_app
from services.routers.public import PublicSettings
from services.settings import APISettings
from tests.conftest import app_client, fresh_sibling_database
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


@pytest.fixture(scope="module")
def district_url(db_url):
    url = fresh_sibling_database(db_url, "_public")
    sd.build(url)
    return url


@pytest.fixture
async def api(district_url, tmp_path):
    with psycopg.connect(district_url) as c:
        c.execute("DELETE FROM firetwin.rate_event")
    app = create_app(APISettings(media_dir=tmp_path, escalation_sweep=False),
                     database_url_override=district_url)
    app.state.clock = FixedClock(T0)
    app.state.public_settings = PublicSettings(reports_per_window=3, window_s=3600)
    async with app_client(app) as c:
        c.app = app  # type: ignore[attr-defined]
        c.as_ = lambda who: sd.token(app.state.secret_key, who)  # type: ignore[attr-defined]
        yield c


def _count(url: str, sql: str, *args) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchone()[0]


FORM = {"lon": str(sd.IN_G1_OPEN[0]), "lat": str(sd.IN_G1_OPEN[1]), "category": "fire_passage",
        "subcategory": "exit_blocked", "description": "商场二楼安全出口被锁",
        "contact_name": "赵六", "contact_phone": "13711112222"}


async def test_report_track_and_follow_without_personal_data(api, district_url):
    r = await api.post("/api/public/reports", data=FORM,
                       files={"photo": ("p.png", PNG, "image/png")})
    assert r.status_code == 201, r.text
    code = r.json()["tracking_code"]
    assert code.startswith("HZ") and len(code) == 12
    with psycopg.connect(district_url) as c:
        row = c.execute("SELECT source, reporter_name, reporter_phone, assignee_user_id, tier, "
                        "array_length(photos, 1), grid_id FROM firetwin.hazard "
                        "WHERE tracking_code = %s", (code,)).fetchone()
    assert row == ("public", "赵六", "13711112222", 6, "blue", 1, 1)
    p = await api.get(f"/api/public/reports/{code.lower()}")
    assert p.status_code == 200 and p.json()["stage"] == "已受理"
    assert [e["action"] for e in p.json()["timeline"]] == ["report"]
    assert "赵六" not in p.text and "13711112222" not in p.text and "actor" not in p.text
    # staff move it along; the public sees the stage change, still without names
    hid = _count(district_url, "SELECT id FROM firetwin.hazard WHERE tracking_code = %s", code)
    await api.post(f"/api/hazards/{hid}/transitions", json={"action": "verify"},
                   headers=api.as_("grid_worker"))
    p = (await api.get(f"/api/public/reports/{code}")).json()
    assert p["stage"] == "已核实" and [e["label"] for e in p["timeline"]] == ["群众上报", "现场核实"]
    assert (await api.get("/api/public/reports/HZ0000000000")).status_code == 404


@pytest.mark.parametrize(("change", "files", "needle"), [
    ({"category": "nonsense"}, None, "unknown category"),
    ({"subcategory": "aged_cable"}, None, "unknown subcategory"),
    ({"lon": "121.9", "lat": "31.9"}, None, "outside the district"),
    ({"lon": "east"}, None, "lon must be a number"),
    ({"contact_phone": "call me"}, None, "contact_phone"),
    ({}, {"photo": ("x.gif", b"GIF89a....", "image/gif")}, "not a JPEG, PNG or WebP"),
])
async def test_bad_public_reports_store_nothing(api, district_url, change, files, needle):
    before = _count(district_url, "SELECT count(*) FROM firetwin.hazard")
    r = await api.post("/api/public/reports", data=FORM | change, files=files)
    assert r.status_code == 400, r.text
    assert needle in r.text
    assert _count(district_url, "SELECT count(*) FROM firetwin.hazard") == before
    assert _count(district_url, "SELECT count(*) FROM firetwin.rate_event") == 0


async def test_rate_limited_per_client_and_repeats_refused(api, district_url):
    before = _count(district_url, "SELECT count(*) FROM firetwin.hazard")
    first = await api.post("/api/public/reports", data=FORM, headers={"Idempotency-Key": "k1"})
    again = await api.post("/api/public/reports", data=FORM, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201 and again.status_code == 409
    assert first.json()["tracking_code"] in again.json()["detail"]
    for _ in range(2):
        assert (await api.post("/api/public/reports", data=FORM)).status_code == 201
    limited = await api.post("/api/public/reports", data=FORM)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert _count(district_url, "SELECT count(*) FROM firetwin.hazard") == before + 3
    api.app.state.clock.set(T0.replace(hour=10))  # the window has passed
    assert (await api.post("/api/public/reports", data=FORM)).status_code == 201


async def test_open311_georeport_v2(api, district_url):
    services = (await api.get("/open311/v2/services.json")).json()
    assert len(services) == 48 and {"service_code", "service_name", "group", "metadata",
                                     "type"} <= set(services[0])
    form = {"service_code": "ebike_indoor_charging", "lat": str(sd.IN_G2[1]),
            "long": str(sd.IN_G2[0]), "description": "楼内给电动车充电",
            "first_name": "钱", "last_name": "七", "phone": "13600000000",
            "media_url": "https://example.org/p.jpg"}
    r = await api.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    one = (await api.get(f"/open311/v2/requests/{rid}.json")).json()
    assert one[0]["status"] == "open" and one[0]["service_code"] == "ebike_indoor_charging"
    assert one[0]["media_url"] == "https://example.org/p.jpg"
    assert one[0]["lat"] == pytest.approx(sd.IN_G2[1]) and one[0]["agency_responsible"] == "西屯街道"
    assert "13600000000" not in str(one) and "钱" not in str(one)
    # open, unpublished requests are not listed publicly; named by id they are
    listed = (await api.get("/open311/v2/requests.json")).json()
    assert rid not in {x["service_request_id"] for x in listed}
    named = (await api.get(f"/open311/v2/requests.json?service_request_id={rid}")).json()
    assert [x["service_request_id"] for x in named] == [rid]
    # closed by staff: now public and closed
    hid = _count(district_url, "SELECT id FROM firetwin.hazard WHERE tracking_code = %s", rid)
    photo = (await api.post("/api/attachments", content=PNG,
                            headers=api.as_("grid_worker_g2"))).json()["id"]
    fixed = await api.post(f"/api/hazards/{hid}/transitions",
                           json={"action": "fix_on_spot", "attachments": [photo]},
                           headers=api.as_("grid_worker_g2"))
    assert fixed.status_code == 200, fixed.text
    listed = (await api.get("/open311/v2/requests.json?status=closed"
                            "&service_code=ebike_indoor_charging")).json()
    assert rid in {x["service_request_id"] for x in listed}
    assert all(x["status"] == "closed" for x in listed)
    # errors in GeoReport's shape, nothing stored
    before = _count(district_url, "SELECT count(*) FROM firetwin.hazard")
    bad = await api.post("/open311/v2/requests.json", data=form | {"service_code": "x"})
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400
    far = await api.post("/open311/v2/requests.json", data=form | {"lat": "10", "long": "10"})
    assert far.status_code == 400 and "outside the district" in far.json()[0]["description"]
    xml = await api.get("/open311/v2/services.xml")
    assert xml.status_code == 400 and ".json" in xml.json()[0]["description"]
    assert (await api.get("/open311/v2/requests/NOPE.json")).status_code == 404
    assert _count(district_url, "SELECT count(*) FROM firetwin.hazard") == before
