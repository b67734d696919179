"""Clusters, hot spots and warnings on a real PostGIS: API, stored layers (OGC, tiles), scope.

The small district (tests/services/small_district.py) gets, in the window [T − 90 d, T):
a tight group of 8 e-bike hazards in grid G1 (community C1, street S1) → a cluster of similar
hazards, yellow; 15 hazards of 3 categories in grid G3 (street S2), none there in the previous
window → a systemic cluster, red; 80 hazards scattered over the district → noise.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import psycopg
import pytest
from h3.api import basic_int as h3i
from shapely.geometry import Point, shape

from gis.bulk import copy_frame
from services.main import create_app
from services.workflows.hotspots import AnalysisSettings
from tests.conftest import app_client, fresh_sibling_database
from tests.services import small_district
from tests.services.small_district import token

pytestmark = pytest.mark.postgis

T = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW = {"from": (T - timedelta(days=90)).isoformat(), "to": T.isoformat()}
YELLOW_AT = (120.535, 30.03)  # G1
RED_AT = (120.65, 30.07)  # G3
M_LAT = 1 / 111_320
M_LON = 1 / (111_320 * math.cos(math.radians(30.05)))


def _hazards(points, categories, reported, start_id):
    n = len(points)
    return gpd.GeoDataFrame(
        {"id": range(start_id, start_id + n),
         "code": [f"T-{start_id + i}" for i in range(n)],
         "category": categories,
         "subcategory": [{"ebike": "ebike_indoor_charging", "electrical": "illegal_wiring",
                          "gas": "cylinder_storage", "fire_passage": "corridor_clutter",
                          "management": "no_fire_manager"}[c] for c in categories],
         "tier": ["blue"] * n, "status": ["reported"] * n, "source": ["grid_worker"] * n,
         "title": ["test"] * n, "reported_at": reported},
        geometry=[Point(p) for p in points], crs=4326)


def _around(at, rng, n, sd_m):
    return [(at[0] + rng.normal(0, sd_m) * M_LON, at[1] + rng.normal(0, sd_m) * M_LAT)
            for _ in range(n)]


@pytest.fixture(scope="module")
def district(db_url):
    url = fresh_sibling_database(db_url, "_analysis")
    small_district.build(url)
    rng = np.random.default_rng(4)
    when = lambda n: [T - timedelta(days=float(d)) for d in rng.uniform(1, 80, n)]  # noqa: E731
    yellow = _hazards(_around(YELLOW_AT, rng, 8, 10), ["ebike"] * 8, when(8), 1)
    red = _hazards(_around(RED_AT, rng, 15, 12), ["ebike", "electrical", "gas"] * 5,
                   when(15), 100)
    cats = ["fire_passage", "management", "gas", "electrical"]
    noise_pts = [(rng.uniform(120.505, 120.695), rng.uniform(30.005, 30.095)) for _ in range(80)]
    noise = _hazards(noise_pts, [cats[i % 4] for i in range(80)], when(80), 200)
    # The previous window: a few hazards far from both clusters.
    before = _hazards([(120.58, 30.02), (120.58, 30.021)], ["gas", "gas"],
                      [T - timedelta(days=120)] * 2, 400)
    import pandas as pd

    frame = gpd.GeoDataFrame(pd.concat([yellow, red, noise, before], ignore_index=True),
                             crs=4326)
    with psycopg.connect(url) as conn:
        copy_frame(conn, "hazard", frame)
        conn.commit()
    return url


@pytest.fixture(scope="module")
async def client(district):
    app = create_app(database_url_override=district)
    app.state.analysis_settings = AnalysisSettings()
    async with app_client(app) as c:
        c.key = app.state.secret_key
        yield c


def _h(client, who):
    return token(client.key, who)


async def _notifications(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT user_id, kind FROM firetwin.notification WHERE kind LIKE 'cluster_%' "
            "ORDER BY user_id, kind").fetchall()


async def test_refresh_clusters_warnings_once_with_recipients(client, district):
    r = await client.post("/api/analysis/refresh", params=WINDOW, headers=_h(client, "planner"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hazards"] == 8 + 15 + 80
    assert body["clusters"] == 2 and body["yellow_clusters"] == 1 and body["red_clusters"] == 1
    sent = {w["level"]: w for w in body["warnings_sent"]}
    assert set(sent) == {"yellow", "red"}
    assert sent["yellow"]["region_id"] == 4 and sent["red"]["region_id"] == 3  # C1, S2
    assert await _notifications(district) == [
        (1, "cluster_red"), (5, "cluster_yellow"), (6, "cluster_yellow"), (10, "cluster_red")]

    with psycopg.connect(district) as conn:
        members = dict(conn.execute(
            "SELECT id / 100, count(DISTINCT cluster_id) FILTER (WHERE cluster_id IS NOT NULL) "
            "FROM firetwin.hazard WHERE id < 200 GROUP BY 1").fetchall())
        assert members == {0: 1, 1: 1}  # each planted group is one cluster
        clustered_noise = conn.execute(
            "SELECT count(*) FROM firetwin.hazard WHERE id >= 200 AND cluster_id IS NOT NULL"
        ).fetchone()[0]
        assert clustered_noise == 0
        first_ids = conn.execute(
            "SELECT id, level, members FROM firetwin.hazard_cluster ORDER BY id").fetchall()
        assert sorted(r[1] for r in first_ids) == ["red", "yellow"]
        # A new e-bike hazard joins the yellow cluster.
        copy_frame(conn, "hazard", _hazards([(YELLOW_AT[0], YELLOW_AT[1] + 3 * M_LAT)],
                                            ["ebike"], [T - timedelta(days=2)], 500))
        conn.commit()

    again = await client.post("/api/analysis/refresh", params=WINDOW,
                              headers=_h(client, "admin"))
    assert again.status_code == 200, again.text
    assert again.json()["warnings_sent"] == []
    assert len(await _notifications(district)) == 4
    with psycopg.connect(district) as conn:
        second = conn.execute(
            "SELECT id, level, members FROM firetwin.hazard_cluster ORDER BY id").fetchall()
        assert [r[0] for r in second] == [r[0] for r in first_ids]  # ids persist
        assert sum(r[2] for r in second) == sum(r[2] for r in first_ids) + 1
        assert conn.execute("SELECT count(*) FROM firetwin.hazard_warning").fetchone()[0] == 2
        assert conn.execute("SELECT cluster_id FROM firetwin.hazard WHERE id = 500"
                            ).fetchone()[0] == conn.execute(
            "SELECT cluster_id FROM firetwin.hazard WHERE id = 1").fetchone()[0]


async def test_refresh_needs_admin_or_planner(client):
    assert (await client.post("/api/analysis/refresh")).status_code == 401
    for who in ("grid_worker", "street_officer", "dispatcher"):
        r = await client.post("/api/analysis/refresh", headers=_h(client, who))
        assert r.status_code == 403, who


async def test_windows_out_of_range_are_400_not_500(client):
    # found by schemathesis: a year-152 window overflowed the date arithmetic (500)
    r = await client.post("/api/analysis/refresh?from=0152-04-09T13:26:04Z",
                          headers=_h(client, "admin"))
    assert r.status_code == 400 and "between 1900 and 2200" in r.text
    r = await client.get("/api/analysis/hotspots?to=9999-12-31T23:59:59Z",
                         headers=_h(client, "admin"))
    assert r.status_code == 400


async def test_hotspots_flag_planted_cells(client):
    r = await client.get("/api/analysis/hotspots", params=WINDOW, headers=_h(client, "planner"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["summary"]["cells"] > 1500
    props = {f["properties"]["h3_cell"]: f for f in body["features"]}
    for at in (RED_AT, YELLOW_AT):
        cell = h3i.latlng_to_cell(at[1], at[0], 9)
        f = props[cell]
        assert f["properties"]["hotspot"] == "hot", f["properties"]
        assert f["properties"]["p_fdr"] < 0.05 and f["properties"]["z"] > 3
        assert shape(f["geometry"]).contains(Point(at))
    planted = [h3i.latlng_to_cell(a[1], a[0], 9) for a in (RED_AT, YELLOW_AT)]
    for f in body["features"]:
        if f["properties"]["hotspot"] == "hot":
            assert min(h3i.grid_distance(f["properties"]["h3_cell"], c) for c in planted) <= 2, \
                f["properties"]
    ebike = await client.get("/api/analysis/hotspots", headers=_h(client, "planner"),
                             params={**WINDOW, "category": "management", "include": "significant"})
    assert ebike.status_code == 200 and ebike.json()["summary"]["hot"] == 0
    bad = await client.get("/api/analysis/hotspots", headers=_h(client, "planner"),
                           params={"category": "nope"})
    assert bad.status_code == 400


async def test_clusters_api_in_scope(client):
    r = await client.get("/api/analysis/clusters", params=WINDOW, headers=_h(client, "admin"))
    assert r.status_code == 200, r.text
    levels = sorted(f["properties"]["level"] for f in r.json()["features"])
    assert levels == ["red", "yellow"]
    # Grid worker of G1 sees only the cluster of its grid.
    r = await client.get("/api/analysis/clusters", params=WINDOW,
                         headers=_h(client, "grid_worker"))
    feats = r.json()["features"]
    assert r.status_code == 200 and [f["properties"]["level"] for f in feats] == ["yellow"]
    assert r.json()["summary"]["scope"] == "grids"
    assert all(i < 100 or i == 500 for i in feats[0]["properties"]["hazard_ids"])
    r = await client.get("/api/analysis/clusters", params=WINDOW,
                         headers=_h(client, "grid_worker_g2"))
    assert r.status_code == 200 and r.json()["features"] == []
    assert (await client.get("/api/analysis/clusters")).status_code == 401
    assert (await client.get("/api/analysis/hotspots",
                             headers=_h(client, "unit_manager"))).status_code == 403


async def test_associations_trends_aggregates(client):
    h = _h(client, "planner")
    r = await client.get("/api/analysis/associations", params=WINDOW, headers=h)
    assert r.status_code == 200, r.text
    assert all({"a", "b", "r", "p_perm", "p_fdr", "p_fisher"} <= set(p) for p in r.json()["pairs"])
    r = await client.get("/api/analysis/trends", params={"category": "ebike", "months": 12},
                         headers=h)
    assert r.status_code == 200, r.text
    assert len(r.json()["months"]) == 12 and list(r.json()["series"]) == ["ebike"]
    r = await client.get("/api/analysis/aggregates", params={**WINDOW, "group": "community"},
                         headers=h)
    rows = {row["id"]: row for row in r.json()["rows"]}
    assert r.status_code == 200 and rows[4]["clustered"] >= 8 and rows[4]["clusters"] == 1
    assert rows[6]["by_category"]["electrical"] >= 5
    gw = await client.get("/api/analysis/aggregates", params={**WINDOW, "group": "grid"},
                          headers=_h(client, "grid_worker"))
    assert [row["id"] for row in gw.json()["rows"]] == [1]
    assert (await client.get("/api/analysis/associations")).status_code == 401


def _tile(lon, lat, z):
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


async def test_layers_served_by_ogc_and_tiles(client):
    await client.post("/api/analysis/refresh", params=WINDOW, headers=_h(client, "planner"))
    r = await client.get("/ogc/collections/hazard-clusters/items?f=json",
                         headers=_h(client, "admin"))
    assert r.status_code == 200, r.text
    assert sorted(f["properties"]["level"] for f in r.json()["features"]) == ["red", "yellow"]
    r = await client.get("/ogc/collections/hazard-clusters/items?f=json",
                         headers=_h(client, "grid_worker_g2"))
    assert r.status_code == 200 and r.json()["features"] == []
    r = await client.get("/ogc/collections/hotspots/items?f=json&limit=1000",
                         headers=_h(client, "planner"))
    assert r.status_code == 200, r.text
    hot = [f for f in r.json()["features"] if f["properties"]["hotspot"] == "hot"
           and f["properties"]["category"] == "all"]
    assert any(shape(f["geometry"]).contains(Point(RED_AT)) for f in hot)
    assert (await client.get("/ogc/collections/hazard-clusters/items?f=json")).status_code in (
        401, 403, 404)
    x, y = _tile(*RED_AT, 15)
    t = await client.get(f"/tiles/hazard-clusters/15/{x}/{y}.mvt", headers=_h(client, "admin"))
    assert t.status_code == 200, t.text
    feats = mapbox_vector_tile.decode(t.content)["hazard-clusters"]["features"]
    assert [f["properties"]["level"] for f in feats] == ["red"]
    t = await client.get(f"/tiles/hotspots/15/{x}/{y}.mvt", headers=_h(client, "planner"))
    assert t.status_code == 200
    assert "hot" in {f["properties"]["hotspot"]
                     for f in mapbox_vector_tile.decode(t.content)["hotspots"]["features"]}
