"""OGC API Features items: FireTwin (pygeoapi at /ogc) beside tipg on the same database.

``python -m bench.items`` uses database ``firetwin_bench_tiles`` (≥ 1,000,000 hazards, filled
by ``bench.tiles.ensure_data`` if needed) and measures, at 8 concurrent clients over loopback,
median/p95 latency and requests/s of

- ``limit=1000`` with a bbox (random ~1–3 km windows where the data are), and
- ``limit=1000`` with a CQL2 attribute filter (``tier = 'red' AND status <> 'closed'``),

for FireTwin (admin token: every row and field, like tipg's unfiltered views) and tipg serving
the same ``layers.hazards`` view, plus the bare SQL (psycopg, ST_AsGeoJSON + json_agg, the
floor). Both servers run side by side and the contenders alternate over ``--rounds`` rounds
(median round reported, every round's ratio kept). Results: ``bench/results/items.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from urllib.parse import quote

import psycopg

from bench.common import bench_database, write_result
from bench.tiles import (
    ADMIN_ID,
    CENTRE,
    DB_NAME,
    SECRET,
    _stats,
    ensure_data,
    run_http,
    server,
)
from services.auth import mint_token

CQL = "tier = 'red' AND status <> 'closed'"


def _windows(n: int, seed: int = 5) -> list[tuple[float, float, float, float]]:
    rng = random.Random(seed)  # noqa: S311 - sampling, not security
    out = []
    for _ in range(n):
        w = rng.uniform(0.012, 0.035)
        x = CENTRE[0] + rng.uniform(-0.12, 0.12)
        y = CENTRE[1] + rng.uniform(-0.08, 0.08)
        out.append((round(x, 5), round(y, 5), round(x + w, 5), round(y + w * 0.75, 5)))
    return out


async def _floor(url: str, windows, *, cql: bool) -> dict:
    from collections import Counter

    where = ("tier = 'red' AND status <> 'closed'" if cql
             else "geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
    q = ("SELECT json_build_object('type', 'FeatureCollection', 'features', "
         "coalesce(json_agg(json_build_object('type', 'Feature', 'id', id, 'geometry', "
         "ST_AsGeoJSON(geom)::json, 'properties', to_jsonb(t) - 'geom')), '[]'))::text "
         f"FROM (SELECT * FROM layers.hazards WHERE {where} ORDER BY id LIMIT 1000 "
         "OFFSET %s) t")
    jobs = iter(windows)
    lat: list[float] = []
    nbytes = 0

    async def drive() -> None:
        nonlocal nbytes
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for i, w in enumerate(jobs):
                t0 = time.perf_counter()
                params = (i % 5 * 1000,) if cql else (*w, 0)
                cur = await conn.execute(q, params)
                body = (await cur.fetchone())[0]
                lat.append(time.perf_counter() - t0)
                nbytes += len(body)

    t0 = time.perf_counter()
    await asyncio.gather(*(drive() for _ in range(8)))
    return _stats(lat, time.perf_counter() - t0, Counter({200: len(lat)}), nbytes)


def run(*, hazards: int, requests: int, rounds: int) -> dict:
    url = bench_database(DB_NAME)
    counts = ensure_data(url, hazards=hazards, buildings=0)
    windows = _windows(requests)
    bbox_ft = [f"/ogc/collections/hazards/items?f=json&limit=1000&bbox={','.join(map(str, w))}"
               for w in windows]
    cql_ft = [f"/ogc/collections/hazards/items?f=json&limit=1000&offset={i % 5 * 1000}"
              f"&filter={quote(CQL)}&filter-lang=cql2-text" for i in range(requests)]
    bbox_tipg = [f"/collections/layers.hazards/items?f=geojson&limit=1000&"
                 f"bbox={','.join(map(str, w))}" for w in windows]
    cql_tipg = [f"/collections/layers.hazards/items?f=geojson&limit=1000&offset={i % 5 * 1000}"
                f"&filter={quote(CQL)}&filter-lang=cql2-text" for i in range(requests)]
    results: dict[str, dict] = {}
    results["floor bbox (SQL json_agg)"] = asyncio.run(_floor(url, windows, cql=False))
    results["floor cql (SQL json_agg)"] = asyncio.run(_floor(url, windows, cql=True))
    token = mint_token(SECRET, user_id=ADMIN_ID, role="admin")
    admin = {"Authorization": f"Bearer {token}"}
    env = {"FIRETWIN_DATABASE_URL": url, "FIRETWIN_SECRET_KEY": SECRET}
    tipg_env = {"DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["layers"]',
                "TIPG_DB_ONLY_SPATIAL_TABLES": "true", "TIPG_CATALOG_TTL": "0",
                "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
    # Both servers stay up and the contenders alternate round by round, so a change in the
    # machine's load during the run falls on both alike; the median round is reported.
    contenders = {
        "FireTwin bbox": (bbox_ft, admin, "ft"), "tipg bbox": (bbox_tipg, None, "tipg"),
        "FireTwin cql": (cql_ft, admin, "ft"), "tipg cql": (cql_tipg, None, "tipg"),
    }
    per_round: dict[str, list[dict]] = {name: [] for name in contenders}
    with server("services.main:app", env, "/health") as ft, \
            server("tipg.main:app", tipg_env, "/healthz") as tipg:
        bases = {"ft": ft, "tipg": tipg}
        asyncio.run(run_http(ft, bbox_ft[:8], headers=admin))  # warm-up
        asyncio.run(run_http(tipg, bbox_tipg[:8]))
        for _ in range(rounds):
            for name, (paths, headers, who) in contenders.items():
                per_round[name].append(asyncio.run(run_http(bases[who], paths,
                                                            headers=headers)))
    for name, rs in per_round.items():
        ordered = sorted(rs, key=lambda r: r["requests_per_s"])
        results[name] = ordered[len(ordered) // 2] | {
            "rounds_requests_per_s": [r["requests_per_s"] for r in rs]}
    ratios_per_round = {
        kind: [round(f["requests_per_s"] / t["requests_per_s"], 2)
               for f, t in zip(per_round[f"FireTwin {kind}"], per_round[f"tipg {kind}"],
                               strict=True)]
        for kind in ("bbox", "cql")}
    ratio_bbox = results["FireTwin bbox"]["requests_per_s"] / results["tipg bbox"]["requests_per_s"]
    ratio_cql = results["FireTwin cql"]["requests_per_s"] / results["tipg cql"]["requests_per_s"]
    summary = (f"{counts['hazards']:,} hazards, limit=1000, 8 clients, {os.cpu_count()} cores: "
               f"bbox FireTwin {results['FireTwin bbox']['requests_per_s']} req/s vs tipg "
               f"{results['tipg bbox']['requests_per_s']} (×{ratio_bbox:.2f}); CQL2 FireTwin "
               f"{results['FireTwin cql']['requests_per_s']} vs tipg "
               f"{results['tipg cql']['requests_per_s']} (×{ratio_cql:.2f}); median of {rounds} "
               f"alternating rounds, per round bbox {ratios_per_round['bbox']}, "
               f"CQL2 {ratios_per_round['cql']}")
    result = {"command": f".venv/bin/python -m bench.items --requests {requests} "
                         f"--rounds {rounds}",
              "summary": summary, "counts": counts, "results": results,
              "ratio_vs_tipg": {"bbox": round(ratio_bbox, 2), "cql": round(ratio_cql, 2)},
              "ratios_per_round": ratios_per_round}
    write_result("items", result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hazards", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=200, help="requests per contender and round")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (median shown)")
    a = p.parse_args()
    r = run(hazards=a.hazards, requests=a.requests, rounds=a.rounds)
    print(f"{'':28} {'req/s':>8} {'median ms':>10} {'p95 ms':>8} {'statuses'}")
    for name, s in r["results"].items():
        print(f"{name:28} {s['requests_per_s']:>8} {s['median_ms']:>10} {s['p95_ms']:>8} "
              f"{s['statuses']}")
    print(r["summary"])


if __name__ == "__main__":
    main()
