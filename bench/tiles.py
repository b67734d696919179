"""Vector tile latency and throughput: FireTwin (uncached, cached), tipg and the bare query.

``python -m bench.tiles`` fills database ``firetwin_bench_tiles`` with ≥ 1,000,000 hazards and
≥ 1,000,000 building footprints (synthesised with ``gis.bulk.copy_frame``: clustered like towns
and villages over a 32 × 26 km district; the demo generator would need scale ≈ 40 and far more
than the time budget to reach a million hazards), samples tiles z12–z16 where the data are,
and measures median/p95 latency and requests/s at 8 concurrent clients for:

- **floor**: the same ``ST_AsMVT`` SQL that FireTwin runs, sent with psycopg over 8 connections;
- **FireTwin uncached**: a live uvicorn on 127.0.0.1 with ``FIRETWIN_TILES_CACHE_BYTES=0``;
- **FireTwin cached**: the same server with its tile cache, after one warm-up pass (every
  answer still reads the change log first, so it is as fresh as an uncached one);
- **FastAPI ceiling**: a bare route answering fixed bytes of the same mean size, no SQL, for
  what the framework alone allows on this machine;
- **tipg**: ``tipg.main:app`` under uvicorn on another loopback port, serving the same views
  (``TIPG_DB_SCHEMAS=["layers"]``) with the same buffer, feature cap and properties.

Signed-in requests (an admin token: every row and field, like tipg's unfiltered views) are the
comparison; the cached public map (no token) is measured too. Every client sends
``Accept-Encoding: identity`` so no server spends time compressing. The data stay in the
database between runs (``--fresh`` rebuilds them). Results: ``bench/results/tiles.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import psycopg
import shapely
from fastapi import FastAPI, Response

from bench.common import bench_database, free_port, write_result
from gis.bulk import copy_frame
from gis.indexing import grid_polygons
from layers.catalogue import BY_ID
from layers.scope import Scope
from services.auth import mint_token
from tiles.mvt import build_tile_query, tile_params
from tiles.settings import MVTSettings

DB_NAME = "firetwin_bench_tiles"
ROOT = Path(__file__).resolve().parent.parent
CENTRE = (118.95, 42.27)  # Hongshan district, Chifeng (seed 001)
SIZE_KM = (32.0, 26.0)
ZOOMS = (12, 13, 14, 15, 16)
LAYERS = ("hazards", "buildings")
SECRET = "bench-tiles-secret-key-not-for-production"  # noqa: S105 - loopback benchmark only
ADMIN_ID = 1
CONCURRENCY = 8


# ----------------------------------------------------------------------------- data


def _km_to_deg(dx_km: np.ndarray, dy_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon = CENTRE[0] + dx_km / (111.32 * math.cos(math.radians(CENTRE[1])))
    lat = CENTRE[1] + dy_km / 110.57
    return lon, lat


def _positions(rng: np.random.Generator, n: int, towns: np.ndarray) -> tuple[np.ndarray, ...]:
    """70 % around towns (Gaussian, 0.3–1.5 km), 30 % spread evenly; in km from the centre."""
    half_w, half_h = SIZE_KM[0] / 2 * 0.98, SIZE_KM[1] / 2 * 0.98
    clustered = int(n * 0.7)
    which = rng.integers(0, len(towns), clustered)
    sigma = towns[which, 2]
    x = np.concatenate([towns[which, 0] + rng.normal(0, 1, clustered) * sigma,
                        rng.uniform(-half_w, half_w, n - clustered)])
    y = np.concatenate([towns[which, 1] + rng.normal(0, 1, clustered) * sigma,
                        rng.uniform(-half_h, half_h, n - clustered)])
    return np.clip(x, -half_w, half_w), np.clip(y, -half_h, half_h)


def _footprints(rng: np.random.Generator, x_km: np.ndarray, y_km: np.ndarray) -> np.ndarray:
    """Star-shaped footprints of 10 jittered vertices, 6–25 m across (valid by construction)."""
    n = len(x_km)
    k = 10
    step = 2 * np.pi / k
    angles = (rng.uniform(0, 2 * np.pi, (n, 1)) + np.arange(k) * step
              + rng.uniform(-0.3, 0.3, (n, k)) * step)
    radius_km = rng.uniform(0.003, 0.0125, (n, 1)) * rng.uniform(0.75, 1.0, (n, k))
    px = x_km[:, None] + radius_km * np.cos(angles)
    py = y_km[:, None] + radius_km * np.sin(angles)
    lon, lat = _km_to_deg(px, py)
    ring = np.stack([lon, lat], axis=-1)
    ring = np.concatenate([ring, ring[:, :1, :]], axis=1)
    return shapely.polygons(ring)


def fill(conn: psycopg.Connection, *, hazards: int, buildings: int, seed: int = 7) -> None:
    """Synthesise the benchmark district (inside the caller's transaction)."""
    rng = np.random.default_rng(seed)
    conn.execute("TRUNCATE firetwin.hazard, firetwin.building, firetwin.user_grid, "
                 "firetwin.app_user, firetwin.grid, firetwin.region, firetwin.tile_change CASCADE")
    w, h = SIZE_KM
    (x0, x1), (y0, y1) = _km_to_deg(np.array([-w / 2, w / 2]), np.array([-h / 2, h / 2]))
    copy_frame(conn, "region", gpd.GeoDataFrame(
        {"id": [1], "code": ["150402"], "name": ["红山区"], "level": ["district"]},
        geometry=[shapely.box(x0, y0, x1, y1)], crs=4326))
    nx_, ny_ = 20, 16  # ordinary grids, ~1.6 km each
    gx = np.linspace(x0, x1, nx_ + 1)
    gy = np.linspace(y0, y1, ny_ + 1)
    cells = [shapely.box(gx[i], gy[j], gx[i + 1], gy[j + 1])
             for i in range(nx_) for j in range(ny_)]
    copy_frame(conn, "grid", gpd.GeoDataFrame(
        {"id": np.arange(1, len(cells) + 1), "code": [f"G{i:04d}" for i in range(len(cells))],
         "name": [f"网格 {i}" for i in range(len(cells))], "kind": "ordinary"},
        geometry=cells, crs=4326))
    grids = grid_polygons(conn)
    conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) "
                 "VALUES (%s, 'bench_admin', 'bench admin', 'admin')", (ADMIN_ID,))
    towns = np.column_stack([rng.uniform(-w / 2 * 0.9, w / 2 * 0.9, 60),
                             rng.uniform(-h / 2 * 0.9, h / 2 * 0.9, 60),
                             rng.uniform(0.3, 1.5, 60)])
    chunk = 250_000
    for start in range(0, hazards, chunk):
        n = min(chunk, hazards - start)
        x, y = _positions(rng, n, towns)
        lon, lat = _km_to_deg(x, y)
        copy_frame(conn, "hazard", gpd.GeoDataFrame({
            "code": [f"B-{start + i:08d}" for i in range(n)],
            "category": "ebike",
            "subcategory": "ebike_indoor_charging",
            "tier": rng.choice(["blue", "yellow", "orange", "red"], n),
            "status": rng.choice(["reported", "verified", "rectifying", "rectified", "closed"], n),
            "source": rng.choice(["grid_worker", "public", "inspection"], n),
            "title": "电动车室内充电",
            "published": rng.random(n) < 0.5,
            "reporter_name": "张伟",
            "reported_at": "2025-06-01T08:00:00+00:00",
        }, geometry=shapely.points(lon, lat), crs=4326), grids=grids)
        print(f"  hazards {start + n:,}", flush=True)
    for start in range(0, buildings, chunk):
        n = min(chunk, buildings - start)
        x, y = _positions(rng, n, towns)
        copy_frame(conn, "building", gpd.GeoDataFrame({
            "use": rng.choice(["residential", "commercial", "industrial", "other"], n),
            "floors": rng.integers(1, 33, n),
            "height_m": rng.uniform(3, 100, n).round(1),
        }, geometry=_footprints(rng, x, y), crs=4326), grids=grids)
        print(f"  buildings {start + n:,}", flush=True)


def ensure_data(url: str, *, hazards: int, buildings: int) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        have = conn.execute("SELECT (SELECT count(*) FROM firetwin.hazard), "
                            "(SELECT count(*) FROM firetwin.building)").fetchone()
        if have[0] < hazards or have[1] < buildings:
            print(f"filling {DB_NAME}: {hazards:,} hazards, {buildings:,} buildings", flush=True)
            t0 = time.perf_counter()
            fill(conn, hazards=hazards, buildings=buildings)
            conn.commit()
            print(f"  loaded in {time.perf_counter() - t0:.0f} s", flush=True)
        conn.execute("ANALYZE firetwin.hazard")
        conn.execute("ANALYZE firetwin.building")
        conn.commit()
        row = conn.execute("SELECT (SELECT count(*) FROM firetwin.hazard), "
                           "(SELECT count(*) FROM firetwin.building)").fetchone()
    return {"hazards": row[0], "buildings": row[1]}


def sample_tiles(url: str, *, per_zoom: int, seed: int = 11) -> list[tuple[int, int, int]]:
    """Distinct tiles z12–z16 under randomly drawn hazards (so, where the data are)."""
    with psycopg.connect(url) as conn:
        pts = conn.execute(
            "SELECT ST_X(geom), ST_Y(geom) FROM firetwin.hazard TABLESAMPLE SYSTEM (1) "
            "REPEATABLE (%s) LIMIT 5000", (seed,)).fetchall()
    rng = random.Random(seed)  # noqa: S311 - sampling, not security
    out: list[tuple[int, int, int]] = []
    for z in ZOOMS:
        n = 1 << z
        seen: set[tuple[int, int]] = set()
        for lon, lat in rng.sample(pts, len(pts)):
            x = int((lon + 180) / 360 * n)
            y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
            seen.add((x, y))
            if len(seen) >= per_zoom:
                break
        out += [(z, x, y) for x, y in sorted(seen)]
    return out


# ----------------------------------------------------------------------------- measuring


def _stats(latencies: list[float], seconds: float, statuses: Counter, nbytes: int) -> dict:
    lat = sorted(latencies)
    return {
        "requests": len(lat),
        "seconds": round(seconds, 3),
        "requests_per_s": round(len(lat) / seconds, 1),
        "median_ms": round(statistics.median(lat) * 1000, 2),
        "p95_ms": round(lat[int(0.95 * (len(lat) - 1))] * 1000, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "bytes": nbytes,
    }


#: The session settings of FireTwin's tile pool (tiles.service.TileService.open).
TILE_SESSION = "-c max_parallel_workers_per_gather=0 -c default_transaction_read_only=on"


def in_zoom_jobs(tiles: list[tuple[int, int, int]]) -> list[tuple[str, tuple[int, int, int]]]:
    """(layer, tile) pairs inside each layer's zoom range: the work every contender gets."""
    return [(layer, t) for t in tiles for layer in LAYERS
            if BY_ID[layer].minzoom <= t[0] <= BY_ID[layer].maxzoom]


async def run_floor(url: str, tiles: list[tuple[int, int, int]], *, repeat: int = 1,
                    options: str = TILE_SESSION) -> dict:
    """The SQL FireTwin runs, prepared, binary, straight from psycopg: no HTTP, no Python."""
    settings = MVTSettings()
    jobs = in_zoom_jobs(tiles) * repeat
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True, options=options)
             for _ in range(CONCURRENCY)]
    queries = {(layer, z): build_tile_query(BY_ID[layer], Scope.everything(), z,
                                            settings=settings)
               for layer in LAYERS for z in ZOOMS}
    latencies: list[float] = []
    statuses: Counter = Counter()
    nbytes = 0
    it = iter(jobs)

    async def worker(conn: psycopg.AsyncConnection) -> None:
        nonlocal nbytes
        for layer, (z, x, y) in it:
            t0 = time.perf_counter()
            cur = await conn.execute(queries[layer, z], tile_params(z, x, y, settings),
                                     prepare=True, binary=True)
            data = bytes((await cur.fetchone())[0])
            latencies.append(time.perf_counter() - t0)
            statuses[200 if data else 204] += 1
            nbytes += len(data)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    seconds = time.perf_counter() - t0
    for c in conns:
        await c.close()
    return _stats(latencies, seconds, statuses, nbytes)


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, for loopback load.

    httpx spends a few hundred microseconds of CPU per request, as much as a cached tile costs
    the server, so on two shared cores it, not the server, would set the pace.
    """

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        host_port = base.split("://", 1)[1]
        self.host, port = host_port.split(":")
        self.port = int(port)
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.head}\r\n"
                          .encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip()
                  for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = b""
        if status in (204, 304) or status < 200:
            pass
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def run_http(base: str, paths: list[str], *, headers: dict[str, str] | None = None,
                   repeat: int = 1, client: str = "raw") -> dict:
    """``CONCURRENCY`` clients taking requests from one list; ``client`` is raw or httpx."""
    jobs = paths * repeat
    hdrs = {"Accept-Encoding": "identity", **(headers or {})}
    latencies: list[float] = []
    statuses: Counter = Counter()
    nbytes = 0
    it = iter(jobs)

    async def drive(get) -> None:
        nonlocal nbytes
        for path in it:
            t0 = time.perf_counter()
            status, body = await get(path)
            latencies.append(time.perf_counter() - t0)
            statuses[status] += 1
            nbytes += len(body)

    if client == "raw":
        clients = [RawClient(base, hdrs) for _ in range(CONCURRENCY)]
        t0 = time.perf_counter()
        await asyncio.gather(*(drive(c.get) for c in clients))
        seconds = time.perf_counter() - t0
        for c in clients:
            await c.close()
    else:
        limits = httpx.Limits(max_connections=CONCURRENCY,
                              max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120,
                                     headers=hdrs) as hx:

            async def get(path: str) -> tuple[int, bytes]:
                r = await hx.get(path)
                return r.status_code, r.content

            t0 = time.perf_counter()
            await asyncio.gather(*(drive(get) for _ in range(CONCURRENCY)))
            seconds = time.perf_counter() - t0
    return _stats(latencies, seconds, statuses, nbytes)


_WRK_LUA = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local n = 0
setup = function(thread) n = n + 1; thread:set("start", n * 37) end
init = function(args) i = start or 0 end
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %.1f %.1f\\n", summary.requests,
    summary.duration, summary.bytes, summary.errors.status,
    latency:percentile(50), latency:percentile(95)))
end
"""


def run_wrk(base: str, paths: list[str], *, headers: dict[str, str] | None = None,
            seconds: float = 8.0) -> dict:
    """``CONCURRENCY`` keep-alive connections from wrk (C, one thread) cycling over ``paths``.

    At thousands of requests/s a Python client spends as much CPU per request as the cached
    server does, on the same two cores; wrk spends a few microseconds.
    """
    import tempfile

    hdrs = {"Accept-Encoding": "identity", **(headers or {})}
    lua_headers = "headers = {" + ", ".join(f'["{k}"] = "{v}"' for k, v in hdrs.items()) + "}\n"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "paths.txt").write_text("\n".join(paths) + "\n")
        (Path(tmp) / "bench.lua").write_text(lua_headers + _WRK_LUA)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{round(seconds)}s", "-s", f"{tmp}/bench.lua", base],
            env={**os.environ, "BENCH_PATHS": f"{tmp}/paths.txt"},
            capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    requests, duration_us, nbytes, bad, p50_us, p95_us = line.split()[1:]
    secs = int(duration_us) / 1e6
    return {"requests": int(requests), "seconds": round(secs, 3),
            "requests_per_s": round(int(requests) / secs, 1),
            "median_ms": round(float(p50_us) / 1000, 2), "p95_ms": round(float(p95_us) / 1000, 2),
            "non_2xx_3xx": int(bad), "bytes": int(nbytes), "client": "wrk"}


def measure_cached(base: str, paths: list[str], *, headers: dict[str, str] | None = None,
                   repeat: int) -> dict:
    """Cached throughput: wrk when installed, else the asyncio RawClient (said in the row)."""
    if shutil.which("wrk"):
        return run_wrk(base, paths, headers=headers, seconds=max(4.0, repeat * 0.4))
    row = asyncio.run(run_http(base, paths, headers=headers, repeat=repeat))
    return {**row, "client": "RawClient (python)"}


@contextlib.contextmanager
def server(app: str, env: dict[str, str], health: str, *, workers: int = 1,
           factory: bool = False) -> Iterator[str]:
    """A uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
           "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
           "--workers", str(workers), *(["--factory"] if factory else [])]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                msg = f"{app} did not start on {base}"
                raise RuntimeError(msg)
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def ceiling_app() -> FastAPI:
    """The framework's ceiling: the same route shape answering fixed bytes, no cache, no SQL."""
    body = b"\x1a" * int(os.environ.get("BENCH_BODY_BYTES", "10000"))
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/tiles/{layer_id}/{z}/{x}/{y}.{fmt}")
    async def tile(layer_id: str, z: str, x: str, y: str, fmt: str) -> Response:
        return Response(body, media_type="application/vnd.mapbox-vector-tile")

    return app


def firetwin_paths(tiles: list[tuple[int, int, int]]) -> list[str]:
    return [f"/tiles/{layer}/{z}/{x}/{y}.mvt" for z, x, y in tiles for layer in LAYERS]


def tipg_paths(tiles: list[tuple[int, int, int]]) -> list[str]:
    out = []
    for z, x, y in tiles:
        for layer in LAYERS:
            la = BY_ID[layer]
            if not la.minzoom <= z <= la.maxzoom:
                continue  # tipg has no per-layer zoom range; FireTwin answers 204 without SQL
            props = ",".join(la.field_names)
            out.append(f"/collections/layers.{la.view}/tiles/WebMercatorQuad/{z}/{x}/{y}"
                       f"?properties={props}")
    return out


async def simplification(url: str, tiles: list[tuple[int, int, int]]) -> dict:
    """Bytes and features of building tiles with and without ST_Simplify (1 px)."""
    import mapbox_vector_tile

    out = {"tiles": 0, "bytes_plain": 0, "bytes_simplified": 0, "features_plain": 0,
           "features_simplified": 0}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        from tiles.mvt import get_tile

        for z, x, y in tiles:
            if z < BY_ID["buildings"].minzoom:
                continue
            a = await get_tile(conn, BY_ID["buildings"], z, x, y, scope=Scope.everything(),
                               settings=MVTSettings(simplify_px=0))
            b = await get_tile(conn, BY_ID["buildings"], z, x, y, scope=Scope.everything(),
                               settings=MVTSettings())
            out["tiles"] += 1
            out["bytes_plain"] += len(a)
            out["bytes_simplified"] += len(b)
            for key, data in (("features_plain", a), ("features_simplified", b)):
                if data:
                    out[key] += len(mapbox_vector_tile.decode(data)["buildings"]["features"])
    out["bytes_saved_pct"] = round(100 * (1 - out["bytes_simplified"] / out["bytes_plain"]), 1)
    return out


# ----------------------------------------------------------------------------- main


def run(*, hazards: int, buildings: int, per_zoom: int, cached_repeat: int,
        uncached_rounds: int, fresh: bool) -> dict:
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    url = bench_database(DB_NAME, fresh=fresh)
    counts = ensure_data(url, hazards=hazards, buildings=buildings)
    tiles = sample_tiles(url, per_zoom=per_zoom)
    all_paths = firetwin_paths(tiles)  # cached runs: every layer at every tile (204s included)
    paths = [f"/tiles/{layer}/{z}/{x}/{y}.mvt" for layer, (z, x, y) in in_zoom_jobs(tiles)]
    print(f"{len(tiles)} tiles z{ZOOMS[0]}–z{ZOOMS[-1]}, {len(paths)} requests per pass",
          flush=True)
    results: dict[str, dict] = {}

    token = mint_token(SECRET, user_id=ADMIN_ID, role="admin")
    admin = {"Authorization": f"Bearer {token}"}
    env = {"FIRETWIN_DATABASE_URL": url, "FIRETWIN_SECRET_KEY": SECRET,
           # room for the admin and the public copies of every sampled tile (~200 MB)
           "FIRETWIN_TILES_CACHE_BYTES": str(512 * 1024 * 1024)}
    tipg_env = {
        "DATABASE_URL": url,
        "TIPG_DB_SCHEMAS": '["layers"]',
        "TIPG_DB_ONLY_SPATIAL_TABLES": "true",
        "TIPG_MAX_FEATURES_PER_TILE": str(MVTSettings().max_features),
        "TIPG_TILE_BUFFER": str(MVTSettings().buffer),
        "TIPG_CATALOG_TTL": "0",
    }
    tpaths = tipg_paths(tiles)
    # Uncached: the same (layer, tile) list, in the same order, for every contender; the
    # contenders take turns, round after round, so drift on the machine hits them alike.
    rounds: dict[str, list[dict]] = {k: [] for k in (
        "floor (psycopg, same SQL and session)", "floor, default session settings",
        "FireTwin uncached", "tipg")}
    with server("services.main:app", {**env, "FIRETWIN_TILES_CACHE_BYTES": "0"},
                "/health") as fbase, server("tipg.main:app", tipg_env, "/healthz") as tbase:
        asyncio.run(run_floor(url, tiles))  # warm PostgreSQL's buffers for everyone
        asyncio.run(run_http(fbase, paths[:50], headers=admin))
        asyncio.run(run_http(tbase, tpaths[:50]))
        for i in range(uncached_rounds):
            rounds["floor (psycopg, same SQL and session)"].append(
                asyncio.run(run_floor(url, tiles)))
            rounds["FireTwin uncached"].append(
                asyncio.run(run_http(fbase, paths, headers=admin)))
            rounds["tipg"].append(asyncio.run(run_http(tbase, tpaths)))
            rounds["floor, default session settings"].append(
                asyncio.run(run_floor(url, tiles, options="")))
            print(f"  uncached round {i + 1}/{uncached_rounds} done", flush=True)
    for name, runs in rounds.items():
        best = sorted(runs, key=lambda r: r["requests_per_s"])[len(runs) // 2]
        results[name] = {**best, "rounds_requests_per_s": [r["requests_per_s"] for r in runs]}
    floor_rounds = rounds["floor (psycopg, same SQL and session)"]
    ratios = {
        "FireTwin/floor": [round(f["requests_per_s"] / b["requests_per_s"], 2)
                           for f, b in zip(rounds["FireTwin uncached"], floor_rounds,
                                           strict=True)],
        "FireTwin/tipg": [round(f["requests_per_s"] / t["requests_per_s"], 2)
                          for f, t in zip(rounds["FireTwin uncached"], rounds["tipg"],
                                          strict=True)],
    }

    with server("services.main:app", env, "/health") as base:
        asyncio.run(run_http(base, all_paths, headers=admin))  # fill the cache
        asyncio.run(run_http(base, all_paths))
        results["FireTwin cached"] = measure_cached(base, all_paths, headers=admin,
                                                    repeat=cached_repeat)
        results["FireTwin cached, public"] = measure_cached(base, all_paths,
                                                            repeat=cached_repeat)
        row = asyncio.run(run_http(base, all_paths, repeat=cached_repeat // 4 or 1))
        results["FireTwin cached, public, python RawClient"] = {**row, "client": "RawClient"}
    print("  FireTwin cached done", flush=True)
    with server("services.main:app", env, "/health", workers=2) as base:
        for _ in range(10):  # each worker fills its own cache (connections land at random)
            asyncio.run(run_http(base, all_paths, headers=admin))
            asyncio.run(run_http(base, all_paths))
        results["FireTwin cached, 2 workers"] = measure_cached(
            base, all_paths, headers=admin, repeat=cached_repeat)
        results["FireTwin cached, public, 2 workers"] = measure_cached(
            base, all_paths, repeat=cached_repeat)
    body = results["FireTwin cached, public"]["bytes"] // results["FireTwin cached, public"][
        "requests"]
    with server("bench.tiles:ceiling_app", {"BENCH_BODY_BYTES": str(body)}, "/health",
                factory=True) as base:
        asyncio.run(run_http(base, all_paths[:50]))
        results["FastAPI ceiling (fixed bytes)"] = measure_cached(base, all_paths,
                                                                  repeat=cached_repeat)
    print("  cached done", flush=True)
    simp = asyncio.run(simplification(url, tiles))

    floor = results["floor (psycopg, same SQL and session)"]
    for r in results.values():
        r["rps_vs_floor"] = round(r["requests_per_s"] / floor["requests_per_s"], 2)
    tipg = results["tipg"]
    unc = results["FireTwin uncached"]
    cached = results["FireTwin cached"]
    pub = results["FireTwin cached, public"]
    summary = (
        f"{counts['hazards']:,} hazards + {counts['buildings']:,} buildings, {len(tiles)} tiles "
        f"z12-z16 ({len(paths)} layer tiles in zoom range), 8 concurrent clients on "
        f"{os.cpu_count()} cores, {uncached_rounds} alternating rounds (median round shown): "
        f"FireTwin uncached {unc['requests_per_s']:.0f} req/s (median {unc['median_ms']} ms, "
        f"p95 {unc['p95_ms']} ms) vs tipg {tipg['requests_per_s']:.0f} req/s (median "
        f"{tipg['median_ms']} ms, p95 {tipg['p95_ms']} ms) vs bare SQL "
        f"{floor['requests_per_s']:.0f} req/s (median {floor['median_ms']} ms, p95 "
        f"{floor['p95_ms']} ms); per round FireTwin/floor {ratios['FireTwin/floor']}, "
        f"FireTwin/tipg {ratios['FireTwin/tipg']}. Cached ({cached.get('client', 'RawClient')} "
        f"client): {cached['requests_per_s']:.0f} req/s signed-in, {pub['requests_per_s']:.0f} "
        f"req/s public (median {pub['median_ms']} ms, p95 {pub['p95_ms']} ms); 2 workers "
        f"{results['FireTwin cached, 2 workers']['requests_per_s']:.0f} / "
        f"{results['FireTwin cached, public, 2 workers']['requests_per_s']:.0f} req/s; every "
        f"answer checked against the change log (a bare FastAPI route answering the same "
        f"bytes: {results['FastAPI ceiling (fixed bytes)']['requests_per_s']:.0f} req/s; load "
        f"average {load_before[0]:.1f} before). Simplification saves "
        f"{simp['bytes_saved_pct']} % of building-tile bytes "
        f"with {simp['features_simplified']:,} of {simp['features_plain']:,} features kept."
    )
    return {
        "command": ".venv/bin/python -m bench.tiles"
                   + (f" --hazards {hazards}" if hazards != 1_000_000 else "")
                   + (f" --buildings {buildings}" if buildings != 1_000_000 else ""),
        "summary": summary,
        "counts": counts,
        "tiles": len(tiles),
        "zooms": list(ZOOMS),
        "layers": list(LAYERS),
        "concurrency": CONCURRENCY,
        "note": ("uncached: floor, FireTwin and tipg get the same layer tiles (inside each "
                 "layer's zoom range) in the same order, one pass per round, rounds "
                 "alternating; the floor runs FireTwin's SQL with FireTwin's tile-pool session "
                 "settings (no parallel workers), and once more with the server defaults. "
                 "tipg's layer is named 'default'. Cached: wrk for a fixed time over every "
                 "layer at every tile (204s outside a layer's zoom range included)."),
        "ratios_per_round": ratios,
        "results": results,
        "simplification": simp,
        "client": ("uncached: a minimal asyncio HTTP/1.1 keep-alive client (RawClient); cached: "
                   "wrk (1 thread, 8 connections) when installed, else RawClient; the RawClient "
                   "row shows the same cached server paced by a Python client"),
        "load_average_before_after": [round(load_before[0], 2),
                                      round(os.getloadavg()[0], 2)],
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }


def print_table(result: dict) -> None:
    rows = result["results"]
    floor = rows["floor (psycopg, same SQL and session)"]["requests_per_s"]
    tipg = rows["tipg"]["requests_per_s"]
    print(f"\n{'':38} {'req/s':>9} {'median ms':>10} {'p95 ms':>9} {'× floor':>8} {'× tipg':>8}")
    for name, r in rows.items():
        print(f"{name[:38]:38} {r['requests_per_s']:9.1f} {r['median_ms']:10.2f} "
              f"{r['p95_ms']:9.2f} "
              f"{r['requests_per_s'] / floor:8.2f} {r['requests_per_s'] / tipg:8.2f}")
    print("\n" + result["summary"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hazards", type=int, default=1_000_000)
    p.add_argument("--buildings", type=int, default=1_000_000)
    p.add_argument("--tiles-per-zoom", type=int, default=40)
    p.add_argument("--cached-repeat", type=int, default=20)
    p.add_argument("--uncached-rounds", type=int, default=3)
    p.add_argument("--fresh", action="store_true", help="drop and rebuild the benchmark database")
    a = p.parse_args()
    result = run(hazards=a.hazards, buildings=a.buildings, per_zoom=a.tiles_per_zoom,
                 cached_repeat=a.cached_repeat, uncached_rounds=a.uncached_rounds, fresh=a.fresh)
    path = write_result("tiles", result)
    print_table(result)
    print(f"\nwritten {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
