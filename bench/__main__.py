"""Run every benchmark (`make bench`) and print one summary table from bench/results/*.json.

`make bench BENCH_ARGS="--only import_units"` runs a subset.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench.common import RESULTS

SUITES = [
    "demo_load", "import_units", "tiles", "items", "routing", "workflow", "hotspots", "risk",
    "ingest", "web", "web_live", "make_run", "load",
]


def _summary() -> None:
    print("\n| benchmark | result | reproduce |\n|---|---|---|")
    for name in SUITES:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        print(f"| {name} | {r.get('summary') or _short(r)} | `{r.get('command', '')}` |")


def _short(r: dict) -> str:
    keys = [k for k, v in r.items() if isinstance(v, int | float) and k not in {"seed"}]
    return ", ".join(f"{k}={r[k]}" for k in keys[:4])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", default=",".join(SUITES), help="comma-separated suites")
    a = p.parse_args()
    failed = []
    for name in a.only.split(","):
        print(f"\n=== {name} ===", flush=True)
        rc = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode
        if rc != 0:
            failed.append(name)
    _summary()
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
