"""Mixed load on several API workers over one database (`python -m bench.load [--duration 600]`).

In database ``firetwin_bench_load`` (the demo district, generated fresh: 5,621 units, 25k
hazards, 3,266 sensors, 1,858 users) FireTwin runs under gunicorn with ``--workers`` uvicorn
workers (2 by default; each with its own pool, tile cache and background tasks, all on the one
database), and locust (headless, its own process: ``bench/locustfile.py``) plays for
``--duration`` seconds (600 by default):

* 10 dispatchers: vector tiles, hazard items (REST and OGC API Features with a bbox), nearest
  stations with routes, a truck route; an action every 1–3 s each;
* 20 patrollers: their routed patrol list for today once, then a GPS check-in at one of their
  units every 5–15 s;
* 10 gateways posting signed readings over HTTP (``POST /api/sensors/readings``), 50 a batch,
  2 batches/s each: 1,000 readings/s.

Reported: requests, p50/p99 and errors per endpoint (locust's numbers: the client's view,
queueing included), the readings stored per second (rows counted in the database), and the
resident memory (RSS) of every worker at the start (after a 30 s warm-up) and at the end.
Results: ``bench/results/load.json``. The load generator shares the machine's cores with the
workers and PostgreSQL. Run it under ``flock /tmp/firetwin-bench.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from bench.common import bench_database, free_port, write_result
from gis import demo
from gis.demo.sensors import VALUES
from services.auth import mint_token

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "firetwin_bench_load"
SECRET = "bench-load-secret-key-not-for-production-0123456789"  # noqa: S105 - loopback only
USERS = {"dispatcher": 10, "patroller": 20, "gateway": 10}
BATCH, GATEWAY_RATE = 50, 2.0  # readings per batch, batches per second per gateway
TILE_LAYERS = ("hazards", "units", "buildings", "roads", "sensors", "stations")
WARMUP_S = 30.0
P99_GOAL_MS = 500


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def plan(url: str, *, seed: int = 11) -> dict:
    """Who the simulated users are (real demo users, tokens signed with ``SECRET``) and where."""
    rng = random.Random(seed)  # noqa: S311 - load shape
    with psycopg.connect(url) as conn:
        points = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM firetwin.unit "
                              "ORDER BY id").fetchall()
        dispatchers = conn.execute("SELECT id FROM firetwin.app_user WHERE role = 'dispatcher' "
                                   "ORDER BY id").fetchall()
        workers = conn.execute(
            "SELECT u.id, array_agg(g.grid_id) FROM firetwin.app_user u JOIN firetwin.user_grid "
            "g ON g.user_id = u.id WHERE u.role = 'grid_worker' GROUP BY u.id ORDER BY u.id"
        ).fetchall()
        patrollers = []
        for uid, grids in workers:
            units = conn.execute("SELECT id, ST_X(geom), ST_Y(geom) FROM firetwin.unit "
                                 "WHERE grid_id = ANY(%s) ORDER BY id LIMIT 40",
                                 (grids,)).fetchall()
            if len(units) >= 5:
                patrollers.append({"token": mint_token(SECRET, user_id=uid, role="grid_worker"),
                                   "units": [list(u) for u in units]})
            if len(patrollers) == USERS["patroller"]:
                break
        sensors = conn.execute("SELECT code, kind, device_key_hash FROM firetwin.sensor WHERE "
                               "device_key_hash IS NOT NULL AND kind <> 'ebike_charging' "
                               "ORDER BY id").fetchall()
    pts = rng.sample(points, min(2000, len(points)))
    tiles = set()
    while len(tiles) < 300:
        lon, lat = rng.choice(pts)
        z = rng.choice((13, 14, 15, 16))
        tiles.add((rng.choice(TILE_LAYERS), z, *_tile(lon, lat, z)))
    return {
        "users": USERS, "batch": BATCH, "gateway_rate": GATEWAY_RATE,
        "points": [[round(x, 6), round(y, 6)] for x, y in pts],
        "tiles": sorted(tiles),
        "dispatchers": [mint_token(SECRET, user_id=u, role="dispatcher")
                        for (u,) in dispatchers[:USERS["dispatcher"]]],
        "patrollers": patrollers,
        "sensors": [{"code": c, "key": k, "normal": list(VALUES[kind][:2])}
                    for c, kind, k in sensors],
    }


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's worker processes."""
    out = []
    for task in Path(f"/proc/{master}/task").iterdir():
        out += [int(p) for p in (task / "children").read_text().split()]
    return sorted(out)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@contextmanager
def gunicorn(url: str, workers: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """FireTwin under gunicorn with uvicorn workers on a free loopback port."""
    port = free_port()
    env = {**os.environ, "FIRETWIN_DATABASE_URL": url, "FIRETWIN_SECRET_KEY": SECRET,
           "FIRETWIN_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "services.main:app", "--workers", str(workers),
         "--worker-class", "uvicorn_worker.UvicornWorker", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "--timeout", "120", "--graceful-timeout", "20"],
        cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200 and len(
                        worker_pids(proc.pid)) == workers:
                    break
            except (httpx.HTTPError, OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                msg = f"gunicorn did not start on {base}"
                raise RuntimeError(msg)
            time.sleep(0.5)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _readings(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM firetwin.sensor_reading").fetchone()[0]


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "N/A" when an endpoint saw no request
        return 0.0


def _stats(prefix: str) -> dict[str, dict]:
    """Per-endpoint figures from locust's ``<prefix>_stats.csv``."""
    out = {}
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[row["Name"]] = {
                "requests": int(row["Request Count"]), "errors": int(row["Failure Count"]),
                "rps": round(_num(row["Requests/s"]), 1), "p50_ms": _num(row["50%"]),
                "p99_ms": _num(row["99%"]), "max_ms": round(_num(row["Max Response Time"]))}
    return out


def _failures(prefix: str) -> list[dict]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [{"endpoint": r["Name"], "error": r["Error"][:300],
                 "occurrences": int(r["Occurrences"])} for r in csv.DictReader(fh)]


def run(*, duration: float, workers: int) -> dict:
    url = bench_database(DB_NAME, fresh=True)
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        counts = demo.generate(conn, seed=42, scale=1.0)
    print(f"demo district in {time.perf_counter() - t0:.0f} s", flush=True)
    the_plan = plan(url)
    with tempfile.TemporaryDirectory(prefix="firetwin-load-") as tmp:
        plan_path = Path(tmp) / "plan.json"
        plan_path.write_text(json.dumps(the_plan))
        prefix = str(Path(tmp) / "locust")
        with gunicorn(url, workers) as (base, master):
            pids = worker_pids(master.pid)
            samples: list[tuple[float, dict[int, float]]] = []
            stop = threading.Event()

            def sample() -> None:
                start = time.monotonic()
                while not stop.wait(10.0):
                    samples.append((time.monotonic() - start,
                                    {p: rss_mb(p) for p in worker_pids(master.pid)}))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            rows0 = _readings(url)
            cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
                   "--headless", "--host", base, "--users", str(sum(USERS.values())),
                   "--spawn-rate", "20", "--run-time", f"{int(duration)}s", "--stop-timeout",
                   "10", "--csv", prefix, "--only-summary", "--loglevel", "WARNING",
                   "--exit-code-on-error", "0"]
            t_start = time.monotonic()
            locust = subprocess.run(cmd, cwd=ROOT, env={**os.environ,
                                                        "FIRETWIN_LOAD_PLAN": str(plan_path)},
                                    check=False, capture_output=True, text=True)
            elapsed = time.monotonic() - t_start
            rows1 = _readings(url)
            stop.set()
            sampler.join()
            end_pids = worker_pids(master.pid)
            rss_end = {p: rss_mb(p) for p in end_pids}
        if locust.returncode != 0:
            print(locust.stdout[-3000:], locust.stderr[-3000:])
            msg = f"locust exited with {locust.returncode}"
            raise RuntimeError(msg)
        endpoints = _stats(prefix)
        failures = _failures(prefix)
    after_warmup = next((s for t, s in samples if t >= WARMUP_S), samples[0][1] if samples else {})
    memory = {str(p): {"start_mb": after_warmup.get(p), "end_mb": rss_end.get(p),
                       "max_mb": max((s.get(p, 0.0) for _, s in samples), default=None)}
              for p in sorted(set(pids) | set(end_pids))}
    total = endpoints.pop("Aggregated")
    growth = [m["end_mb"] - m["start_mb"] for m in memory.values()
              if m["start_mb"] is not None and m["end_mb"] is not None]
    readings_per_s = round((rows1 - rows0) / elapsed)
    worst = max(endpoints.items(), key=lambda kv: kv[1]["p99_ms"])
    over = sorted(name for name, e in endpoints.items() if e["p99_ms"] > P99_GOAL_MS)
    summary = (f"{workers} gunicorn/uvicorn workers, {sum(USERS.values())} locust users, "
               f"{int(duration)} s on {os.cpu_count()} cores: {total['rps']} req/s, "
               f"{total['errors']} errors of {total['requests']:,}; readings stored "
               f"{readings_per_s}/s; p99 worst {worst[1]['p99_ms']:.0f} ms ({worst[0]}); "
               f"p99 ≤ {P99_GOAL_MS} ms {'met' if not over else 'missed on ' + ', '.join(over)}; "
               f"worker RSS growth {', '.join(f'{g:+.0f}' for g in growth)} MB after warm-up → end")
    result = {
        "command": f"flock /tmp/firetwin-bench.lock .venv/bin/python -m bench.load "
                   f"--duration {int(duration)} --workers {workers}",
        "summary": summary, "duration_s": round(elapsed, 1), "workers": workers,
        "users": USERS, "readings_target_per_s": int(USERS["gateway"] * GATEWAY_RATE * BATCH),
        "readings_stored_per_s": readings_per_s, "total": total, "endpoints": endpoints,
        "failures": failures, "p99_goal_ms": P99_GOAL_MS, "over_goal": over,
        "worker_rss_mb": memory, "rss_samples_mb": [[round(t), s] for t, s in samples],
        "counts": counts,
    }
    write_result("load", result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=600.0, help="seconds of load (600)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    a = p.parse_args()
    r = run(duration=a.duration, workers=a.workers)
    print(f"\n{'endpoint':42} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'errors':>7}")
    for name, e in sorted(r["endpoints"].items()):
        print(f"{name:42} {e['requests']:>9,} {e['rps']:>7} {e['p50_ms']:>7.0f} "
              f"{e['p99_ms']:>7.0f} {e['max_ms']:>7} {e['errors']:>7}")
    t = r["total"]
    print(f"{'all':42} {t['requests']:>9,} {t['rps']:>7} {t['p50_ms']:>7.0f} {t['p99_ms']:>7.0f} "
          f"{t['max_ms']:>7} {t['errors']:>7}")
    print(f"\nreadings stored: {r['readings_stored_per_s']}/s "
          f"(target {r['readings_target_per_s']}/s)")
    for pid, m in r["worker_rss_mb"].items():
        print(f"worker {pid}: RSS {m['start_mb']} MB after warm-up → {m['end_mb']} MB at the end "
              f"(max {m['max_mb']})")
    for f in r["failures"][:10]:
        print(f"failure: {f['endpoint']}: {f['occurrences']}× {f['error']}")
    print(r["summary"])


if __name__ == "__main__":
    main()
