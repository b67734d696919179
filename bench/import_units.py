"""Import speed: 1,000,000 unit points from a GeoPackage, FireTwin vs a plain ogr2ogr load.

    .venv/bin/python -m bench.import_units            (or: .venv/bin/python bench/import_units.py)

1. Uses the database ``firetwin_bench`` beside the configured one (``--database-url``, default
   ``gis.db.database_url(DatabaseSettings())``), created and migrated if missing; the dev
   database is untouched.
2. If the bench database has no ordinary grids, creates 23 × 23 = 529 grid polygons tiling a
   ~500 km² box around lon 118.95, lat 42.27 (the demo district); otherwise uses the box of the
   grids it has.
3. Writes a deterministic GeoPackage of ``--rows`` unit points (code, Chinese name, category,
   colour_code) inside that box, in a temporary directory.
4. Times, in the same database, ``--repeat`` times each, alternating:
   (a) ``gis.io.import_vector(conn, file, table="unit")`` — validation, H3 cells, grid ids,
       every index and constraint of ``firetwin.unit`` — in a child process whose peak RSS
       (``wait4`` rusage) is the import's memory;
   (b) ``ogr2ogr -f PostgreSQL PG:... file.gpkg -nln bench_ogr.units -lco SPATIAL_INDEX=GIST``,
       a plain load into a scratch schema ``bench_ogr`` (dropped afterwards).
5. Prints a table and writes ``bench/results/import_units.json`` with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import geopandas as gpd
import numpy as np
import psycopg
import pyogrio
import shapely

from bench.common import bench_database, write_result
from gis.bulk import copy_frame

CENTRE = (118.95, 42.27)
GRID_SIDE = 23  # 23 × 23 = 529 grids
BOX_KM = 22.4  # ~500 km²
BENCH_PREFIX = "BENCH-"
NAMES_A = np.array(["红山", "新华", "长青", "西城", "永巩", "铁南", "站前", "哈达", "桥北", "东城"])
NAMES_B = np.array(
    [
        "小吃店",
        "超市",
        "旅馆",
        "网吧",
        "诊所",
        "五金店",
        "美发店",
        "幼儿园",
        "汽修厂",
        "饭店",
        "药店",
        "洗浴中心",
    ]
)
CATEGORIES = (("general", 0.45), ("small_place", 0.40), ("key_domain", 0.1), ("key_unit", 0.05))
COLOURS = (("green", 0.8), ("yellow", 0.15), ("red", 0.05))


def _box() -> tuple[float, float, float, float]:
    lon, lat = CENTRE
    half_x = BOX_KM / 2 / (111.32 * np.cos(np.radians(lat)))
    half_y = BOX_KM / 2 / 110.57
    return lon - half_x, lat - half_y, lon + half_x, lat + half_y


def ensure_grids(url: str) -> tuple[tuple[float, float, float, float], int, bool]:
    """The box to put units in, the number of ordinary grids, and whether they were created."""
    with psycopg.connect(url) as conn:
        n, x0, y0, x1, y1 = conn.execute(
            "SELECT count(*), ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), "
            "ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom)) FROM firetwin.grid "
            "WHERE kind = 'ordinary'"
        ).fetchone()
        if n:
            return (x0, y0, x1, y1), n, False
        bx0, by0, bx1, by1 = _box()
        xs = np.linspace(bx0, bx1, GRID_SIDE + 1)
        ys = np.linspace(by0, by1, GRID_SIDE + 1)
        cells = [
            shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1])
            for j in range(GRID_SIDE)
            for i in range(GRID_SIDE)
        ]
        frame = gpd.GeoDataFrame(
            {
                "code": [f"BENCH-G{i:03d}" for i in range(len(cells))],
                "name": [f"基准网格{i + 1}" for i in range(len(cells))],
                "kind": "ordinary",
            },
            geometry=cells,
            crs=4326,
        )
        copy_frame(conn, "grid", frame)
        return (bx0, by0, bx1, by1), len(cells), True


def make_gpkg(path: Path, rows: int, box: tuple[float, float, float, float], seed: int) -> None:
    """A deterministic GeoPackage of ``rows`` unit points inside ``box``."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    pad_x, pad_y = (x1 - x0) * 1e-4, (y1 - y0) * 1e-4
    lon = rng.uniform(x0 + pad_x, x1 - pad_x, rows)
    lat = rng.uniform(y0 + pad_y, y1 - pad_y, rows)
    names = np.char.add(
        np.char.add(
            NAMES_A[rng.integers(0, len(NAMES_A), rows)],
            NAMES_B[rng.integers(0, len(NAMES_B), rows)],
        ),
        np.char.add(rng.integers(1, 999, rows).astype(str), "号"),
    )
    cats, cat_p = zip(*CATEGORIES, strict=True)
    cols, col_p = zip(*COLOURS, strict=True)
    frame = gpd.GeoDataFrame(
        {
            "code": np.char.add(BENCH_PREFIX, np.char.zfill(np.arange(rows).astype(str), 7)),
            "name": names,
            "category": rng.choice(np.array(cats), rows, p=cat_p),
            "colour_code": rng.choice(np.array(cols), rows, p=col_p),
        },
        geometry=shapely.points(lon, lat),
        crs=4326,
    )
    pyogrio.write_dataframe(frame, path, layer="units", driver="GPKG")


def _clean(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM firetwin.unit WHERE code LIKE 'BENCH-%'")
        conn.execute("VACUUM firetwin.unit")
        conn.execute("DROP SCHEMA IF EXISTS bench_ogr CASCADE")


# Measures a command from a small process: a child's peak RSS (ru_maxrss) includes the memory
# of the process it was forked from, so the big benchmark process must not be that parent.
_LAUNCHER = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"wall_s": time.perf_counter() - t0, "maxrss_kib": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime,
               "exit": os.waitstatus_to_exitcode(status)}, fh)
"""


class ServerCpu:
    """CPU seconds used by the database's backends (and their parallel workers) during a run.

    The machine may be shared, so wall-clock times vary with its load; CPU time does much less.
    Backends are found in ``pg_stat_activity`` every 0.1 s and their ``/proc/<pid>/stat``
    utime + stime read until they exit (a local server is needed; otherwise None).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.dbname = urlsplit(url).path.lstrip("/")
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.available = urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")

    def _cpu(self, pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self.ticks

    def _poll(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                pids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                        "pg_backend_pid() AND backend_type IN "
                        "('client backend', 'parallel worker')",
                        (self.dbname,),
                    )
                ]
                for pid in pids:
                    cpu = self._cpu(pid)
                    if cpu is not None:
                        self.seen[pid] = cpu
                self._stop.wait(0.1)

    def __enter__(self) -> ServerCpu:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()

    @property
    def seconds(self) -> float | None:
        # backends are started by the run being measured: their whole CPU time counts
        return sum(self.seen.values()) if self.available else None


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, float]:
    """Run a command; return wall seconds, its peak RSS in bytes, its stdout and CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        proc = subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, str(stats), *cmd],
            capture_output=True,
            env=env,
            check=False,
        )
        if not stats.exists():
            msg = f"launcher failed: {proc.stderr.decode(errors='replace')[-2000:]}"
            raise RuntimeError(msg)
        measured = json.loads(stats.read_text())
    if measured["exit"] != 0:
        msg = (
            f"{cmd[0]} failed ({measured['exit']}):\n{proc.stderr.decode(errors='replace')[-3000:]}"
        )
        raise RuntimeError(msg)
    return (
        measured["wall_s"],
        measured["maxrss_kib"] * 1024,
        proc.stdout.decode(),
        measured["cpu_s"],
    )


def run_firetwin(url: str, gpkg: Path) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(gpkg),
        "--database-url",
        url,
    ]
    with ServerCpu(url) as server:
        wall, rss, out, cpu = _run(cmd)
    result = json.loads(out.strip().splitlines()[-1])
    result.update(
        wall_s=wall, peak_rss_bytes=rss, client_cpu_s=cpu, server_cpu_s=server.seconds, load=_load()
    )
    return result


def _load() -> dict:
    """How busy the machine was (other work slows both tools down)."""
    load = {"loadavg_1m": os.getloadavg()[0]}
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        load["cpu_pressure_avg10"] = float(line.split("avg10=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        pass
    return load


def worker(url: str, gpkg: Path) -> None:
    """Child process: the FireTwin import, timed (wall and CPU) from inside."""
    import resource

    from gis.io import import_vector

    marks: dict[str, float] = {}
    t0 = time.perf_counter()  # after the imports: what `firetwin import` spends importing

    def progress(step: str, done: int, total: int) -> None:
        marks.setdefault(step.split()[0] + "_start", time.perf_counter() - t0)
        marks[step.split()[0] + "_end"] = time.perf_counter() - t0

    before = resource.getrusage(resource.RUSAGE_SELF)
    with psycopg.connect(url) as conn:
        report = import_vector(conn, gpkg, table="unit", progress=progress)
    total = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(
        json.dumps(
            {
                "import_s": total,
                "loaded": report.loaded.get("unit", 0),
                "rejected": len(report.rejected),
                "load_phase_s": marks.get("indexing_start", total),
                "index_phase_s": total - marks.get("indexing_start", total),
                "import_cpu_s": cpu,
                "timings": {k: round(v, 2) for k, v in report.timings.items()},
            }
        )
    )


def run_ogr2ogr(url: str, gpkg: Path) -> dict:
    p = urlsplit(url)
    conn = (
        f"PG:host={p.hostname} port={p.port or 5432} dbname={p.path.lstrip('/')} user={p.username}"
    )
    env = {**os.environ, "PGPASSWORD": p.password or ""}
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP SCHEMA IF EXISTS bench_ogr CASCADE")
        c.execute("CREATE SCHEMA bench_ogr")
    cmd = [
        "ogr2ogr",
        "-f",
        "PostgreSQL",
        conn,
        str(gpkg),
        "-nln",
        "bench_ogr.units",
        "-lco",
        "SPATIAL_INDEX=GIST",
    ]
    with ServerCpu(url) as server:
        wall, rss, _, cpu = _run(cmd, env)
    with psycopg.connect(url) as c:
        (n,) = c.execute("SELECT count(*) FROM bench_ogr.units").fetchone()
    return {
        "wall_s": wall,
        "peak_rss_bytes": rss,
        "loaded": n,
        "client_cpu_s": cpu,
        "server_cpu_s": server.seconds,
        "load": _load(),
        "command": " ".join(cmd[:3]) + ' "PG:..." ' + " ".join(cmd[4:]),
    }


def verify(url: str, rows: int) -> dict:
    with psycopg.connect(url) as conn:
        n, h3, grid = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE h3_r7 IS NOT NULL AND h3_r9 IS NOT NULL "
            "AND h3_r11 IS NOT NULL), count(grid_id) FROM firetwin.unit WHERE code LIKE 'BENCH-%'"
        ).fetchone()
        indexes = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'firetwin' AND tablename = 'unit'"
        ).fetchone()[0]
    return {
        "rows": n,
        "with_h3": h3,
        "with_grid_id": grid,
        "unit_indexes": indexes,
        "complete": n == rows == h3,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3, help="runs of each tool (median reported)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--database-url", default=None, help="server to use (database: firetwin_bench)")
    p.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker is not None:
        worker(a.database_url, a.worker)
        return
    if shutil.which("ogr2ogr") is None:
        sys.exit("ogr2ogr not found (Debian: apt-get install gdal-bin)")
    url = bench_database("firetwin_bench", url=a.database_url)
    box, n_grids, created = ensure_grids(url)
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="firetwin-bench-") as tmp:
        gpkg = Path(tmp) / "units.gpkg"
        t0 = time.perf_counter()
        make_gpkg(gpkg, a.rows, box, a.seed)
        gen_s = time.perf_counter() - t0
        gpkg_mib = gpkg.stat().st_size / 2**20
        print(
            f"{a.rows:,} units written to {gpkg.name} ({gpkg_mib:.0f} MiB) "
            f"in {gen_s:.1f} s; {n_grids} grids ({'created' if created else 'existing'})",
            flush=True,
        )
        check: dict = {}
        for i in range(a.repeat):
            _clean(url)
            ft = run_firetwin(url, gpkg)
            check = verify(url, a.rows)
            _clean(url)
            og = run_ogr2ogr(url, gpkg)
            _clean(url)
            runs.append({"firetwin": ft, "ogr2ogr": og})
            print(
                f"run {i + 1}: FireTwin {ft['wall_s']:.1f} s (import {ft['import_s']:.1f} s, "
                f"peak {ft['peak_rss_bytes'] / 2**20:.0f} MiB, CPU {ft['import_cpu_s']:.1f} + "
                f"{ft['server_cpu_s'] or 0:.1f} s), ogr2ogr {og['wall_s']:.1f} s (CPU "
                f"{og['client_cpu_s']:.1f} + {og['server_cpu_s'] or 0:.1f} s); load "
                f"{ft['load']}",
                flush=True,
            )
        ogr_cmd = og["command"]

    def med(tool: str, key: str) -> float:
        return statistics.median(r[tool][key] for r in runs)

    def cpu(tool: str, client: str = "client_cpu_s") -> float | None:
        if any(r[tool]["server_cpu_s"] is None for r in runs):
            return None
        return statistics.median(r[tool][client] + r[tool]["server_cpu_s"] for r in runs)

    ft_wall, og_wall = med("firetwin", "wall_s"), med("ogr2ogr", "wall_s")
    ft_import = med("firetwin", "import_s")
    ft_cpu, og_cpu = cpu("firetwin", "import_cpu_s"), cpu("ogr2ogr")
    peak = max(r["firetwin"]["peak_rss_bytes"] for r in runs)
    result = {
        "command": f".venv/bin/python -m bench.import_units --rows {a.rows} --repeat {a.repeat} "
        f"--seed {a.seed}",
        "rows": a.rows,
        "grids": n_grids,
        "gpkg_mib": round(gpkg_mib, 1),
        "gpkg_write_s": round(gen_s, 1),
        "firetwin_s": round(ft_wall, 2),
        "firetwin_import_s": round(med("firetwin", "import_s"), 2),
        "firetwin_load_phase_s": round(med("firetwin", "load_phase_s"), 2),
        "firetwin_index_phase_s": round(med("firetwin", "index_phase_s"), 2),
        "ogr2ogr_s": round(og_wall, 2),
        "ratio_firetwin_over_ogr2ogr": round(ft_wall / og_wall, 2),
        "ratio_import_call_over_ogr2ogr": round(ft_import / og_wall, 2),
        "firetwin_cpu_s": None if ft_cpu is None else round(ft_cpu, 1),
        "ogr2ogr_cpu_s": None if og_cpu is None else round(og_cpu, 1),
        "cpu_ratio": None if not (ft_cpu and og_cpu) else round(ft_cpu / og_cpu, 2),
        "firetwin_peak_rss_mib": round(peak / 2**20),
        "ogr2ogr_peak_rss_mib": round(max(r["ogr2ogr"]["peak_rss_bytes"] for r in runs) / 2**20),
        "verified": check,
        "ogr2ogr_command": ogr_cmd,
        "runs": runs,
        "summary": (
            f"{a.rows:,} units: FireTwin import {ft_import:.1f} s (process {ft_wall:.1f} s) "
            f"vs ogr2ogr {og_wall:.1f} s, peak {peak / 2**20:.0f} MiB"
        ),
    }
    path = write_result("import_units", result)
    print()
    rows_out = [
        ("FireTwin: process (startup + import)", ft_wall, None, f"{peak / 2**20:.0f} MiB"),
        ("FireTwin: import_vector call", ft_import, ft_cpu, ""),
        ("  read + check + COPY", result["firetwin_load_phase_s"], None, ""),
        ("  indexes + constraints rebuilt", result["firetwin_index_phase_s"], None, ""),
        (
            "ogr2ogr (plain load, 1 GiST index)",
            og_wall,
            og_cpu,
            f"{result['ogr2ogr_peak_rss_mib']} MiB",
        ),
    ]
    print(f"| {'':<38} | {'wall s':>7} | {'CPU s':>6} | {'peak RSS':>9} |")
    print(f"|{'-' * 40}|{'-' * 9}|{'-' * 8}|{'-' * 11}|")
    for name, wall, cpu_s, rss in rows_out:
        cpu_text = "" if cpu_s is None else f"{cpu_s:.1f}"
        print(f"| {name:<38} | {wall:>7.1f} | {cpu_text:>6} | {rss:>9} |")
    print(
        f"\nratio FireTwin / ogr2ogr (wall, process): {ft_wall / og_wall:.2f}; "
        f"import call: {ft_import / og_wall:.2f}"
        + (f"; CPU: {ft_cpu / og_cpu:.2f}" if ft_cpu and og_cpu else "")
    )
    print(f"verified: {check}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
