"""The planner's view in headless Chromium: hot spots and clusters by grid, what-if coverage.

Its own copy of the web district (``<test db>_h8``, the lattice of ``tests/web/conftest.py``)
with a planner and a tight knot of e-bike hazards in grid G1, so the analysis finds a cluster
and a hot spot; its own server, since the test refreshes the stored analysis.

What-if by clicks on the map: close station S2 (south-east corner) and the 8 roads crossing
the district's middle meridian, so station S1 (north-west) cannot reach the east half; the
buildings there are newly uncovered. Then a station added by a click in the east half covers
them again. The drawn sources are compared with the API answer, and the answer with
``GET /api/routing/coverage`` for the same scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import httpx
import numpy as np
import psycopg
import pytest
from shapely.geometry import Point, shape

from gis.bulk import copy_frame
from gis.indexing import grid_polygons
from services.auth import mint_token
from tests.conftest import fresh_sibling_database, live_server_process
from tests.web.conftest import SECRET, _fill, screenshot, wait_idle

pytestmark = pytest.mark.postgis

PLANNER_ID = 3
KNOT = 8  # hazards within ~25 m of each other


@pytest.fixture(scope="module")
def h8_district(db_url: str) -> tuple[str, dict]:
    url = fresh_sibling_database(db_url, "_h8")
    with psycopg.connect(url) as conn:
        info = _fill(conn)
        conn.execute(
            "INSERT INTO firetwin.app_user (id, username, display_name, role) "
            "VALUES (%s, 'planner', '规划 用户', 'planner')", (PLANNER_ID,))
        west, south, _, north = info["bounds"]
        x0, y0 = west + 0.0012, (south + north) / 2 + 0.0004  # inside grid G1
        rng = np.random.default_rng(8)
        now = datetime.now(UTC)
        ids = list(range(2001, 2001 + KNOT))
        copy_frame(conn, "hazard", gpd.GeoDataFrame({
            "id": ids, "code": [f"西屯-消防-高-{i}" for i in ids], "category": "ebike",
            "subcategory": "ebike_indoor_charging", "tier": "orange", "status": "verified",
            "source": "grid_worker", "title": "楼道电动车充电（聚集）", "published": True,
            "reported_at": [(now - timedelta(days=int(d))).isoformat()
                            for d in rng.integers(2, 20, KNOT)]},
            geometry=[Point(x0 + dx, y0 + dy) for dx, dy in rng.uniform(-0.0002, 0.0002,
                                                                          (KNOT, 2))],
            crs=4326), grids=grid_polygons(conn))
        edges = [r[0] for r in conn.execute(
            "SELECT id FROM firetwin.road_edge WHERE ST_XMin(geom) < %s AND ST_XMax(geom) > %s "
            "ORDER BY id", (info["mid"], info["mid"])).fetchall()]
        info["crossing_edges"] = edges
        info["stations"] = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM firetwin.station").fetchall()}
        info["buildings"] = {r[0]: r[1] for r in conn.execute(
            "SELECT id, ST_X(ST_PointOnSurface(geom)) FROM firetwin.building").fetchall()}
    return url, info


@pytest.fixture(scope="module")
def h8_server(h8_district) -> Iterator[str]:
    with live_server_process(h8_district[0], SECRET) as base:
        yield base


@pytest.fixture(scope="module")
def h8_tokens() -> dict[str, str]:
    return {"admin": mint_token(SECRET, user_id=1, role="admin"),
            "worker": mint_token(SECRET, user_id=2, role="grid_worker"),
            "planner": mint_token(SECRET, user_id=PLANNER_ID, role="planner")}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _url(base: str, info: dict, zoom: float = 16.0) -> str:
    west, south, east, north = info["bounds"]
    return (f"{base}/?lon={(west + east) / 2:.6f}&lat={(south + north) / 2:.6f}"
            f"&zoom={zoom}&pitch=0#planner")


def _click_lonlat(page, lon: float, lat: float) -> None:
    p = page.evaluate("""([lon, lat]) => {
        const m = window.firetwin.map, r = m.getCanvas().getBoundingClientRect();
        const p = m.project([lon, lat]);
        return {x: r.left + p.x, y: r.top + p.y};
    }""", [lon, lat])
    page.mouse.click(p["x"], p["y"])


def _settled(page, runs: int) -> dict:
    """The what-if answer once ``runs`` answers came and none is pending."""
    page.wait_for_function(
        f"window.firetwin.planner.runs >= {runs} && !window.firetwin.planner.pending",
        timeout=60_000)
    return page.evaluate("window.firetwin.planner.result")


def test_what_if_api_roles(h8_server, h8_tokens):
    r = httpx.get(f"{h8_server}/api/planner/what-if", timeout=60)
    assert r.status_code == 401
    r = httpx.get(f"{h8_server}/api/planner/what-if", headers=_auth(h8_tokens["worker"]),
                  timeout=60)
    assert r.status_code == 403
    r = httpx.get(f"{h8_server}/api/planner/what-if?without_station=99",
                  headers=_auth(h8_tokens["planner"]), timeout=60)
    assert r.status_code == 400  # no such station in service
    live = httpx.get(f"{h8_server}/api/planner/what-if", headers=_auth(h8_tokens["planner"]),
                     timeout=60).json()
    b = live["buildings"]
    assert b["before"] == b["after"] and b["newly_uncovered"] == b["newly_covered"] == 0
    assert b["before"]["reached"] == b["before"]["total"] > 0  # 8×8 lattice: all within 4 min


def test_planner_shows_hot_spots_and_clusters_by_grid(open_page, h8_server, h8_district,
                                                     h8_tokens):
    url, info = h8_district
    r = httpx.post(f"{h8_server}/api/analysis/refresh", headers=_auth(h8_tokens["admin"]),
                   timeout=120)
    assert r.status_code == 200, r.text
    page = open_page(_url(h8_server, info), token=h8_tokens["planner"])
    page.wait_for_function("window.firetwin.planner && window.firetwin.planner.ready",
                           timeout=60_000)
    wait_idle(page)
    agg = page.evaluate("window.firetwin.planner.aggregates")
    with psycopg.connect(url) as conn:
        per_grid = dict(conn.execute(
            "SELECT grid_id, count(*) FROM firetwin.hazard WHERE status <> 'rejected' "
            "AND reported_at >= %s AND reported_at < %s GROUP BY 1",
            (agg["window"]["from"], agg["window"]["to"])).fetchall())
        clusters = conn.execute("SELECT count(*) FROM firetwin.hazard_cluster").fetchone()[0]
    assert {row["id"]: row["hazards"] for row in agg["rows"]} == {1: per_grid.get(1, 0),
                                                                  2: per_grid.get(2, 0)}
    assert page.locator("#planner-grids tr[data-grid]").count() == 2
    g1 = next(row for row in agg["rows"] if row["id"] == 1)
    assert clusters >= 1 and g1["clusters"] >= 1 and g1["hot_cells"] >= 1
    drawn = page.evaluate("""() => {
        const m = window.firetwin.map;
        return {clusters: m.queryRenderedFeatures({layers: ['hazard-clusters']}).length,
                hot: m.queryRenderedFeatures({layers: ['hotspots']})
                      .filter(f => f.properties.hotspot === 'hot').length,
                vis: ['hotspots', 'hazard-clusters'].map(
                      id => m.getLayoutProperty(id, 'visibility'))};
    }""")
    assert drawn["vis"] == ["visible", "visible"]
    assert drawn["clusters"] >= 1 and drawn["hot"] >= 1
    assert page.errors == []
    screenshot(page, "test-planner-hotspots.png")


def test_what_if_by_clicks_draws_uncovered_buildings(open_page, h8_server, h8_district,
                                                    h8_tokens):
    _, info = h8_district
    page = open_page(_url(h8_server, info), token=h8_tokens["planner"])
    page.wait_for_function("window.firetwin.planner && window.firetwin.planner.ready",
                           timeout=60_000)
    wait_idle(page)
    runs = page.evaluate("window.firetwin.planner.runs")
    # Close station S2 (the south-east one) by clicking it.
    page.click("#whatif-modes [data-mode='close-station']")
    _click_lonlat(page, *info["stations"][2])
    runs += 1
    result = _settled(page, runs)
    assert result["scenario"]["without_station"] == [2]
    # Close the 8 roads across the middle meridian, each by a click on its middle.
    page.click("#whatif-modes [data-mode='close-road']")
    with psycopg.connect(h8_district[0]) as conn:
        mids = conn.execute(
            "SELECT id, ST_X(ST_LineInterpolatePoint(geom, 0.5)), "
            "ST_Y(ST_LineInterpolatePoint(geom, 0.5)) FROM firetwin.road_edge "
            "WHERE id = ANY(%s) ORDER BY id", (info["crossing_edges"],)).fetchall()
    for _, lon, lat in mids:
        _click_lonlat(page, lon, lat)
        runs += 1
        _settled(page, runs)
    result = page.evaluate("window.firetwin.planner.result")
    assert result["scenario"]["close_edge"] == sorted(info["crossing_edges"])
    lost = {f["id"] for f in result["newly_uncovered"]["features"]}
    eps = 0.0003
    east = {b for b, x in info["buildings"].items() if x > info["mid"] + eps}
    west = {b for b, x in info["buildings"].items() if x < info["mid"] - eps}
    assert east <= lost and not (lost & west)
    assert result["buildings"]["newly_uncovered"] == len(lost)
    # The same scenario through the coverage endpoint reaches the same buildings.
    q = ("polygons=false&without_station=2&"
         + "&".join(f"close_edge={e}" for e in info["crossing_edges"]))
    cov = httpx.get(f"{h8_server}/api/routing/coverage?{q}", timeout=60).json()
    assert cov["summary"]["buildings"]["reached"] == result["buildings"]["after"]["reached"]
    assert result["buildings"]["before"]["reached"] - len(lost) == \
        result["buildings"]["after"]["reached"]
    wait_idle(page)
    drawn = page.evaluate("""async () => {
        const m = window.firetwin.map;
        const data = await m.getSource('ft-whatif-uncovered').getData();
        return {source: data.features.map(f => f.id).sort((a, b) => a - b),
                rendered: new Set(m.queryRenderedFeatures({layers: ['ft-whatif-uncovered']})
                                   .map(f => f.id)).size,
                roads: m.queryRenderedFeatures({layers: ['ft-whatif-roads']}).length,
                closed: m.queryRenderedFeatures({layers: ['ft-whatif-stations']})
                          .filter(f => f.properties.change === 'closed').length,
                after: m.queryRenderedFeatures({layers: ['ft-whatif-after']}).length};
    }""")
    assert drawn["source"] == sorted(lost)
    assert drawn["rendered"] >= len(east)  # every newly uncovered building is drawn
    assert drawn["roads"] >= 1 and drawn["closed"] == 1 and drawn["after"] >= 1
    assert page.locator("[data-uncovered]").get_attribute("data-uncovered") == str(len(lost))
    screenshot(page, "test-planner-whatif.png")

    # Add a station by a click in the east half: those buildings are covered again.
    _, south, east_, north = info["bounds"]
    spot = (info["mid"] + (east_ - info["mid"]) / 2, (south + north) / 2)
    page.click("#whatif-modes [data-mode='add-station']")
    _click_lonlat(page, *spot)
    runs += 1
    result = _settled(page, runs)
    assert len(result["scenario"]["add_station"]) == 1
    still = {f["id"] for f in result["newly_uncovered"]["features"]}
    assert not (still & east)
    after = next(f for f in result["coverage"]["features"]
                 if f["properties"]["scenario"] == "after")
    assert shape(after["geometry"]).contains(Point(*spot))
    added = [f for f in result["stations"]["features"] if f["properties"]["change"] == "added"]
    assert len(added) == 1
    wait_idle(page)
    assert page.evaluate("window.firetwin.map.queryRenderedFeatures("
                         "{layers: ['ft-whatif-stations']}).length") == 3  # S1, new, S2 closed
    assert page.errors == []
    screenshot(page, "test-planner-added-station.png")
