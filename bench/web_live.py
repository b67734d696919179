"""500 live alarms a minute into the one-map without the page falling behind
(`python -m bench.web_live`).

On the demo district (database ``firetwin_bench_web``, loaded by ``bench.web`` if empty), one
FireTwin server (uvicorn, own process, real-time clock) and Debian's chromium (Playwright) with
the one-map open as the district admin. A gateway posts one signed ``alarm`` reading of a
different demo sensor every 60/rate s (``POST /api/sensors/readings``: stored, the alarm rules
raise the alarm, a red hazard is opened, ``NOTIFY``) for ``--seconds``. The page gets each
alarm over the SSE stream (``GET /api/live/alarms``) and puts it in the live panel; a
MutationObserver in the page records when each alarm's row appeared.

Measured per alarm: post sent → row in the page (wall clock, same machine); the page keeps up if
every alarm shows, the latency stays flat (last 10 s vs first 10 s) and p95 stays under 2 s.
The sensors are set back to normal afterwards (not measured), so the run can be repeated.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime

import httpx
import psycopg

from bench.common import bench_database, write_result
from bench.web import CHROMIUM_ARGS, DB, _open, _users, serve
from gis import demo
from services.auth import mint_token
from services.iot.messages import device_key, sign

GOAL_P95_MS = 2000


def _sensors(url: str, n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` demo sensors not in alarm or fault, with their HMAC keys (the demo's secrets)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT code FROM firetwin.sensor WHERE status NOT IN ('alarm', 'fault') "
            "AND kind IN ('smoke', 'gas', 'residual_current', 'cable_temperature') "
            "AND grid_id IS NOT NULL ORDER BY id LIMIT %s", (n,)).fetchall()
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} demo sensors can raise an alarm (need {n})")
    return [(c, device_key(f"firetwin-demo:{seed}:{c}")) for (c,) in rows]


def _reading(code: str, key: bytes, state: str, n: int) -> dict:
    return sign({"sensor": code, "msg_id": f"live-{state}-{n}-{time.time_ns()}",
                 "state": state, "value": 1.0 if state == "alarm" else 0.0,
                 "ts": datetime.now(UTC).isoformat()}, key)


OBSERVER = """() => {
    const seen = window.__alarmSeen = {};
    new MutationObserver((muts) => {
        const t = Date.now();
        for (const m of muts) for (const n of m.addedNodes) {
            if (n.dataset && n.dataset.kind === 'alarm') {
                const item = window.firetwin.live.items.find(i => i.key === n.dataset.key);
                const code = item && item.code;
                if (code && !(code in seen)) seen[code] = t;
            }
        }
    }).observe(document.getElementById('live-list'), {childList: true});
}"""


def run(*, rate_per_min: int = 500, seconds: int = 60, seed: int = 42) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("FIRETWIN_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        raise SystemExit("Debian's chromium is missing: run scripts/install-system.sh")
    url = bench_database(DB)
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT count(*) FROM firetwin.road_edge").fetchone()[0] == 0:
            demo.generate(conn, seed=seed, scale=1.0)
            conn.commit()
    n = rate_per_min * seconds // 60
    sensors = _sensors(url, n, seed)
    secret = secrets.token_hex(32)
    admin = _users(url)["admin"]
    token = mint_token(secret, user_id=admin[0], role=admin[1])
    interval = 60.0 / rate_per_min
    sent: dict[str, float] = {}
    with serve(url, secret, clock=False) as base, sync_playwright() as p, \
            httpx.Client(base_url=base, timeout=30) as http:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        ctx, page = _open(browser, base, "/", token=token)
        page.wait_for_function("window.firetwin && window.firetwin.live && "
                               "window.firetwin.live.mode === 'sse+poll'", timeout=120_000)
        page.evaluate(OBSERVER)
        time.sleep(1.0)
        t0 = time.monotonic()
        for i, (code, key) in enumerate(sensors):
            delay = t0 + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[code] = time.time() * 1000
            r = http.post("/api/sensors/readings", json=[_reading(code, key, "alarm", i)])
            if r.status_code != 200:
                raise SystemExit(f"reading {code} refused: {r.status_code} {r.text[:200]}")
        post_s = time.monotonic() - t0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen = page.evaluate("Object.keys(window.__alarmSeen).length")
            if seen >= n:
                break
            time.sleep(0.25)
        seen_at = page.evaluate("window.__alarmSeen")
        live_items = page.evaluate("window.firetwin.live.items.length")
        errors = page.evaluate("window.firetwin.errors")
        ctx.close()
        browser.close()
        for i, (code, key) in enumerate(sensors):  # back to normal for the next run
            http.post("/api/sensors/readings", json=[_reading(code, key, "normal", i)])
    order = [c for c, _ in sensors]
    lat = [seen_at[c] - sent[c] for c in order if c in seen_at]
    first = [seen_at[c] - sent[c] for c in order[: rate_per_min // 6] if c in seen_at]
    last = [seen_at[c] - sent[c] for c in order[-(rate_per_min // 6):] if c in seen_at]
    q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else [float("nan")] * 19
    out = {
        "rate_per_min": rate_per_min, "seconds": seconds, "alarms_sent": n,
        "posting_s": round(post_s, 2), "alarms_shown": len(lat), "live_items": live_items,
        "latency_ms": {"p50": round(statistics.median(lat), 1), "p95": round(q[18], 1),
                       "max": round(max(lat), 1)},
        "first_10s_median_ms": round(statistics.median(first), 1),
        "last_10s_median_ms": round(statistics.median(last), 1),
        "page_errors": errors, "load_avg": os.getloadavg(),
    }
    ok = (len(lat) == n and out["latency_ms"]["p95"] < GOAL_P95_MS
          and out["last_10s_median_ms"] < 2 * max(out["first_10s_median_ms"], 250))
    out["summary"] = (f"{n} alarms in {post_s:.0f} s ({rate_per_min}/min): {len(lat)} shown, "
                      f"sent → row p50 {out['latency_ms']['p50']:.0f} ms, p95 "
                      f"{out['latency_ms']['p95']:.0f} ms, max {out['latency_ms']['max']:.0f} "
                      f"ms; median first 10 s {out['first_10s_median_ms']:.0f} ms vs last 10 s "
                      f"{out['last_10s_median_ms']:.0f} ms: "
                      f"{'keeps up ✓' if ok else 'falls behind ✗'}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rate", type=int, default=500, help="alarms per minute")
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--seed", type=int, default=42, help="the demo district's seed")
    a = p.parse_args()
    r = run(rate_per_min=a.rate, seconds=a.seconds, seed=a.seed)
    r["command"] = "python -m bench.web_live " + " ".join(sys.argv[1:])
    print(write_result("web_live", r))
    print(r["summary"])


if __name__ == "__main__":
    main()
