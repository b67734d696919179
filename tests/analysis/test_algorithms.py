"""gis.analysis on planted data: clusters, Gi* hot spots, associations, trends (no database)."""

from __future__ import annotations

import doctest

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from h3.api import basic_int as h3i
from scipy.stats import false_discovery_control
from shapely.geometry import Point

from gis.analysis import (
    ClusterRules,
    associations,
    bh_fdr,
    classify_clusters,
    cluster_polygons,
    clusters,
    cooccurrence,
    dbscan_labels,
    gi_star,
    h3_neighbours,
    hotspot_frame,
    hotspots,
    mann_kendall,
    metric_crs,
    monthly_counts,
    project_xy,
    trends,
)

ORIGIN = (120.60, 30.05)


def _doctests(module) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_doctests():
    for module in (clusters, hotspots, associations):
        _doctests(module)


def _points_m(xy_m: np.ndarray, cats: list[str]) -> gpd.GeoDataFrame:
    """Points given in metres east/north of ORIGIN, as EPSG:4326."""
    crs = metric_crs(np.array([ORIGIN[0]]), np.array([ORIGIN[1]]))
    o = gpd.GeoSeries([Point(ORIGIN)], crs=4326).to_crs(crs).iloc[0]
    geo = gpd.GeoSeries(gpd.points_from_xy(xy_m[:, 0] + o.x, xy_m[:, 1] + o.y), crs=crs)
    return gpd.GeoDataFrame({"category": cats}, geometry=geo.to_crs(4326).to_numpy(), crs=4326)


def test_dbscan_finds_planted_cluster_not_noise():
    rng = np.random.default_rng(7)
    noise = rng.uniform(-3000, 3000, (400, 2))  # ~11 points per km²
    planted = rng.normal(0, 12, (20, 2)) + np.array([800.0, -400.0])
    frame = _points_m(np.vstack([noise, planted]), ["ebike"] * 420)
    xy, crs = project_xy(frame)
    assert crs.to_epsg() == 32651  # UTM 51N at 120.6° E
    labels = dbscan_labels(xy, eps_m=50, min_samples=5)
    assert set(labels[400:]) == {0}  # every planted point, one cluster
    assert (labels[:400] == -1).sum() >= 398  # noise stays noise (a neighbour may border it)
    assert labels.max() == 0
    polys = cluster_polygons(frame, labels, xy=xy, crs=crs, buffer_m=15)
    assert len(polys) == 1 and polys.crs.to_epsg() == 4326
    c = polys.iloc[0]
    assert c.members == len(np.flatnonzero(labels == 0))
    assert c.dominant_category == "ebike" and c.dominant_share == 1.0
    assert 2_000 < c.area_m2 < 20_000  # ~60 m across, buffered 15 m
    assert polys.geometry.iloc[0].contains(frame.geometry.iloc[410])


def test_dbscan_matches_sklearn_partition():
    from sklearn.cluster import DBSCAN

    rng = np.random.default_rng(1)
    xy = np.vstack([rng.uniform(0, 2000, (2000, 2)), rng.normal(500, 15, (150, 2)),
                    rng.normal(1500, 30, (250, 2))])
    ours = dbscan_labels(xy, eps_m=30, min_samples=6)
    ref = DBSCAN(eps=30, min_samples=6).fit(xy)
    core = np.zeros(len(xy), dtype=bool)
    core[ref.core_sample_indices_] = True
    table = pd.crosstab(ours[core], ref.labels_[core])
    assert ((table > 0).sum(axis=0) == 1).all() and ((table > 0).sum(axis=1) == 1).all()
    assert np.array_equal(ours >= 0, ref.labels_ >= 0)


def test_classify_similar_and_systemic():
    frame = pd.DataFrame({
        "members": [8, 20, 20, 6],
        "n_categories": [1, 4, 4, 3],
        "dominant_share": [1.0, 0.3, 0.3, 0.34],
        "density_per_km2": [900.0, 1500.0, 1500.0, 800.0],
        "previous_members": [3, 4, 20, 0],
    })
    out = classify_clusters(frame, ClusterRules())
    assert out["kind"].tolist() == ["similar", "systemic", "mixed", "mixed"]
    assert out["level"].tolist() == ["yellow", "red", None, None]  # not growing: no red


def _study(res: int = 9) -> np.ndarray:
    centre = h3i.latlng_to_cell(ORIGIN[1], ORIGIN[0], res)
    return np.array(sorted(h3i.grid_disk(centre, 14)), dtype=np.int64)  # 631 cells


def test_gi_star_z_equals_esda():
    from esda.getisord import G_Local
    from libpysal.weights import W

    cells = _study()
    nb, counts = h3_neighbours(cells)
    rng = np.random.default_rng(3)
    y = rng.poisson(4, len(cells)).astype(float)
    w = W({i: [int(j) for j in nb[i, 1:counts[i]]] for i in range(len(cells))},
          silence_warnings=True)
    ref = G_Local(y, w, star=True, transform="B", permutations=0)
    ours = gi_star(y, nb, counts, permutations=0)
    np.testing.assert_allclose(ours["z"], ref.Zs, atol=1e-9)
    np.testing.assert_allclose(ours["gi"], ref.Gs, atol=1e-12)


def test_gi_star_flags_planted_hot_cells_not_uniform_random():
    cells = _study()
    rng = np.random.default_rng(11)
    centre = h3i.latlng_to_cell(ORIGIN[1], ORIGIN[0] + 0.02, 9)
    hot = list(h3i.grid_disk(centre, 1))  # 7 planted cells
    points = [int(c) for c in rng.choice(cells, 3000)]  # uniform, ~4.8 per cell
    for c in hot:
        points += [int(c)] * 25
    frame = hotspot_frame(cells, points, seed=1)
    by_cell = frame.set_index("h3_cell")
    assert (by_cell.loc[hot, "hotspot"] == "hot").all()
    assert (by_cell.loc[hot, "p_fdr"] < 0.05).all()
    assert np.allclose(by_cell.loc[hot, "p_sim"], 2 / 100_000)
    far = [c for c in cells.tolist() if h3i.grid_distance(c, centre) > 3]
    assert (by_cell.loc[far, "hotspot"] != "hot").all()  # FDR: a stray cold cell may occur
    assert frame.crs.to_epsg() == 4326 and frame.geometry.iloc[0].contains(
        Point(h3i.cell_to_latlng(int(frame.h3_cell.iloc[0]))[::-1]))

    uniform = hotspot_frame(cells, [int(c) for c in rng.choice(cells, 3000)],
                            seed=2, geometry=False)
    assert (uniform["hotspot"] == "ns").all()
    assert uniform["p_fdr"].min() > 0.05


def test_bh_fdr_matches_scipy():
    p = np.random.default_rng(0).uniform(size=200) ** 3
    np.testing.assert_allclose(bh_fdr(p), false_discovery_control(p), atol=1e-12)


def test_cooccurrence_finds_planted_pair_not_independent_one():
    rng = np.random.default_rng(5)
    n = 400
    base = rng.poisson(2.0, n)
    table = pd.DataFrame({
        "ebike": base + rng.poisson(0.3, n),
        "fire_passage": base + rng.poisson(0.3, n),  # follows ebike (seed 002, r = 0.78)
        "gas": rng.poisson(1.5, n),
        "electrical": rng.poisson(1.5, n),  # independent of gas
    })
    pairs = cooccurrence(table, permutations=999).set_index(["a", "b"])
    planted = pairs.loc[("ebike", "fire_passage")]
    assert planted["r"] > 0.7 and planted["p_fdr"] < 0.01 and planted["significant"]
    assert planted["p_perm"] == pytest.approx(1 / 1000)
    key = ("gas", "electrical") if ("gas", "electrical") in pairs.index else ("electrical", "gas")
    indep = pairs.loc[key]
    assert abs(indep["r"]) < 0.15 and not indep["significant"] and indep["p_fdr"] > 0.05
    assert pairs["significant"].sum() == 1


def test_trends_detect_planted_rise_and_season_not_flat_noise():
    rng = np.random.default_rng(9)
    months = pd.date_range("2024-01-01", periods=36, freq="MS")
    rows = []
    for i, m in enumerate(months):
        rows += [("electrical", m)] * int(rng.poisson(5 + 0.8 * i))  # rising
        rows += [("seasonal", m)] * int(rng.poisson(20 if m.month in (12, 1, 2) else 3))
        rows += [("gas", m)] * int(rng.poisson(8))  # flat
    frame = pd.DataFrame(rows, columns=["category", "reported_at"])
    frame["reported_at"] = (pd.to_datetime(frame["reported_at"]) + pd.Timedelta(days=3)
                            ).dt.tz_localize("UTC")
    table = monthly_counts(frame["reported_at"], frame["category"],
                           first=months[0], last=months[-1])
    assert table.shape == (36, 3) and table.values.sum() == len(frame)
    out = trends(table).set_index("category")
    assert out.loc["electrical", "trend"] == "increasing"
    assert out.loc["electrical", "sen_slope"] == pytest.approx(0.8, abs=0.3)
    assert out.loc["gas", "trend"] == "none"
    assert out.loc["seasonal", "peak_month"] in (12, 1, 2)
    assert out.loc["seasonal", "seasonal_index"][1] > 2.0
    assert out.loc["seasonal", "seasonal_index"][7] < 0.6


def test_mann_kendall_sign_and_ties():
    assert mann_kendall(np.arange(20.0)[::-1])["z"] < -4
    flat = mann_kendall(np.ones(12))
    assert flat["s"] == 0 and flat["p"] == 1.0


def test_lone_hot_cell_binomial_vs_permutation_nulls():
    cells = _study()
    rng = np.random.default_rng(21)
    lone = int(h3i.latlng_to_cell(ORIGIN[1], ORIGIN[0], 9))
    points = [int(c) for c in rng.choice(cells, 600)] + [lone] * 20
    csr = hotspot_frame(cells, points, seed=3, geometry=False).set_index("h3_cell")
    cond = hotspot_frame(cells, points, seed=3, conditional=True, p_value="sim",
                         geometry=False).set_index("h3_cell")
    assert csr.loc[lone, "hotspot"] == "hot" and csr.loc[lone, "p_fdr"] < 0.05
    assert (csr["hotspot"] == "hot").sum() <= 7  # the lone cell and its ring, no more
    assert cond.loc[lone, "hotspot"] == "ns"  # conditional: its neighbours are ordinary
    np.testing.assert_allclose(csr["z"], cond["z"])  # same statistic, different null
    # Total randomisation reproduces the analytic moments: z_sim tracks z.
    nb, counts = h3_neighbours(cells)
    x = csr["hazards"].to_numpy(dtype=float)
    g = gi_star(x, nb, counts, seed=0)
    from scipy.stats import norm

    z_sim = norm.isf(g["p_z_sim"] / 2) * np.sign(g["z"])
    big = np.abs(g["z"]) > 1.5
    np.testing.assert_allclose(z_sim[big], g["z"][big], rtol=0.15)
