"""Hazard workflow: transitions over HTTP at 50 clients, and the escalation sweep over 1M hazards.

``python -m bench.workflow`` builds (once) the template database ``firetwin_bench_workflow_tpl``:
a synthetic district (4 streets, 32 grids with a grid worker each, street officers, an admin,
a dispatcher, two inspectors) holding 1,000,000 open hazards whose escalation clock has run out
(95 %; the rest are due later), generated in SQL from 4,096 precomputed points with their H3
cells and grid, under the migrated schema with every index and trigger; plus a few thousand
"reported" hazards for the HTTP part. Each run clones the template (``CREATE DATABASE …
TEMPLATE``) into ``firetwin_bench_workflow`` so every run starts from the same state, then:

1. **Transitions over HTTP** (issue goal: throughput and p95 at 50 concurrent clients). A live
   uvicorn (``services.main:app``, background sweep off) is driven by one ``httpx.AsyncClient``
   with 50 connections: 40 clients each take their own hazards through verify →
   start_rectification → rectify (with a photo uploaded first, and the GPS point) →
   recheck_pass → close, sending the version they read; at the same time 2 groups of 5 clients
   race on shared hazards — all 5 send the same action with the same version at each step, so
   exactly one must win and 4 get 409. Afterwards the history is checked: one event per
   successful transition, no duplicate versions.
   **Floor**: the same row lock + UPDATE + INSERT of the event through psycopg on 50 concurrent
   connections (no HTTP, no auth, no validation), on hazards of their own.
2. **Escalation sweep** (issue goal: ≤ 30 s for 1M open hazards):
   ``services.workflows.hazards.escalate_overdue`` end to end, timed, with a progress bar.

Results: ``bench/results/workflow.json``. Wrap runs in ``flock /tmp/firetwin-bench.lock`` on
shared machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common import bench_database, write_result
from bench.tiles import server
from gis import migrate
from gis.bulk import copy_frame
from gis.db import database_url
from gis.indexing import grid_ids, grid_polygons, h3_columns
from gis.settings import DatabaseSettings
from services.auth import mint_token
from services.workflows.hazard_rules import HazardSettings
from services.workflows.hazards import escalate_overdue

DB_NAME = "firetwin_bench_workflow"
TEMPLATE = "firetwin_bench_workflow_tpl"
SECRET = "bench-workflow-secret-key-not-for-production"  # noqa: S105 - loopback benchmark only
BOX = (120.50, 30.00, 120.70, 30.10)  # lon/lat, EPSG:4326; 4 streets × 8 grids
NX, NY = 8, 4
NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # the sweep's clock
LOOP = ("verify", "start_rectification", "rectify", "recheck_pass", "close")
CLIENTS = 50
GROUPS, RACERS = 2, 5  # contended: 2 groups of 5 clients racing on the same hazards
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
ADMIN, DISPATCHER, INSPECTORS = 1, 2, (3, 4)
STREET_OFFICER0 = 5  # street officers 5..8 (streets: regions 2..5)
WORKER0 = 9  # grid workers 9..40 (grid g → user WORKER0 + g - 1)
HTTP_PREFIX, FLOOR_PREFIX = "H-", "F-"


# ----------------------------------------------------------------------------- data


def _district(conn: psycopg.Connection) -> None:
    x0, y0, x1, y1 = BOX
    gx, gy = np.linspace(x0, x1, NX + 1), np.linspace(y0, y1, NY + 1)
    copy_frame(conn, "region", gpd.GeoDataFrame(  # the district, and one street per 2 columns
        {"id": [1, 2, 3, 4, 5], "code": ["D", "S1", "S2", "S3", "S4"],
         "name": ["示范区", "第1街道", "第2街道", "第3街道", "第4街道"],
         "level": ["district"] + ["street"] * 4,
         "parent_id": pd.array([None, 1, 1, 1, 1], dtype="Int64")},
        geometry=[shapely.box(*BOX)] + [shapely.box(gx[2 * s], y0, gx[2 * s + 2], y1)
                                        for s in range(4)], crs=4326))
    users = [(ADMIN, "admin", "admin", None), (DISPATCHER, "dispatcher", "dispatcher", None),
             *((u, f"inspector{i}", "inspector", None) for i, u in enumerate(INSPECTORS)),
             *((STREET_OFFICER0 + s, f"officer{s}", "street_officer", 2 + s) for s in range(4)),
             *((WORKER0 + g, f"worker{g + 1}", "grid_worker", None) for g in range(NX * NY))]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO firetwin.app_user (id, username, display_name, role, region_id) "
            "VALUES (%s, %s, %s, %s, %s)", [(u, n, n, r, reg) for u, n, r, reg in users])
    cells = [(i, j) for i in range(NX) for j in range(NY)]  # grid id = position + 1
    copy_frame(conn, "grid", gpd.GeoDataFrame(
        {"id": np.arange(1, len(cells) + 1), "code": [f"G{k + 1:02d}" for k in range(len(cells))],
         "name": [f"网格{k + 1}" for k in range(len(cells))], "kind": "ordinary",
         "street_id": [2 + i // 2 for i, _ in cells],
         "worker_user_id": [WORKER0 + k for k in range(len(cells))]},
        geometry=[shapely.box(gx[i], gy[j], gx[i + 1], gy[j + 1]) for i, j in cells], crs=4326))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO firetwin.user_grid VALUES (%s, %s)",
                        [(WORKER0 + g - 1, g) for g in range(1, NX * NY + 1)]
                        + [(u, g) for u in INSPECTORS for g in range(1, NX * NY + 1)])


def _points(conn: psycopg.Connection, n: int = 4096, seed: int = 3) -> None:
    """A temp table ``pts`` of random points with their H3 cells, grid and grid worker."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BOX
    pts = shapely.points(rng.uniform(x0 + 1e-4, x1 - 1e-4, n), rng.uniform(y0 + 1e-4, y1 - 1e-4, n))
    cells = h3_columns(pts)
    grids = grid_ids(pts, grid_polygons(conn))
    conn.execute("CREATE TEMP TABLE pts (k int PRIMARY KEY, lon float8, lat float8, h3_r7 bigint, "
                 "h3_r9 bigint, h3_r11 bigint, grid_id int, worker int)")
    with conn.cursor().copy("COPY pts FROM STDIN") as cp:
        for k in range(n):
            g = int(grids[k])
            cp.write_row((k, shapely.get_x(pts[k]), shapely.get_y(pts[k]), int(cells["h3_r7"][k]),
                          int(cells["h3_r9"][k]), int(cells["h3_r11"][k]), g, WORKER0 + g - 1))


_FILL_SQL = """
INSERT INTO firetwin.hazard (code, category, subcategory, tier, status, source, title,
    reporter_name, assignee_user_id, supervised, street_coordination, reported_at,
    verify_due_at, verified_at, rectify_due_at, rectified_at, recheck_due_at,
    next_escalation_at, updated_at, geom, h3_r7, h3_r9, h3_r11, grid_id)
SELECT %(prefix)s || lpad(i::text, 8, '0'), 'ebike', 'ebike_indoor_charging', r.tier, r.status,
       'grid_worker', '电动车室内充电', '张伟', p.worker, r.tier = 'orange', r.tier = 'orange',
       r.due - interval '10 days', r.due, CASE WHEN r.status <> 'reported' THEN r.due
       - interval '5 days' END, CASE WHEN r.status IN ('verified', 'rectifying') THEN r.due END,
       CASE WHEN r.status = 'rectified' THEN r.due - interval '3 days' END,
       CASE WHEN r.status = 'rectified' THEN r.due END,
       r.due, r.due - interval '10 days', ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326),
       p.h3_r7, p.h3_r9, p.h3_r11, p.grid_id
FROM generate_series(%(start)s::int, %(stop)s::int) i
JOIN pts p ON p.k = i %% 4096
CROSS JOIN LATERAL (SELECT
    CASE WHEN %(fixed)s THEN 'blue' WHEN u1 < 0.5 THEN 'blue' WHEN u1 < 0.85 THEN 'yellow'
         ELSE 'orange' END AS tier,
    CASE WHEN %(fixed)s THEN 'reported'
         ELSE (ARRAY['reported', 'verified', 'rectifying', 'rectified'])[1 + (i %% 4)] END
         AS status,
    CASE WHEN %(fixed)s THEN timestamptz '2099-01-01'
         WHEN u2 < 0.95 THEN %(now)s - u2 / 0.95 * interval '4 days'
         ELSE %(now)s + (u2 - 0.95) * interval '200 days' END AS due
    FROM (SELECT random() AS u1, random() AS u2 WHERE i IS NOT NULL) u) r
"""


def build_template(base_url: str, *, hazards: int, http_hazards: int) -> str:
    """Create, migrate and fill the template database (once; ``--fresh`` rebuilds it)."""
    url = bench_database(TEMPLATE, fresh=True, url=base_url)
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE firetwin.hazard, firetwin.app_user, firetwin.grid, "
                     "firetwin.region, firetwin.tile_change CASCADE")
        _district(conn)
        _points(conn)
        conn.execute("SELECT setseed(0.42)")
        chunk = 250_000
        for start in range(1, hazards + 1, chunk):
            stop = min(hazards, start + chunk - 1)
            conn.execute(_FILL_SQL, {"prefix": "W-", "start": start, "stop": stop, "now": NOW,
                                     "fixed": False})
            print(f"  open hazards {stop:,}", flush=True)
        for prefix in (HTTP_PREFIX, FLOOR_PREFIX):
            conn.execute(_FILL_SQL, {"prefix": prefix, "start": 1, "stop": http_hazards,
                                     "now": NOW, "fixed": True})
        conn.execute("TRUNCATE firetwin.tile_change")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    print(f"  template built in {time.perf_counter() - t0:.0f} s", flush=True)
    return url


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def clone(base_url: str, *, hazards: int, http_hazards: int, fresh: bool) -> str:
    """A fresh copy of the template (built first if missing or too small)."""
    parts = urlsplit(base_url)
    tpl = urlunsplit(parts._replace(path=f"/{TEMPLATE}"))
    need = fresh
    if not need:
        try:
            with psycopg.connect(tpl) as c:
                have = c.execute("SELECT count(*) FILTER (WHERE code LIKE 'W-%%'), "
                                 "count(*) FILTER (WHERE code LIKE 'H-%%') "
                                 "FROM firetwin.hazard").fetchone()
            need = (have[0] < hazards or have[1] < http_hazards
                    or not migrate.is_current(tpl))  # built under an older schema
        except psycopg.OperationalError:
            need = True
    if need:
        print(f"building {TEMPLATE}: {hazards:,} open hazards", flush=True)
        build_template(base_url, hazards=hazards, http_hazards=http_hazards)
    t0 = time.perf_counter()
    with psycopg.connect(_admin_url(base_url), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(DB_NAME)))
        c.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(DB_NAME), sql.Identifier(TEMPLATE)))
    print(f"  cloned {TEMPLATE} → {DB_NAME} in {time.perf_counter() - t0:.1f} s", flush=True)
    return urlunsplit(parts._replace(path=f"/{DB_NAME}"))


# ----------------------------------------------------------------------------- HTTP


def _pct(lat: list[float], q: float) -> float:
    s = sorted(lat)
    return round(s[int(q * (len(s) - 1))] * 1000, 1) if s else 0.0


def _lat_stats(lat: list[float]) -> dict:
    return {"n": len(lat), "median_ms": round(statistics.median(lat) * 1000, 1) if lat else 0.0,
            "p95_ms": _pct(lat, 0.95), "max_ms": _pct(lat, 1.0)}


def _hazards(url: str, prefix: str, n: int) -> list[tuple[int, int, float, float]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, grid_id, ST_X(geom), ST_Y(geom) FROM firetwin.hazard "
            "WHERE code LIKE %s ORDER BY id LIMIT %s", (prefix + "%", n)).fetchall()


def _tokens() -> dict[int, dict[str, str]]:
    roles = {ADMIN: "admin", **dict.fromkeys(INSPECTORS, "inspector"),
             **{STREET_OFFICER0 + s: "street_officer" for s in range(4)},
             **{WORKER0 + g: "grid_worker" for g in range(NX * NY)}}
    return {u: {"Authorization": "Bearer " + mint_token(SECRET, user_id=u, role=r)}
            for u, r in roles.items()}


def _street_officer(grid_id: int) -> int:
    return STREET_OFFICER0 + (grid_id - 1) // NY // 2


async def run_http(base: str, url: str, *, per_client: int, contended: int) -> dict:
    distinct_clients = CLIENTS - GROUPS * RACERS
    hz = _hazards(url, HTTP_PREFIX, distinct_clients * per_client + GROUPS * contended)
    own = [hz[c * per_client:(c + 1) * per_client] for c in range(distinct_clients)]
    shared = hz[distinct_clients * per_client:]
    tokens = _tokens()
    lat_ok: list[float] = []
    lat_upload: list[float] = []
    lat_race: list[float] = []
    statuses: Counter = Counter()
    race_statuses: Counter = Counter()
    expected: dict[int, int] = {}  # successful transitions per hazard, seen by the clients
    races = {"steps": 0, "exactly_one_winner": 0, "violations": 0}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client_:

        class _Failed:  # a transport error (connection reset by the server) as a response
            status_code = "transport_error"

        class _Hx:
            async def post(self, path: str, **kw):
                try:
                    return await client_.post(path, **kw)
                except httpx.TransportError:
                    return _Failed()

            async def get(self, path: str):
                return await client_.get(path)

        hx = _Hx()

        async def upload(hid: int, who: dict[str, str], tag: int) -> str | None:
            t0 = time.perf_counter()
            r = await hx.post("/api/attachments", headers=who,
                              content=JPEG + hid.to_bytes(4, "big") + tag.to_bytes(2, "big"))
            lat_upload.append(time.perf_counter() - t0)
            statuses[f"upload {r.status_code}"] += 1
            return r.json()["id"] if r.status_code == 201 else None

        def body(action: str, version: int, hid: int, lon: float, lat: float, photo: str | None):
            b: dict = {"action": action, "version": version}
            if action == "rectify":
                b |= {"attachments": [photo], "lon": lon, "lat": lat, "note": "已整改"}
            return b

        async def client(mine: list[tuple[int, int, float, float]]) -> None:
            for hid, grid, lon, lat in mine:
                who = tokens[WORKER0 + grid - 1]
                version = 1
                for action in LOOP:
                    photo = await upload(hid, who, 0) if action == "rectify" else None
                    if action == "rectify" and photo is None:
                        break
                    t0 = time.perf_counter()
                    r = await hx.post(f"/api/hazards/{hid}/transitions", headers=who,
                                      json=body(action, version, hid, lon, lat, photo))
                    statuses[r.status_code] += 1
                    if r.status_code != 200:
                        break
                    lat_ok.append(time.perf_counter() - t0)
                    expected[hid] = expected.get(hid, 0) + 1
                    version = r.json()["version"]

        async def group(mine: list[tuple[int, int, float, float]]) -> None:
            for hid, grid, lon, lat in mine:
                racers = [tokens[u] for u in (WORKER0 + grid - 1, _street_officer(grid), ADMIN,
                                              *INSPECTORS)]
                version = 1
                for action in LOOP:
                    photo = await upload(hid, racers[0], 1) if action == "rectify" else None
                    if action == "rectify" and photo is None:
                        break

                    path = f"/api/hazards/{hid}/transitions"

                    async def one(who: dict[str, str], path: str = path,
                                  b: dict = body(action, version, hid, lon, lat, photo)):
                        t0 = time.perf_counter()
                        r = await hx.post(path, headers=who, json=b)
                        lat_race.append(time.perf_counter() - t0)
                        return r

                    rs = await asyncio.gather(*(one(w) for w in racers))
                    codes = sorted((r.status_code for r in rs), key=str)
                    race_statuses.update(codes)
                    races["steps"] += 1
                    if codes == [200] + [409] * (RACERS - 1):
                        races["exactly_one_winner"] += 1
                    else:
                        races["violations"] += 1
                    wins = [r for r in rs if r.status_code == 200]
                    if not wins:
                        break
                    expected[hid] = expected.get(hid, 0) + len(wins)
                    version = wins[0].json()["version"]

        # warm-up: one request per connection
        await asyncio.gather(*(hx.get("/health") for _ in range(CLIENTS)))
        t0 = time.perf_counter()
        await asyncio.gather(*(client(m) for m in own),
                             *(group(shared[g::GROUPS]) for g in range(GROUPS)))
        seconds = time.perf_counter() - t0
    ok = sum(v for k, v in statuses.items() if k == 200) + race_statuses[200]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT hazard_id, count(*), count(DISTINCT version) FROM firetwin.hazard_event "
            "WHERE hazard_id = ANY(%s) GROUP BY hazard_id", ([h[0] for h in hz],)).fetchall()
    got = {r[0]: r[1] for r in rows}
    history_ok = (got == {k: v for k, v in expected.items() if v}
                  and all(r[1] == r[2] for r in rows))
    http_requests = sum(statuses.values()) + sum(race_statuses.values())
    return {
        "clients": CLIENTS, "distinct_clients": distinct_clients,
        "contended_groups": f"{GROUPS} × {RACERS}", "seconds": round(seconds, 2),
        "transitions_ok": ok, "transitions_per_s": round(ok / seconds, 1),
        "http_requests": http_requests, "http_requests_per_s": round(http_requests / seconds, 1),
        "latency_transition": _lat_stats(lat_ok), "latency_contended": _lat_stats(lat_race),
        "latency_upload": _lat_stats(lat_upload),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "contended_statuses": {str(k): v for k, v in sorted(race_statuses.items(), key=str)},
        "races": races, "history_one_event_per_success": history_ok,
        "history_events": sum(got.values()),
    }


# ----------------------------------------------------------------------------- floor

_FLOOR_SET = {
    "verify": ("verified", "verified_at = %(now)s, rectify_due_at = %(now)s + interval '3 days', "
               "next_escalation_at = %(now)s + interval '3 days'"),
    "start_rectification": ("rectifying", "next_escalation_at = rectify_due_at"),
    "rectify": ("rectified", "rectified_at = %(now)s, photos = photos || %(att)s, "
                "recheck_due_at = %(now)s + interval '3 days', "
                "next_escalation_at = %(now)s + interval '3 days'"),
    "recheck_pass": ("rechecked", "rechecked_at = %(now)s, next_escalation_at = NULL"),
    "close": ("closed", "closed_at = %(now)s, published = true, next_escalation_at = NULL"),
}


async def run_floor(url: str, *, n_hazards: int) -> dict:
    """Lock, UPDATE and INSERT the event per transition, over 50 psycopg connections."""
    hz = _hazards(url, FLOOR_PREFIX, n_hazards)
    with psycopg.connect(url) as conn:
        cells = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, h3_r7, h3_r9, h3_r11 FROM firetwin.hazard WHERE id = ANY(%s)",
            ([h[0] for h in hz],))}
    jobs = iter(hz)
    lat: list[float] = []
    statuses: Counter = Counter()

    async def worker() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for hid, grid, lon, la in jobs:
                version = 1
                for action in LOOP:
                    to, sets = _FLOOR_SET[action]
                    t0 = time.perf_counter()
                    async with conn.transaction():
                        cur = await conn.execute(
                            "SELECT version, status FROM firetwin.hazard WHERE id = %s "
                            "FOR UPDATE", (hid,), prepare=True)
                        v, status = await cur.fetchone()
                        if v != version:
                            statuses[409] += 1
                            break
                        p = {"id": hid, "now": datetime.now(UTC), "att": ["x.jpg"], "to": to}
                        cur = await conn.execute(
                            f"UPDATE firetwin.hazard SET status = %(to)s, {sets}, "
                            "version = version + 1, updated_at = %(now)s WHERE id = %(id)s "
                            "RETURNING version, tier", p, prepare=True)
                        version, tier = await cur.fetchone()
                        geo = action == "rectify"
                        await conn.execute(
                            "INSERT INTO firetwin.hazard_event (hazard_id, at, action, "
                            "from_status, to_status, actor_user_id, actor_name, attachments, "
                            "version, tier, geom, h3_r7, h3_r9, h3_r11) VALUES (%s, %s, %s, %s, "
                            "%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN ST_SetSRID(ST_MakePoint("
                            "%s, %s), 4326) END, %s, %s, %s)",
                            (hid, p["now"], action, status, to, WORKER0 + grid - 1, "worker",
                             ["x.jpg"] if geo else [], version, tier, geo, lon, la,
                             *(cells[hid] if geo else (None, None, None))), prepare=True)
                    lat.append(time.perf_counter() - t0)
                    statuses[200] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    seconds = time.perf_counter() - t0
    return {"connections": CLIENTS, "seconds": round(seconds, 2), "transitions_ok": len(lat),
            "transitions_per_s": round(len(lat) / seconds, 1), "latency_transition":
            _lat_stats(lat), "statuses": {str(k): v for k, v in statuses.items()}}


# ----------------------------------------------------------------------------- sweep


async def run_sweep(url: str, *, batch: int, connections: int) -> dict:
    with psycopg.connect(url) as conn:
        due, notes0, events0 = conn.execute(
            "SELECT (SELECT count(*) FROM firetwin.hazard WHERE next_escalation_at <= %s "
            "AND status NOT IN ('closed', 'rejected')), "
            "(SELECT count(*) FROM firetwin.notification), "
            "(SELECT count(*) FROM firetwin.hazard_event)", (NOW,)).fetchone()
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True)
             for _ in range(connections)]
    try:
        with Progress(TextColumn("[bold]escalation sweep"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn()) as bar:
            task = bar.add_task("sweep", total=due)
            t0 = time.perf_counter()
            r = await escalate_overdue(conns, now=NOW, settings=HazardSettings(), batch=batch,
                                       progress=lambda n: bar.advance(task, n))
            seconds = time.perf_counter() - t0
    finally:
        for c in conns:
            await c.close()
    with psycopg.connect(url) as conn:
        left, notes1, events1, tile_rows = conn.execute(
            "SELECT (SELECT count(*) FROM firetwin.hazard WHERE next_escalation_at <= %s "
            "AND status NOT IN ('closed', 'rejected')), "
            "(SELECT count(*) FROM firetwin.notification), "
            "(SELECT count(*) FROM firetwin.hazard_event), "
            "(SELECT count(*) FROM firetwin.tile_change)", (NOW,)).fetchone()
    return {"due_before": due, "escalated": r.escalated, "tier_steps": r.steps,
            "by_tier": r.by_tier, "events_written": events1 - events0,
            "notifications_written": notes1 - notes0, "notifications_reported": r.notifications,
            "still_due_after": left, "tile_change_rows": tile_rows, "batch": batch,
            "connections": connections,
            "seconds": round(seconds, 1), "hazards_per_s": round(r.escalated / seconds)}


# ----------------------------------------------------------------------------- main


def run(*, hazards: int, per_client: int, contended: int, batch: int, workers: int,
        fresh: bool, skip_http: bool, sweep_connections: int) -> dict:
    base_url = database_url(DatabaseSettings())
    http_hazards = (CLIENTS - GROUPS * RACERS) * per_client + GROUPS * contended
    http_hazards = max(http_hazards, CLIENTS * per_client)
    url = clone(base_url, hazards=hazards, http_hazards=http_hazards, fresh=fresh)
    result: dict = {}
    if not skip_http:
        result["floor"] = asyncio.run(run_floor(url, n_hazards=CLIENTS * per_client))
        print(f"floor: {result['floor']['transitions_per_s']} transitions/s", flush=True)
        with tempfile.TemporaryDirectory() as media:
            env = {"FIRETWIN_DATABASE_URL": url, "FIRETWIN_SECRET_KEY": SECRET,
                   "FIRETWIN_ESCALATION_SWEEP": "false", "FIRETWIN_MEDIA_DIR": media}
            with server("services.main:app", env, "/health", workers=workers) as base:
                result["http"] = asyncio.run(run_http(base, url, per_client=per_client,
                                                      contended=contended))
        print(f"http: {result['http']['transitions_per_s']} transitions/s", flush=True)
    result["sweep"] = asyncio.run(run_sweep(url, batch=batch, connections=sweep_connections))
    sw = result["sweep"]
    parts = []
    if "http" in result:
        h, f = result["http"], result["floor"]
        ratio = h["transitions_per_s"] / f["transitions_per_s"]
        result["ratio_vs_floor"] = round(ratio, 2)
        parts.append(
            f"{CLIENTS} HTTP clients ({workers} uvicorn worker(s)): {h['transitions_per_s']} "
            f"transitions/s, median {h['latency_transition']['median_ms']} ms, p95 "
            f"{h['latency_transition']['p95_ms']} ms; bare SQL floor {f['transitions_per_s']}/s "
            f"(×{ratio:.2f}); races {h['races']['exactly_one_winner']}/{h['races']['steps']} "
            f"with exactly one winner, history exact: {h['history_one_event_per_success']}")
    parts.append(f"sweep of {sw['escalated']:,} overdue hazards on {sweep_connections} "
                 f"connection(s): {sw['seconds']} s "
                 f"({sw['hazards_per_s']:,}/s), {sw['events_written']:,} events, "
                 f"{sw['notifications_written']:,} notifications")
    cmd = (f".venv/bin/python -m bench.workflow --hazards {hazards} --per-client {per_client} "
           f"--contended {contended} --batch {batch} --workers {workers} "
           f"--sweep-connections {sweep_connections}" + (" --skip-http" if skip_http else ""))
    payload = {"command": cmd, "summary": "; ".join(parts), "hazards": hazards,
               "cores": os.cpu_count(), **result}
    write_result("workflow", payload)
    return payload


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hazards", type=int, default=1_000_000, help="open hazards for the sweep")
    p.add_argument("--per-client", type=int, default=20,
                   help="hazards each of the 40 distinct clients takes through the loop")
    p.add_argument("--contended", type=int, default=20, help="hazards each racing group shares")
    p.add_argument("--batch", type=int, default=50_000, help="sweep batch size")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    p.add_argument("--fresh", action="store_true", help="rebuild the template database")
    p.add_argument("--skip-http", action="store_true", help="only the sweep")
    p.add_argument("--sweep-connections", type=int,
                   default=HazardSettings().sweep_connections,
                   help="connections the sweep uses side by side "
                   "(default FIRETWIN_HAZARD_SWEEP_CONNECTIONS)")
    a = p.parse_args()
    r = run(hazards=a.hazards, per_client=a.per_client, contended=a.contended, batch=a.batch,
            workers=a.workers, fresh=a.fresh, skip_http=a.skip_http,
            sweep_connections=a.sweep_connections)
    print(r["summary"])


if __name__ == "__main__":
    main()
