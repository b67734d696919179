"""Hot-spot analysis of 1 million hazards (`python -m bench.hotspots`).

In memory, seeded: 1,000,000 hazard points over a 70 × 70 km square near Chifeng (≈ 4,900 km²,
≈ 47,000 H3 resolution-9 cells): 70 % scattered uniformly, 30 % in 3,000 tight groups (sd 25 m)
— 12 categories. Stages, each timed: projection to UTM; DBSCAN (eps 50 m, min 5) on a KD-tree
radius graph; cluster hulls (convex, buffered 15 m) with category mix, density and
classification; H3 cell of every hazard (done at write time in the database, timed here for
completeness); the study area's cells; H3 ring-1 neighbours; Gi* with 99,999 permutations
(total randomisation, shared draws), the exact CSR binomial p and Benjamini–Hochberg FDR.
Budget: the total (clustering + Gi* with permutations + FDR) ≤ 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from bench.common import write_result
from gis import vocab
from gis.analysis import (
    ClusterRules,
    cells_for_polygon,
    classify_clusters,
    cluster_polygons,
    dbscan_labels,
    gi_star,
    h3_neighbours,
    project_xy,
)
from gis.grid import cells_for_points

BUDGET_S = 30.0
ORIGIN = (118.60, 41.95)  # south-west corner, Chifeng area


def _points(n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    side_lon, side_lat = 70_000 / (111_320 * np.cos(np.radians(42.3))), 70_000 / 110_574
    n_bg = int(n * 0.7)
    lon = ORIGIN[0] + rng.uniform(0, side_lon, n)
    lat = ORIGIN[1] + rng.uniform(0, side_lat, n)
    centres = rng.integers(0, n_bg, 3000)
    grp = rng.integers(0, 3000, n - n_bg)
    lon[n_bg:] = lon[centres[grp]] + rng.normal(0, 25, n - n_bg) / (111_320 * 0.74)
    lat[n_bg:] = lat[centres[grp]] + rng.normal(0, 25, n - n_bg) / 110_574
    cats = np.array(list(vocab.HAZARD_TAXONOMY))[rng.integers(0, 12, n)]
    return gpd.GeoDataFrame({"category": cats}, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def run(*, n: int = 1_000_000, permutations: int = 99_999, seed: int = 42) -> dict:
    frame = _points(n, seed)
    t: dict[str, float] = {}

    def lap(name: str, start: float) -> float:
        now = time.perf_counter()
        t[name] = round(now - start, 3)
        return now

    s = time.perf_counter()
    xy, crs = project_xy(frame)
    s = lap("project_utm_s", s)
    labels = dbscan_labels(xy, eps_m=50.0, min_samples=5)
    s = lap("dbscan_s", s)
    polys = cluster_polygons(frame, labels, xy=xy, crs=crs, buffer_m=15.0)
    polys["previous_members"] = 0
    polys = classify_clusters(polys, ClusterRules())
    s = lap("hulls_classify_s", s)
    lon, lat = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    point_cells = cells_for_points(lon, lat, resolutions=(9,))[9]
    s = lap("h3_index_points_s", s)
    area = shapely.box(lon.min(), lat.min(), lon.max(), lat.max())
    cells = cells_for_polygon(area, res=9)
    s = lap("study_cells_s", s)
    nb, counts = h3_neighbours(cells)
    s = lap("h3_neighbours_s", s)
    pos = np.searchsorted(cells, point_cells)
    ok = (pos < len(cells)) & (cells[np.minimum(pos, len(cells) - 1)] == point_cells)
    x = np.bincount(pos[ok], minlength=len(cells)).astype(float)
    gi = gi_star(x, nb, counts, permutations=permutations, seed=seed, p_value="binomial")
    s = lap("gi_star_perm_fdr_s", s)
    gi999 = gi_star(x, nb, counts, permutations=999, seed=seed, p_value="binomial")
    lap("gi_star_999_perm_s", s)
    analysis = ("project_utm_s", "dbscan_s", "hulls_classify_s", "study_cells_s",
                "h3_neighbours_s", "gi_star_perm_fdr_s")
    total = round(sum(t[k] for k in analysis), 3)
    total_with_index = round(total + t["h3_index_points_s"], 3)
    result = {
        "hazards": n, "h3_cells": len(cells), "permutations": permutations,
        "clusters": len(polys), "clustered_share": round(float((labels >= 0).mean()), 3),
        "yellow_clusters": int((polys["level"] == "yellow").sum()),
        "hot_cells": int((gi["hotspot"] == "hot").sum()),
        "cold_cells": int((gi["hotspot"] == "cold").sum()),
        "hot_cells_sim_fdr": int(((pd.Series(gi["p_sim"]).pipe(
            lambda p: __import__("gis.analysis", fromlist=["bh_fdr"]).bh_fdr(p.to_numpy())) < 0.05)
            & (gi["z"] > 0)).sum()),
        "hot_cells_999": int((gi999["hotspot"] == "hot").sum()),
        "stages_s": t, "total_s": total, "total_with_h3_indexing_s": total_with_index,
        "budget_s": BUDGET_S, "within_budget": total <= BUDGET_S,
        "summary": (f"{n:,} hazards, {len(cells):,} H3 r9 cells, {permutations:,} permutations: "
                    f"{total} s (DBSCAN {t['dbscan_s']} s, Gi* {t['gi_star_perm_fdr_s']} s; "
                    f"+{t['h3_index_points_s']} s H3 indexing done at write time in the DB)"),
        "command": "flock /tmp/firetwin-bench.lock .venv/bin/python -m bench.hotspots",
    }
    return result


def run_dask(frame: gpd.GeoDataFrame, *, workers: int, permutations: int, seed: int = 42,
             tile_m: float = 5_000.0) -> dict:
    """The district-wide refresh's heavy parts, single-process and on a Dask LocalCluster.

    DBSCAN (eps 50 m, min 5) over every hazard, then Gi* for "all" and each category; the
    Dask run uses gis.analysis.distributed (tiles with halos; one task per category) and must
    give identical labels and frames.
    """
    from distributed import Client, LocalCluster

    from gis.analysis.distributed import dbscan_labels_tiled, hotspot_frames

    xy, _ = project_xy(frame)
    lon, lat = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    cells9 = cells_for_points(lon, lat, resolutions=(9,))[9]
    study = cells_for_polygon(shapely.box(lon.min(), lat.min(), lon.max(), lat.max()), res=9)
    cats = frame["category"].to_numpy()
    groups = {"all": cells9, **{c: cells9[cats == c] for c in sorted(set(cats.tolist()))}}
    kw = {"permutations": permutations, "seed": seed, "p_value": "binomial", "geometry": False}
    t0 = time.perf_counter()
    single_labels = dbscan_labels(xy, eps_m=50.0, min_samples=5)
    t1 = time.perf_counter()
    single_frames = hotspot_frames(study, groups, **kw)
    t2 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(__import__, "gis.analysis.distributed")  # workers import before the clock
        t3 = time.perf_counter()
        dask_labels = dbscan_labels_tiled(xy, eps_m=50.0, min_samples=5, tile_m=tile_m,
                                          client=client)
        t4 = time.perf_counter()
        dask_frames = hotspot_frames(study, groups, client=client, **kw)
        t5 = time.perf_counter()
    same = bool(np.array_equal(single_labels, dask_labels)) and all(
        single_frames[k].equals(dask_frames[k]) for k in groups)
    single_s, dask_s = t2 - t0, t5 - t3
    return {"workers": workers, "tile_m": tile_m, "groups": len(groups),
            "single_dbscan_s": round(t1 - t0, 2), "single_gi_frames_s": round(t2 - t1, 2),
            "dask_dbscan_s": round(t4 - t3, 2), "dask_gi_frames_s": round(t5 - t4, 2),
            "single_total_s": round(single_s, 2), "dask_total_s": round(dask_s, 2),
            "dask_speedup": round(single_s / dask_s, 2), "identical_results": same}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--permutations", type=int, default=99_999)
    p.add_argument("--dask-workers", type=int, default=2,
                   help="also run DBSCAN + per-category Gi* on a Dask LocalCluster (0: skip)")
    a = p.parse_args()
    result = run(n=a.n, permutations=a.permutations)
    if a.dask_workers:
        result["dask"] = run_dask(_points(a.n, 42), workers=a.dask_workers,
                                  permutations=a.permutations)
        d = result["dask"]
        result["summary"] += (
            f"; DBSCAN + {d['groups']} Gi* frames: single process {d['single_total_s']} s, "
            f"Dask LocalCluster ({d['workers']} workers) {d['dask_total_s']} s "
            f"(×{d['dask_speedup']}), identical: {d['identical_results']}")
        result["command"] += f" --dask-workers {a.dask_workers}"
    path = write_result("hotspots", result)
    print(result["summary"])
    print({k: v for k, v in result.items() if k not in ("summary",)})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
