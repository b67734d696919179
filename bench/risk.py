"""Fire-risk model benchmark: quality on the demo district's later period, and speed at scale.

Quality: train with cut-off 2025-06-30 (snapshots up to 2024-06-30, labels up to the cut-off),
score the units as of the cut-off and compare the ranking with the fires of 2025-07-01 …
2026-06-30 — against the ground truth (``demo_truth.unit_propensity.p_fire``, read here and
only here), a random order and "most hazards in the last 12 months". Goals: model AUC ≥ 97 %
of the ground truth's; lift at 1 % ≥ 13.

Speed: the PostGIS feature query and the whole ``score_units`` (features, prediction,
TreeSHAP factors, storing scores, cells and grids) on the demo database; training and scoring
(prediction + factors) on a synthetic frame of ``--units`` rows (default 1.4 million, seed 000's
province) resampled from the demo's real feature rows, since a 1.4-million-unit demo database
takes hours to generate here. Peak memory from ``resource.getrusage``.

    python -m bench.risk --scale 1            # builds firetwin_bench_risk_s1 if needed
    python -m bench.risk --url postgresql://…/firetwin_risk_s10 --scale 10
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from bench.common import bench_database, write_result
from gis.risk import evaluate, model
from gis.risk.features import CATEGORICAL, FEATURE_NAMES, cutoff_instant, fire_labels, unit_features
from gis.risk.settings import RiskSettings
from services.workflows.risk import score_units, train_model

CUTOFF = date(2025, 6, 30)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ensure_demo(url: str, scale: float) -> None:
    with psycopg.connect(url) as c:
        if c.execute("SELECT count(*) FROM firetwin.unit").fetchone()[0]:
            return
    env = {"FIRETWIN_DATABASE_URL": url}
    import os

    subprocess.run([sys.executable, "-m", "services.cli", "demo", "--scale", str(scale)],
                   check=True, env={**os.environ, **env})


def quality(url: str, models: Path, settings: RiskSettings) -> dict:
    with psycopg.connect(url) as conn:
        t = time.perf_counter()
        row = train_model(conn, cutoff=CUTOFF, settings=settings, directory=models)
        train_s = time.perf_counter() - t
        later = row["metrics"]["later"]
        at = cutoff_instant(CUTOFF, settings.timezone)
        X = unit_features(conn, at)
        y = X.index.isin(fire_labels(conn, at).index).astype(int)
        truth = dict(conn.execute(
            "SELECT unit_id, p_fire FROM demo_truth.unit_propensity").fetchall())
        p_truth = np.array([truth.get(u, np.nan) for u in X.index])
        ok = ~np.isnan(p_truth)
        later["ground_truth"] = evaluate.metrics(y[ok], p_truth[ok])
        later["auc_ratio_to_truth"] = round(later["model"]["auc"] / later["ground_truth"]["auc"], 4)
        t = time.perf_counter()
        res = score_units(conn, as_of=date(2026, 6, 30), settings=settings, directory=models,
                          version=row["version"])
        score_s = time.perf_counter() - t
        conn.commit()
    return {"version": row["version"], "train": row["metrics"]["train"],
            "train_s": round(train_s, 1), "later": later, "score_s": round(score_s, 1),
            "score": res}


def synthetic(url: str, models: Path, settings: RiskSettings, units: int, seed: int) -> dict:
    """Train and score frames of ``units`` rows resampled from the demo's snapshots."""
    rng = np.random.default_rng(seed)
    with psycopg.connect(url) as conn:
        frames, labels = [], []
        for d in (date(2023, 6, 30), date(2024, 6, 30)):
            at = cutoff_instant(d, settings.timezone)
            X = unit_features(conn, at)
            frames.append(X[list(FEATURE_NAMES)])
            labels.append(X.index.isin(fire_labels(conn, at).index).astype(np.int8))
    base = pd.concat(frames, ignore_index=True)
    ybase = np.concatenate(labels)
    del frames
    pick = rng.integers(0, len(base), units)
    X = base.iloc[pick].reset_index(drop=True)
    y = ybase[pick]
    groups = np.arange(units)
    out: dict = {"rows": units, "positives": int(y.sum())}
    t = time.perf_counter()
    booster, summary = model.fit(X, y, groups=groups, categorical=list(CATEGORICAL),
                                 seed=seed, num_threads=settings.num_threads)
    out["fit_s"] = round(time.perf_counter() - t, 1)
    out["best_iteration"] = summary["best_iteration"]
    out["peak_mb_after_fit"] = round(_peak_mb())
    t = time.perf_counter()
    p = model.predict(booster, X, num_threads=settings.num_threads)
    q = model.reference_quantiles(p)
    score = model.to_score(p, q)
    model.tiers(score)
    out["predict_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    contrib = model.contributions(booster, X, num_threads=settings.num_threads)
    factors = model.top_factors(contrib, X, k=settings.top_factors)
    out["factors_s"] = round(time.perf_counter() - t, 1)
    out["factors_example"] = factors[0]
    out["peak_mb"] = round(_peak_mb())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--url", default=None, help="an existing demo database (else one is built)")
    ap.add_argument("--units", type=int, default=1_400_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    url = a.url or bench_database(f"firetwin_bench_risk_s{a.scale:g}")
    _ensure_demo(url, a.scale)
    settings = RiskSettings(num_threads=a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        q = quality(url, Path(tmp), settings)
        s = synthetic(url, Path(tmp), settings, a.units, a.seed)
    later = q["later"]
    m, gt, mh = later["model"], later["ground_truth"], later["most_hazards_last_year"]
    result = {
        "scale": a.scale, "quality": q, "synthetic": s, "peak_mb": round(_peak_mb()),
        "command": f"python -m bench.risk --scale {a.scale:g}"
                   + (" --url <demo database>" if a.url else "") + f" --units {a.units}",
        "summary": (
            f"scale {a.scale:g}: AUC {m['auc']:.3f} vs truth {gt['auc']:.3f} "
            f"({q['later']['auc_ratio_to_truth']:.1%}), lift@1% {m['lift_1pct']:.1f} "
            f"(truth {gt['lift_1pct']:.1f}, most-hazards {mh['lift_1pct']:.1f}); "
            f"{s['rows']:,} rows: fit {s['fit_s']} s, predict {s['predict_s']} s, "
            f"factors {s['factors_s']} s, peak {s['peak_mb']} MB"),
    }
    write_result("risk" if a.scale == 1 and a.url is None else f"risk_s{a.scale:g}", result)
    print(result["summary"])


if __name__ == "__main__":
    main()
