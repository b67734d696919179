"""Associations between hazard categories, and monthly trends with seasonality.

**Co-occurrence** (seed 002: "e-bike charging ↔ corridor clutter, r = 0.78"): hazards are
counted per spatial unit (H3 resolution-9 cells by default; only units with at least one
hazard, so the empty background does not make every pair look correlated) and category.
For every pair of categories:

- ``r``: Pearson correlation of the two count columns across units;
- ``p_perm``: one-sided permutation p of r (the second column shuffled across units
  ``permutations`` times; (#{r_perm ≥ r} + 1) / (permutations + 1)), all pairs at once as one
  matrix product per permutation;
- ``odds_ratio``, ``p_fisher``: Fisher's exact test (one-sided, greater) on the 2 × 2 table of
  units holding each category or not;
- ``p_fdr``: Benjamini–Hochberg over all pairs of ``p_perm``; a pair is ``significant`` when
  ``p_fdr < alpha`` and r > 0.

**Trends**: hazards per calendar month and category; the Mann–Kendall test (S with the tie
correction of its variance, continuity-corrected z, two-sided normal p) and Sen's slope
(hazards per month) say whether a category rises or falls; the month-of-year index (mean of
that calendar month / mean of all months, 1.0 = average) describes seasonality, with its peak
month.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from gis.analysis.hotspots import bh_fdr

__all__ = ["cooccurrence", "mann_kendall", "monthly_counts", "seasonal_index", "trends"]


def cooccurrence(
    counts: pd.DataFrame,
    *,
    permutations: int = 999,
    alpha: float = 0.05,
    min_units: int = 5,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Pairwise association of the columns of a units × categories count table.

    Columns with hazards in fewer than ``min_units`` units are left out. Returns one row per
    pair: ``a``, ``b``, ``units`` (rows used), ``units_a``, ``units_b``, ``units_both``, ``r``,
    ``p_perm``, ``odds_ratio``, ``p_fisher``, ``p_fdr``, ``significant``; strongest r first.
    """
    from scipy.stats import fisher_exact

    cols = ["a", "b", "units", "units_a", "units_b", "units_both", "r", "p_perm",
            "odds_ratio", "p_fisher", "p_fdr", "significant"]
    table = counts.loc[counts.sum(axis=1) > 0]
    present = table > 0
    keep = [c for c in table.columns if int(present[c].sum()) >= min_units]
    table, present = table[keep], present[keep]
    n, k = table.shape
    if k < 2 or n < 3:
        return pd.DataFrame(columns=cols)
    x = table.to_numpy(dtype=float)
    sd = x.std(axis=0)
    z = np.where(sd > 0, (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1), 0.0)
    r = (z.T @ z) / n
    exceed = np.zeros((k, k))
    rng = np.random.default_rng(seed)
    for _ in range(permutations):
        rp = (z.T @ z[rng.permutation(n)]) / n
        exceed += rp >= r - 1e-12
    p_perm = (exceed + 1.0) / (permutations + 1.0)
    rows = []
    pres = present.to_numpy()
    for i, j in combinations(range(k), 2):
        a, b = pres[:, i], pres[:, j]
        both = int((a & b).sum())
        tab = [[both, int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
        odds, p_f = fisher_exact(tab, alternative="greater")
        p_ij = max(p_perm[i, j], p_perm[j, i])  # symmetric statistic: the conservative one
        rows.append({"a": keep[i], "b": keep[j], "units": n, "units_a": int(a.sum()),
                     "units_b": int(b.sum()), "units_both": both, "r": float(r[i, j]),
                     "p_perm": float(p_ij), "odds_ratio": float(odds), "p_fisher": float(p_f)})
    out = pd.DataFrame(rows)
    out["p_fdr"] = bh_fdr(out["p_perm"].to_numpy())
    out["significant"] = (out["p_fdr"] < alpha) & (out["r"] > 0)
    return out.sort_values("r", ascending=False, ignore_index=True)[cols]


def monthly_counts(
    reported_at: pd.Series, category: pd.Series, *, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    """Hazards per calendar month (rows, month starts) and category (columns), zeros filled."""
    months = pd.period_range(first, last, freq="M")
    at = pd.to_datetime(reported_at, utc=True).dt.tz_convert(None).dt.to_period("M")
    frame = pd.DataFrame({"m": at.to_numpy(), "c": category.to_numpy()})
    table = frame.groupby(["m", "c"]).size().unstack(fill_value=0)
    table = table.reindex(months, fill_value=0)
    table.index = table.index.to_timestamp()
    table.index.name = "month"
    return table


def mann_kendall(y: np.ndarray) -> dict[str, float]:
    """Mann–Kendall trend test and Sen's slope of an evenly spaced series.

    >>> r = mann_kendall(np.arange(12.0))
    >>> r["s"], round(r["p"], 5) < 0.001, r["sen_slope"]
    (66.0, True, 1.0)
    """
    from scipy.stats import norm

    y = np.asarray(y, dtype=float)
    n = len(y)
    if n < 3:
        return {"s": 0.0, "z": 0.0, "p": 1.0, "sen_slope": 0.0, "tau": 0.0}
    i, j = np.triu_indices(n, k=1)
    diff = y[j] - y[i]
    s = float(np.sign(diff).sum())
    _, ties = np.unique(y, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - (ties * (ties - 1) * (2 * ties + 5)).sum()) / 18.0
    z = 0.0 if var <= 0 or s == 0 else (s - np.sign(s)) / np.sqrt(var)
    return {"s": s, "z": float(z), "p": float(2 * norm.sf(abs(z))),
            "sen_slope": float(np.median(diff / (j - i))), "tau": s / (n * (n - 1) / 2)}


def seasonal_index(monthly: pd.Series) -> dict[int, float]:
    """Month-of-year index: mean count of each calendar month / mean of all months."""
    overall = float(monthly.mean())
    if overall == 0:
        return dict.fromkeys(range(1, 13), 0.0)
    by_month = monthly.groupby(monthly.index.month).mean()
    return {int(m): round(float(v) / overall, 3) for m, v in by_month.items()}


def trends(monthly: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Trend and seasonality per category of a :func:`monthly_counts` table.

    Columns: ``category``, ``months``, ``total``, ``sen_slope`` (hazards/month), ``tau``,
    ``z``, ``p``, ``p_fdr`` (BH over categories), ``trend`` (increasing | decreasing | none),
    ``seasonal_index`` (dict month → index), ``peak_month``.
    """
    rows = []
    for cat in monthly.columns:
        series = monthly[cat]
        mk = mann_kendall(series.to_numpy())
        idx = seasonal_index(series)
        rows.append({"category": cat, "months": len(series), "total": int(series.sum()),
                     "sen_slope": mk["sen_slope"], "tau": mk["tau"], "z": mk["z"], "p": mk["p"],
                     "seasonal_index": idx, "peak_month": max(idx, key=idx.get)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_fdr"] = bh_fdr(out["p"].to_numpy())
    out["trend"] = np.where(out["p_fdr"] < alpha,
                            np.where(out["z"] > 0, "increasing", "decreasing"), "none")
    return out
