"""The one-map page in headless Chromium against a real server and PostGIS (no mocks).

Screenshots go to docs/screenshots/test-*.png (not committed; the README's pictures of the demo
district come from ``python -m bench.web --screenshots``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from services.iot.messages import device_key, sign
from tests.web.conftest import (
    PASSWORDS,
    SENSOR_SECRET,
    map_url,
    rendered_ids,
    screenshot,
    wait_idle,
    wait_rendered,
)

pytestmark = pytest.mark.postgis


def _isolated_hazard(page, candidates: list[int]) -> dict:
    """A rendered hazard among ``candidates`` with no other point within 15 px; its id and
    screen position (page CSS px)."""
    return page.evaluate("""(ids) => {
        const m = window.firetwin.map, r = m.getCanvas().getBoundingClientRect();
        const layers = ['hazards', 'stations', 'hydrants', 'sensors'];
        const pts = m.queryRenderedFeatures({layers}).map(
            f => ({id: f.id, layer: f.layer.id, p: m.project(f.geometry.coordinates)}));
        for (const a of pts) {
            if (a.layer !== 'hazards' || !ids.includes(a.id)) continue;
            if (pts.every(b => (b.layer === a.layer && b.id === a.id)
                              || Math.hypot(a.p.x - b.p.x, a.p.y - b.p.y) > 15))
                return {id: a.id, x: r.left + a.p.x, y: r.top + a.p.y};
        }
        return null;
    }""", candidates)


# ----------------------------------------------------------------------------- server side

def test_page_assets_and_layers_are_served_locally(web_server, tokens):
    r = httpx.get(f"{web_server}/")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert "/static/vendor/maplibre-gl.mjs" in r.text
    for asset in ("vendor/maplibre-gl.mjs", "vendor/maplibre-gl-worker.mjs",
                  "vendor/maplibre-gl.css", "vendor/chart.umd.min.js", "js/app.js"):
        a = httpx.get(f"{web_server}/static/{asset}")
        assert a.status_code == 200, asset
    public = httpx.get(f"{web_server}/api/layers").json()
    admin = httpx.get(f"{web_server}/api/layers",
                      headers={"Authorization": f"Bearer {tokens['admin']}"}).json()
    pub_ids = {la["id"] for la in public["layers"]}
    assert {"hazards", "roads", "buildings", "grids", "regions"} <= pub_ids
    assert "sensors" not in pub_ids and "units" not in pub_ids  # not public layers
    assert {"sensors", "units", "risk"} <= {la["id"] for la in admin["layers"]}
    hz_pub = next(la for la in public["layers"] if la["id"] == "hazards")
    hz_admin = next(la for la in admin["layers"] if la["id"] == "hazards")
    assert "reporter_name" not in {f["name"] for f in hz_pub["fields"]}  # personal
    assert "reporter_name" in {f["name"] for f in hz_admin["fields"]}
    assert {"value": "red", "color": "#d7191c", "property": "tier"} in hz_pub["legend"]["swatches"]


# ----------------------------------------------------------------------------- the map

def test_map_renders_features_from_own_tiles(open_page, web_server, district, tokens):
    page = open_page(map_url(web_server, district, zoom=15.8), token=tokens["admin"])
    wait_rendered(page)
    wait_idle(page)
    counts = page.evaluate("""() => {
        const m = window.firetwin.map, out = {};
        for (const id of ['hazards', 'roads', 'buildings', 'grids', 'stations'])
            out[id] = new Set(m.queryRenderedFeatures({layers: [id]}).map(f => f.id)).size;
        out.extrusion = m.getLayer('buildings').type;
        out.sources = Object.values(m.getStyle().sources)
            .map(s => (s.tiles || [s.url || 'geojson'])[0]);
        return out;
    }""")
    assert counts["hazards"] == len(district["open"])  # staff start with the open hazards
    assert counts["roads"] > 50 and counts["buildings"] > 20 and counts["grids"] == 2
    assert counts["stations"] == 2
    assert counts["extrusion"] == "fill-extrusion"
    assert all(s.startswith(web_server) for s in counts["sources"]), counts["sources"]
    assert page.remote_hosts == []  # nothing from the internet
    assert page.errors == []
    # The legend lists the catalogue layers with their swatches.
    assert page.locator("#layer-list li[data-layer='hazards'] .legend li").count() == 5
    page.select_option("select[data-hazard-filter]", "all")  # and all of them on demand
    wait_idle(page)
    assert rendered_ids(page, "hazards") == set(district["all"])
    page.evaluate("window.firetwin.map.easeTo({pitch: 50, duration: 0})")
    wait_idle(page)
    screenshot(page, "test-one-map.png")


def test_layer_toggle_hides_layer(open_page, web_server, district, tokens):
    page = open_page(map_url(web_server, district), token=tokens["admin"])
    wait_rendered(page)
    wait_idle(page)
    assert rendered_ids(page, "hazards")
    page.locator("input[data-layer-toggle='hazards']").uncheck()
    wait_idle(page)
    assert page.evaluate("window.firetwin.map.getLayoutProperty('hazards', 'visibility')") == "none"
    assert rendered_ids(page, "hazards") == set()
    assert rendered_ids(page, "roads")  # the others stay
    page.locator("input[data-layer-toggle='hazards']").check()
    wait_idle(page)
    assert rendered_ids(page, "hazards") == set(district["open"])


def _sign_in(open_page, url: str, username: str):
    page = open_page(url, public=False)
    page.wait_for_selector("dialog#login[open]")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    with page.expect_navigation():  # signing in reloads the page in the new scope
        page.click("#login-submit")
    wait_rendered(page)
    wait_idle(page)
    return page


def test_grid_worker_sees_fewer_hazards_than_admin(open_page, web_server, district):
    url = map_url(web_server, district)
    admin = _sign_in(open_page, url, "admin")
    worker = _sign_in(open_page, url, "worker")
    assert worker.locator("#who").inner_text().startswith("worker")
    admin_ids = rendered_ids(admin, "hazards")
    worker_ids = rendered_ids(worker, "hazards")
    assert admin_ids >= set(district["open"])
    assert worker_ids == set(district["g1_open"])  # the grid worker's grid, nothing else
    assert len(worker_ids) < len(admin_ids)
    screenshot(worker, "test-grid-worker.png")


def test_new_hazard_appears_in_live_panel_within_2s(open_page, web_server, district, tokens):
    page = open_page(map_url(web_server, district), token=tokens["admin"])
    wait_rendered(page)
    page.wait_for_function("window.firetwin.live && window.firetwin.live.items.length > 0")
    _, south, east, north = district["bounds"]
    lon, lat = (district["mid"] + east) / 2 + 0.0001, (south + north) / 2 + 0.00005  # in G2
    r = httpx.post(f"{web_server}/api/hazards",
                   headers={"Authorization": f"Bearer {tokens['admin']}"},
                   json={"lon": lon, "lat": lat, "category": "ebike",
                         "subcategory": "ebike_indoor_charging", "tier": "red",
                         "title": "楼道电动车充电（实时测试）"})
    assert r.status_code == 201, r.text
    created = time.monotonic()
    hid = r.json()["id"]
    item = page.locator(f"#live-list li[data-id='{hid}']")
    item.wait_for(timeout=5000)
    seen_after = time.monotonic() - created
    assert seen_after < 2.0, f"the new hazard showed after {seen_after:.2f} s"
    assert "flash" in item.get_attribute("class")  # red: flashes
    assert "实时测试" in item.inner_text()
    assert page.locator(".pulse").count() >= 1  # and pulses on the map
    screenshot(page, "test-live.png")


def test_sensor_alarm_streams_into_live_panel_within_2s(open_page, web_server, district,
                                                       tokens):
    page = open_page(map_url(web_server, district), token=tokens["worker"])
    wait_rendered(page)
    page.wait_for_function("window.firetwin.live && window.firetwin.live.mode === 'sse+poll'")
    time.sleep(0.5)  # the server's LISTEN for alarms is set up
    reading = sign({"sensor": "GAS-1", "msg_id": "web-1", "state": "alarm", "value": 62.0,
                    "ts": datetime.now(UTC).isoformat()}, device_key(SENSOR_SECRET))
    r = httpx.post(f"{web_server}/api/sensors/readings", json=[reading], timeout=30)
    assert r.status_code == 200, r.text
    sent = time.monotonic()
    item = page.locator("#live-list li[data-kind='alarm']")
    item.first.wait_for(timeout=10_000)
    seen_after = time.monotonic() - sent
    assert seen_after < 2.0, f"the alarm showed after {seen_after:.2f} s"
    assert "GAS-1" in item.first.inner_text()
    assert "flash" in item.first.get_attribute("class")  # raised with a red hazard
    screenshot(page, "test-alarm.png")


def test_click_hazard_shows_record_and_nearest_station_routes(open_page, web_server, district,
                                                             tokens):
    page = open_page(map_url(web_server, district), token=tokens["admin"])
    wait_rendered(page)
    wait_idle(page)
    pos = _isolated_hazard(page, district["open"])
    hid = pos["id"]
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_selector("#details:not([hidden])")
    page.wait_for_function(
        f"window.firetwin.hazardDetail && window.firetwin.hazardDetail.hazard.id === {hid}")
    assert page.locator("#details-title").inner_text() == "隐患"
    assert f"西屯-消防-中-{hid:06d}" in page.locator("#details-body").inner_text()
    assert page.locator("ol.history li").count() == len(page.evaluate(
        "window.firetwin.hazardDetail.history"))
    page.click("#nearest-stations")
    page.wait_for_function("window.firetwin.routes && window.firetwin.map.getLayer('ft-routes')")
    wait_idle(page)
    drawn = page.evaluate("""async () => {
        const m = window.firetwin.map;
        return {features: m.queryRenderedFeatures({layers: ['ft-routes']}).length,
                data: (await m.getSource('ft-routes').getData()).features.length};
    }""")
    assert drawn["data"] == 2 and drawn["features"] > 0
    rows = page.locator("#route-list li")
    assert rows.count() == 2
    assert "ETA" in rows.first.inner_text()
    etas = [float(e) for e in page.locator("#route-list [data-eta]").evaluate_all(
        "els => els.map(e => e.dataset.eta)")]
    assert etas == sorted(etas) and etas[0] > 60  # turnout 60 s + travel
    screenshot(page, "test-routes.png")


def test_patrol_view_on_a_phone_lists_routes_and_checks_in(open_page, web_server, district,
                                                          tokens):
    page = open_page(map_url(web_server, district, hash_="#patrol"), token=tokens["worker"],
                     viewport=(390, 844))
    wait_rendered(page)
    page.wait_for_function("window.firetwin.patrol && window.firetwin.patrol.plan")
    plan = page.evaluate("window.firetwin.patrol.plan")
    assert {s["code"] for s in plan["stops"] if s["kind"] == "unit"} >= {"U-R"}
    assert page.locator("#patrol-list li.stop").count() == len(plan["stops"])
    assert page.evaluate("!!window.firetwin.map.getLayer('ft-patrol')")
    # Fits a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    button = page.locator("#patrol-list li.kind-unit button.check-in").first
    button.click()
    page.wait_for_function("window.firetwin.patrol.checkIns.length === 1", timeout=15_000)
    assert page.locator("#patrol-list li.done").count() == 1
    screenshot(page, "test-patrol.png")


def test_cockpit_draws_charts_from_statistics(open_page, web_server, district, tokens):
    page = open_page(map_url(web_server, district, hash_="#cockpit"), token=tokens["admin"])
    page.wait_for_function("window.firetwin.cockpit && window.firetwin.cockpit.ready",
                           timeout=60_000)
    c = page.evaluate("""() => { const c = window.firetwin.cockpit;
        return {found: c.whole.totals.hazards_found, months: c.months.length,
                perMonth: c.monthly.map(m => m.totals.hazards_found),
                charts: ['chart-monthly', 'chart-rate', 'chart-trend'].map(
                    id => !!Chart.getChart(document.getElementById(id)))}; }""")
    assert c["months"] == 12
    assert c["found"] >= len(district["all"]) - 5  # a few may fall before the 12-month window
    assert sum(c["perMonth"]) == c["found"]
    assert c["charts"] == [True, True, True]
    assert page.locator(".kpi").count() >= 4
    screenshot(page, "test-cockpit.png")
