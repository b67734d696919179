"""The one-map in a real browser: Debian's chromium driven by Playwright, a FireTwin server
(uvicorn, own process) on loopback over a small committed district in ``<test db>_web``.

District (an 8 × 8 street lattice, 100 m blocks, north-west corner at 120.58, 30.08): street S1
with communities C1 (west half, grid G1) and C2 (east half, grid G2); two fire stations on the
lattice corners; buildings with heights; hazards in both grids over the last 12 months; units in
G1 for the patrol list. Users: ``admin``, ``worker`` (grid worker of G1) with passwords.

No browser is downloaded: the tests need ``chromium`` from Debian (scripts/install-system.sh),
and they fail, not skip, when it is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
from shapely.geometry import Point, box

from gis.bulk import copy_frame
from gis.indexing import grid_polygons
from gis.settings import PROJECT_ROOT
from routing import build_graph, lattice_edges
from services.auth import hash_password, mint_token
from services.iot.messages import device_key
from tests.conftest import fresh_sibling_database, live_server_process

SECRET = "test-secret-key-for-web-tests-0123456789abcdef"  # noqa: S105 - test key
PASSWORDS = {"admin": "admin-pass-1", "worker": "worker-pass-1"}
SENSOR_SECRET = "web-test-gas-detector-secret"  # noqa: S105 - a test device
USERS = {"admin": (1, "admin"), "worker": (2, "grid_worker")}
ROWS = COLS = 8
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
VENDOR = PROJECT_ROOT / "web" / "static" / "vendor"
#: Chromium flags: software WebGL (no GPU here) through ANGLE + SwiftShader.
CHROMIUM_ARGS = ["--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--ignore-gpu-blocklist", "--no-first-run", "--no-default-browser-check"]
N_HAZARDS_PER_GRID = 30


def chromium_path() -> str:
    """Debian's chromium (FIRETWIN_CHROMIUM overrides)."""
    path = os.environ.get("FIRETWIN_CHROMIUM") or shutil.which("chromium") or ""
    if not path or not Path(path).exists():
        pytest.fail("Debian's chromium is missing: run scripts/install-system.sh "
                    "(the browser tests do not download a browser)")
    return path


def _fill(conn: psycopg.Connection) -> dict:
    edges = lattice_edges(ROWS, COLS)
    G = build_graph(edges)
    xs = [G.nodes[n]["x"] for n in G]
    ys = [G.nodes[n]["y"] for n in G]
    west, east, south, north = min(xs), max(xs), min(ys), max(ys)
    mid = (west + east) / 2
    pad = 0.002
    whole = box(west - pad, south - pad, east + pad, north + pad)
    west_half = box(west - pad, south - pad, mid, north + pad)
    east_half = box(mid, south - pad, east + pad, north + pad)
    copy_frame(conn, "region", gpd.GeoDataFrame(
        {"id": [1, 2, 3, 4], "code": ["D", "S1", "C1", "C2"],
         "name": ["示范区", "西屯街道", "一社区", "二社区"],
         "level": ["district", "street", "community", "community"],
         "parent_id": pd.array([None, 1, 2, 2], dtype="Int64")},
        geometry=[whole, whole, west_half, east_half], crs=4326))
    for name, (uid, role) in USERS.items():
        conn.execute(
            "INSERT INTO firetwin.app_user (id, username, display_name, role, password_hash) "
            "VALUES (%s, %s, %s, %s, %s)",
            (uid, name, f"{name} 用户", role, hash_password(PASSWORDS[name])))
    copy_frame(conn, "grid", gpd.GeoDataFrame(
        {"id": [1, 2], "code": ["G1", "G2"], "name": ["一网格", "二网格"],
         "kind": ["ordinary", "ordinary"], "community_id": [3, 4], "street_id": [2, 2],
         "worker_user_id": pd.array([2, None], dtype="Int64")},
        geometry=[west_half, east_half], crs=4326))
    grids = grid_polygons(conn)
    conn.execute("INSERT INTO firetwin.user_grid (user_id, grid_id) VALUES (2, 1)")
    copy_frame(conn, "road_edge", gpd.GeoDataFrame(
        edges.drop(columns=["geometry"]).assign(road_class="residential"),
        geometry=edges.geometry, crs=4326), grids=grids)
    copy_frame(conn, "station", gpd.GeoDataFrame(
        {"id": [1, 2], "code": ["S1", "S2"], "name": ["红山消防站", "东城消防站"],
         "kind": ["level1", "level2"], "status": ["on_duty", "on_duty"]},
        geometry=[Point(west, north), Point(east, south)], crs=4326), grids=grids)

    rng = np.random.default_rng(20261122)
    # Buildings: one per block, away from the streets, 3–40 m high.
    blocks = [(west + (c + 0.25) * (east - west) / (COLS - 1),
               south + (r + 0.25) * (north - south) / (ROWS - 1))
              for r in range(ROWS - 1) for c in range(COLS - 1)]
    bw = 0.5 * (east - west) / (COLS - 1)
    bh = 0.5 * (north - south) / (ROWS - 1)
    heights = rng.uniform(3, 40, len(blocks)).round(1)
    copy_frame(conn, "building", gpd.GeoDataFrame(
        {"id": np.arange(1, len(blocks) + 1), "use": "residential",
         "floors": (heights // 3).astype(int), "height_m": heights},
        geometry=[box(x, y, x + bw, y + bh) for x, y in blocks], crs=4326), grids=grids)

    # Hazards: N per grid in the middle of blocks, reported over the last 12 months.
    now = datetime.now(UTC)
    ids, geoms, grid_of = [], [], []
    for g, (x0, x1) in enumerate(((west + 0.0003, mid - 0.0003), (mid + 0.0003, east - 0.0003)),
                                 start=1):
        for _ in range(N_HAZARDS_PER_GRID):
            ids.append(len(ids) + 1)
            geoms.append(Point(rng.uniform(x0, x1), rng.uniform(south + 0.0003, north - 0.0003)))
            grid_of.append(g)
    n = len(ids)
    cats = rng.choice(["ebike", "fire_passage", "electrical"], n)
    sub = {"ebike": "ebike_indoor_charging", "fire_passage": "corridor_clutter",
           "electrical": "illegal_wiring"}
    reported = [now - timedelta(days=int(d), hours=3) for d in rng.integers(1, 330, n)]
    status = rng.choice(["reported", "verified", "rectifying", "rectified", "closed"], n)
    copy_frame(conn, "hazard", gpd.GeoDataFrame({
        "id": ids, "code": [f"西屯-消防-中-{i:06d}" for i in ids], "category": cats,
        "subcategory": [sub[c] for c in cats],
        "tier": rng.choice(["blue", "yellow", "orange", "red"], n), "status": status,
        "source": "grid_worker", "title": [f"隐患 {i}" for i in ids],
        "published": True, "reporter_name": "张伟", "responsible_person": "赵强",
        "reported_at": [t.isoformat() for t in reported],
        "rectified_at": [(t + timedelta(days=2)).isoformat() if s in ("rectified", "closed")
                         else None for t, s in zip(reported, status, strict=True)],
        "closed_at": [(t + timedelta(days=5)).isoformat() if s == "closed" else None
                      for t, s in zip(reported, status, strict=True)],
    }, geometry=geoms, crs=4326), grids=grids)
    conn.execute("SELECT setval('firetwin.hazard_id_seq', 1000)")
    # The first open hazard gets a history, for the details panel.
    first_open = next(i for i, st in zip(ids, status, strict=True) if st != "closed")
    conn.execute(
        "INSERT INTO firetwin.hazard_event (hazard_id, at, action, from_status, to_status, "
        "actor_name, note, version, tier) SELECT id, reported_at, 'report', NULL, 'reported', "
        "'张伟', '巡查发现', 1, tier FROM firetwin.hazard WHERE id = %s", (first_open,))

    # Units in G1 (never inspected: due today) for the patrol list.
    def near(node: int) -> Point:
        return Point(G.nodes[node]["x"] + 0.0002, G.nodes[node]["y"] - 0.0001)

    copy_frame(conn, "unit", gpd.GeoDataFrame({
        "id": [1, 2, 3], "code": ["U-R", "U-Y", "U-K"],
        "name": ["老王小吃", "红山商场", "第一医院"],
        "category": ["small_place", "general", "key_unit"],
        "small_place_type": ["small_restaurant", None, None],
        "key_unit_type": [None, None, "hospital"],
        "colour_code": ["red", "yellow", "green"]},
        geometry=[near(9), near(18), near(2 * COLS + 2)], crs=4326), grids=grids)
    # A gas detector in unit U-R (grid G1), for a live alarm.
    copy_frame(conn, "sensor", gpd.GeoDataFrame(
        {"id": [1], "code": ["GAS-1"], "kind": ["gas"], "unit_id": [1],
         "device_key_hash": [device_key(SENSOR_SECRET).hex()], "location_note": ["后厨"]},
        geometry=[near(9)], crs=4326), grids=grids)
    copy_frame(conn, "facility", gpd.GeoDataFrame(
        {"id": [1, 2], "code": ["H1", "H2"], "kind": ["hydrant", "hydrant"],
         "status": ["in_service", "out_of_service"]},
        geometry=[near(10), near(40)], crs=4326), grids=grids)
    is_open = {i: st not in ("closed", "rejected") for i, st in zip(ids, status, strict=True)}
    return {"bounds": (west, south, east, north), "mid": mid, "all": sorted(ids),
            "open": sorted(i for i in ids if is_open[i]),  # what the map shows staff first
            "g1_open": sorted(i for i, g in zip(ids, grid_of, strict=True)
                              if g == 1 and is_open[i])}


@pytest.fixture(scope="session")
def web_db(db_url: str) -> tuple[str, dict]:
    url = fresh_sibling_database(db_url, "_web")
    with psycopg.connect(url) as conn:
        info = _fill(conn)
    return url, info


@pytest.fixture(scope="session")
def web_server(web_db) -> Iterator[str]:
    """Base URL of a FireTwin server over the web district."""
    missing = [f for f in ("maplibre-gl.mjs", "maplibre-gl-worker.mjs", "chart.umd.min.js")
               if not (VENDOR / f).is_file()]
    if missing:
        pytest.fail(f"web/static/vendor lacks {', '.join(missing)}: run `make web`")
    with live_server_process(web_db[0], SECRET) as base:
        yield base


@pytest.fixture(scope="session")
def tokens() -> dict[str, str]:
    return {name: mint_token(SECRET, user_id=uid, role=role)
            for name, (uid, role) in USERS.items()}


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def district(web_db) -> dict:
    return web_db[1]


def map_url(base: str, district: dict, *, zoom: float = 15.6, path: str = "/",
            hash_: str = "") -> str:
    """The page centred on the district, flat, at a zoom showing every hazard."""
    west, south, east, north = district["bounds"]
    return (f"{base}{path}?lon={(west + east) / 2:.6f}&lat={(south + north) / 2:.6f}"
            f"&zoom={zoom}&pitch=0{hash_}")


@pytest.fixture
def open_page(browser, web_server):
    """Open the page in a fresh context (signed in with ``token`` if given); closes it after."""
    contexts = []

    def _open(url: str, *, token: str | None = None, public: bool = True,
              viewport: tuple[int, int] = (1280, 800)):
        ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(ctx)
        page = ctx.new_page()
        page.errors = []
        page.remote_hosts = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(
            (web_server, "data:", "blob:")) else page.remote_hosts.append(r.url))
        if token:
            page.add_init_script(f"sessionStorage.setItem('firetwin.token', {token!r})")
        elif public:
            page.add_init_script("sessionStorage.setItem('firetwin.public', '1')")
        page.goto(url)
        return page

    yield _open
    for ctx in contexts:
        ctx.close()


def wait_rendered(page, timeout_ms: int = 60_000) -> None:
    """Wait until the map is idle with features drawn (window.firetwin.ready)."""
    page.wait_for_function("window.firetwin && window.firetwin.ready && window.firetwin.loaded",
                           timeout=timeout_ms)


def wait_idle(page, timeout_ms: int = 30_000) -> None:
    """Wait for the map's next 'idle' (all tiles loaded, nothing moving)."""
    page.evaluate("""() => new Promise((resolve) => {
        const m = window.firetwin.map;
        if (!m.isMoving() && m.areTilesLoaded() && m.loaded()) { resolve(); return; }
        m.once('idle', resolve);
    })""")


def rendered_ids(page, layer: str) -> set[int]:
    return set(page.evaluate(
        f"window.firetwin.map.queryRenderedFeatures({{layers: ['{layer}']}}).map(f => f.id)"))


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path
