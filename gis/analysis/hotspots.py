"""Getis-Ord Gi* hot spots on H3 cells, with conditional-permutation p-values and FDR.

The study area is a set of H3 cells (all cells covering the area analysed, empty ones too:
leaving out empty cells would hide cold spots and inflate hot ones). ``x`` is the hazard count
per cell. Neighbours are the cells of ``h3.grid_disk(cell, k)`` inside the study area (binary
weights, the cell itself included: the *star* statistic).

For cell i with neighbourhood N(i) (itself included), W_i = |N(i)| and n cells::

    Gi* = Σ_{j∈N(i)} x_j / Σ_j x_j
    z_i = (Σ_{j∈N(i)} x_j − x̄ W_i) / (s √((n W_i − W_i²) / (n − 1)))

with x̄ and s the mean and (population) standard deviation of x over the study area (Getis
& Ord 1995; the ``Zs`` of ``esda.G_Local(y, w, star=True, transform="B")``, checked in tests).

p-values come from permutations. By default *total* randomisation: the whole neighbourhood
N(i), the cell itself included, is refilled ``permutations`` times with |N(i)| values drawn
without replacement from all n cells — the null under which Getis & Ord derived the moments of
Gi* (the z above), so a single cell far above the rest is a hot spot, as the statistic intends.
With ``conditional=True`` it is esda's conditional randomisation: x_i is held fixed and only
its |N(i)|−1 neighbours are drawn from the other n−1 cells, which asks whether the
*surroundings* of a cell are unusual (a lone hot cell with ordinary neighbours is then not
significant). The folded pseudo p-value (min(#≥, #≤) + 1) / (permutations + 1) is doubled for
a two-sided test (capped at 1). The same random draws serve every cell (esda's
shared-draw scheme), so the simulated sums are prefix sums shared by every cell with the
same number of neighbours and each cell's counts are a binary search: well under a second
for 50,000 cells × 99,999 permutations (bench/hotspots.py), where esda without numba takes
~26 s for 45,000 cells × 999. Benjamini–Hochberg over all cells gives ``p_fdr`` (of which
p: below); a cell
is ``hot`` (z > 0) or ``cold`` (z < 0) when ``p_fdr < alpha``, else ``ns``.

The pseudo p has a floor: with P permutations the smallest is 2/(P+1), so with m cells BH
can only reject when at least m·2/((P+1)·alpha) cells are that extreme — 80 of 2,000 cells at
esda's usual P = 999, so a district with a few hot blocks would never show one. Because the
draws are shared, P costs O(P·k) (prefix sums and one sort per neighbourhood size), so the
default is P = 99,999 (floor 2·10⁻⁵: one or two extreme cells of 5,000 pass). The normal
approximations (``p_norm`` of z, ``p_z_sim`` of the permutation moments) are reported beside
it and can drive ``p_fdr`` (``p_value``), but on sparse counts (most cells empty) they are
badly anti-conservative — a cell whose neighbourhood holds 4 hazards where 0.4 are expected
gets z ≈ 4.6, p ≈ 4·10⁻⁶, while its permutation p is ≈ 6·10⁻⁴.

Permutation p has a second limit on sparse maps: the permuted values include the hot cells
themselves, so a neighbourhood of W cells draws one of h hot cells with probability ≈ W·h/n,
and a weaker hot spot in a map that also holds a stronger one cannot get p below that
(≈ 0.007 for W = 7, h = 2, n = 2,000) — never significant after FDR. For hazard *counts*
:func:`hotspot_frame` therefore defaults to ``p_value="binomial"``: the exact tail of the
neighbourhood count under complete spatial randomness (N hazards placed independently and
uniformly over n cells → Binomial(N, W/n)), which has neither problem; ``p_sim`` (the
permutation p) is still computed and stored beside it, and ``p_value="sim"`` makes it drive
the classes.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from h3.api import basic_int as h3i

from gis.grid import cell_boundary

__all__ = ["bh_fdr", "cells_for_polygon", "gi_star", "h3_neighbours", "hotspot_frame"]


def bh_fdr(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (the same as ``scipy.stats.false_discovery_control``).

    >>> bh_fdr(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def cells_for_polygon(geom: shapely.Geometry, *, res: int) -> np.ndarray:
    """H3 cells (int64, sorted) whose centres fall in a (multi)polygon in EPSG:4326."""
    parts = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    cells: set[int] = set()
    for part in parts:
        if part.is_empty or part.geom_type != "Polygon":
            continue
        shape = h3i.LatLngPoly([(y, x) for x, y in part.exterior.coords],
                               *[[(y, x) for x, y in r.coords] for r in part.interiors])
        cells.update(h3i.polygon_to_cells(shape, res))
    return np.array(sorted(cells), dtype=np.int64)


def h3_neighbours(cells: np.ndarray, *, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour index matrix of the study cells: (n, m) int64, padded with -1, and counts.

    Row i lists the positions (in ``cells``) of the cells within ``k`` steps of cell i, the
    cell itself first; cells outside the study area are left out.
    """
    cells = np.asarray(cells, dtype=np.int64)
    pos = {int(c): i for i, c in enumerate(cells.tolist())}
    width = 1 + 3 * k * (k + 1)
    nb = np.full((len(cells), width), -1, dtype=np.int64)
    counts = np.zeros(len(cells), dtype=np.int64)
    for i, c in enumerate(cells.tolist()):
        row = [i] + [pos[d] for d in h3i.grid_disk(c, k) if d != c and d in pos]
        nb[i, : len(row)] = row
        counts[i] = len(row)
    return nb, counts


def gi_star(
    x: np.ndarray,
    neighbours: np.ndarray,
    counts: np.ndarray,
    *,
    permutations: int = 99_999,
    alpha: float = 0.05,
    seed: int | None = 0,
    p_value: str = "sim",
    conditional: bool = False,
) -> pd.DataFrame:
    """Gi* z-scores, permutation and FDR p-values and hot/cold classes (see module docstring).

    ``neighbours``/``counts`` as :func:`h3_neighbours` returns them (self first). Returns one
    row per cell: ``gi``, ``z``, ``p_sim`` (two-sided pseudo p of the permutations, NaN
    without), ``p_z_sim`` (two-sided normal p of the observation against the permutations'
    mean and sd), ``p_binom`` (two-sided exact p of the neighbourhood count under complete
    spatial randomness, counts only), ``p_norm`` (two-sided normal p of z), ``p_fdr`` (BH
    of the p chosen by ``p_value``: ``sim`` (default), ``binomial``, ``z_sim`` or ``norm``;
    NaN counts as 1) and ``hotspot``
    (hot | cold | ns).
    """
    from scipy.stats import norm

    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 3:
        msg = f"Gi* needs at least 3 cells, got {n}"
        raise ValueError(msg)
    valid = neighbours >= 0
    safe = np.where(valid, neighbours, 0)
    local = (x[safe] * valid).sum(axis=1)
    w = counts.astype(float)
    total = x.sum()
    mean = total / n
    sd = np.sqrt(max((x**2).mean() - mean**2, 0.0))
    gi = local / total if total > 0 else np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = sd * np.sqrt((n * w - w**2) / (n - 1))
        z = np.where(denom > 0, (local - mean * w) / denom, 0.0)
    p_norm = 2.0 * norm.sf(np.abs(z))
    p_sim = np.full(n, np.nan)
    p_z_sim = np.full(n, np.nan)
    if permutations > 0 and sd > 0:
        p_sim, z_sim = _permutation_p(x, local, counts, permutations=permutations, seed=seed,
                                      conditional=conditional)
        p_z_sim = 2.0 * norm.sf(np.abs(z_sim))
    p_binom = _binomial_p(x, local, w)
    if p_value not in ("sim", "binomial", "z_sim", "norm"):
        msg = f"p_value {p_value!r} is not one of: sim, binomial, z_sim, norm"
        raise ValueError(msg)
    chosen = {"z_sim": p_z_sim, "sim": p_sim, "norm": p_norm, "binomial": p_binom}[p_value]
    p_fdr = bh_fdr(np.where(np.isnan(chosen), 1.0, chosen))
    cls = np.where(p_fdr < alpha, np.where(z > 0, "hot", "cold"), "ns")
    return pd.DataFrame({"x": x, "gi": gi, "z": z, "p_sim": p_sim, "p_z_sim": p_z_sim,
                         "p_binom": p_binom, "p_norm": p_norm, "p_fdr": p_fdr,
                         "hotspot": cls})


def _binomial_p(x: np.ndarray, local: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Two-sided p of each neighbourhood count under complete spatial randomness.

    With N events placed independently and uniformly over n equal cells, the count in a
    neighbourhood of W cells is Binomial(N, W/n). NaN unless x are non-negative integers.
    """
    from scipy.stats import binom

    if (x < 0).any() or not np.allclose(x, np.round(x)):
        return np.full(len(x), np.nan)
    total = round(float(x.sum()))
    share = w / len(x)
    obs = np.round(local)
    upper = binom.sf(obs - 1, total, share)
    lower = binom.cdf(obs, total, share)
    return np.minimum(1.0, 2.0 * np.minimum(upper, lower))


def _distinct_draws(n: int, k: int, rows: int, seed: int | None) -> np.ndarray:
    """``rows`` draws of ``k`` distinct integers in [0, n): sampled with replacement, and the
    rare rows holding a repeat drawn again (vectorised; exact without-replacement samples)."""
    if k > n:
        msg = f"cannot draw {k} distinct cells out of {n}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(rows, k))
    while True:
        srt = np.sort(draws, axis=1)
        bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if len(bad) == 0:
            return draws
        draws[bad] = rng.integers(0, n, size=(len(bad), k))


def _permutation_p(x: np.ndarray, local: np.ndarray, counts: np.ndarray, *, permutations: int,
                   seed: int | None, conditional: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided conditional-randomisation p of each cell's neighbourhood sum, and its z.

    The z is the observed neighbour sum against the mean and standard deviation of the
    simulated ones (esda's ``z_sim``). Without ``conditional`` (total randomisation) the whole
    neighbourhood, the cell itself included, is drawn from all n cells.

    Each permutation draws kmax + 1 distinct cells out of all n, shared by every cell; cell i
    with m neighbours takes the first m draws that are not i itself (a uniform m-subset of the
    other n − 1 cells). The neighbourhood sums of the draws are prefix sums, identical for all
    cells with the same m, so the counts of simulated sums ≥ / ≤ the observed one come from one
    sorted column per m and a binary search; only the few (cell, permutation) pairs where the
    cell drew itself are corrected one by one.
    """
    n = len(x)
    # Values drawn per cell: its neighbours (conditional) or its whole neighbourhood (total).
    m = counts.astype(np.int64) - (1 if conditional else 0)
    kmax = int(m.max())
    if kmax <= 0:
        return np.ones(n), np.zeros(n)
    draws = _distinct_draws(n, kmax + 1, permutations, seed)  # (P, kmax + 1)
    prefix = np.zeros((permutations, kmax + 2))
    prefix[:, 1:] = np.cumsum(x[draws], axis=1)  # prefix[p, j]: sum of the first j draws
    thr = local - x if conditional else local.astype(float)  # the observed drawn part
    eps = 1e-9 * max(1.0, float(np.abs(x).max()))
    ge = np.zeros(n)
    le = np.zeros(n)
    for k in np.unique(m).tolist():
        cells = np.flatnonzero(m == k)
        col = np.sort(prefix[:, k])
        ge[cells] = permutations - np.searchsorted(col, thr[cells] - eps, side="left")
        le[cells] = np.searchsorted(col, thr[cells] + eps, side="right")
    # Where cell i is among its own first m_i draws, replace it with draw m_i.
    p_idx, j_idx = np.nonzero(np.ones_like(draws, dtype=bool))
    i_idx = draws[p_idx, j_idx]
    hit = (j_idx < m[i_idx]) & conditional
    p_idx, i_idx = p_idx[hit], i_idx[hit]
    k_i = m[i_idx]
    base = prefix[p_idx, k_i]
    fixed = base - x[i_idx] + x[draws[p_idx, k_i]]
    t = thr[i_idx]
    np.add.at(ge, i_idx, (fixed >= t - eps).astype(float) - (base >= t - eps))
    np.add.at(le, i_idx, (fixed <= t + eps).astype(float) - (base <= t + eps))
    # Moments of the simulated sums (for the z of the observation against them).
    s1 = np.zeros(n)
    s2 = np.zeros(n)
    for k in np.unique(m).tolist():
        cells = np.flatnonzero(m == k)
        s1[cells] = prefix[:, k].sum()
        s2[cells] = (prefix[:, k] ** 2).sum()
    np.add.at(s1, i_idx, fixed - base)
    np.add.at(s2, i_idx, fixed**2 - base**2)
    mean = s1 / permutations
    sd = np.sqrt(np.maximum(s2 / permutations - mean**2, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z_sim = np.where(sd > 0, (thr - mean) / sd, 0.0)
    folded = (np.minimum(ge, le) + 1.0) / (permutations + 1.0)
    return np.minimum(2.0 * folded, 1.0), z_sim


def hotspot_frame(
    study_cells: np.ndarray,
    point_cells: Iterable[int] | np.ndarray,
    *,
    k: int = 1,
    permutations: int = 99_999,
    alpha: float = 0.05,
    seed: int | None = 0,
    p_value: str = "binomial",
    conditional: bool = False,
    geometry: bool = True,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Gi* of the hazard count per study cell; ``point_cells`` are the hazards' H3 cells.

    Hazards outside the study cells are ignored. Returns ``h3_cell``, ``hazards`` and the
    columns of :func:`gi_star`, with the cell polygons (EPSG:4326) when ``geometry``.
    """
    cells = np.unique(np.asarray(study_cells, dtype=np.int64))
    pc = np.asarray(point_cells, dtype=np.int64)
    pos = np.searchsorted(cells, pc)
    inside = (pos < len(cells)) & (cells[np.minimum(pos, len(cells) - 1)] == pc)
    x = np.bincount(pos[inside], minlength=len(cells)).astype(float)
    nb, counts = h3_neighbours(cells, k=k)
    stats = gi_star(x, nb, counts, permutations=permutations, alpha=alpha, seed=seed,
                    p_value=p_value, conditional=conditional)
    stats.insert(0, "h3_cell", cells)
    stats = stats.rename(columns={"x": "hazards"})
    stats["hazards"] = stats["hazards"].astype(np.int64)
    if not geometry:
        return stats
    polys = [shapely.Polygon(cell_boundary(int(c))) for c in cells.tolist()]
    return gpd.GeoDataFrame(stats, geometry=polys, crs=4326)
