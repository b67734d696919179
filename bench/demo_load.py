"""Demo district generation and load time (`python -m bench.demo_load --scale 1`)."""

from __future__ import annotations

import argparse
import time

import psycopg

from bench.common import bench_database, write_result
from gis import demo


def run(*, scale: float = 1.0, seed: int = 42) -> dict:
    url = bench_database("firetwin_bench_demo", fresh=True)
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        counts = demo.generate(conn, seed=seed, scale=scale)
    seconds = time.perf_counter() - t0
    with psycopg.connect(url) as conn:
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    result = {
        "command": f".venv/bin/python -m bench.demo_load --scale {scale} --seed {seed}",
        "scale": scale,
        "seed": seed,
        "seconds": round(seconds, 2),
        "counts": counts,
        "database_size": size,
    }
    write_result("demo_load", result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    r = run(scale=a.scale, seed=a.seed)
    print(f"demo district scale {r['scale']}: {r['seconds']} s, {sum(r['counts'].values()):,} rows, "
          f"{r['database_size']}")


if __name__ == "__main__":
    main()
