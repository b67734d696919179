"""Hot spots on a Dask LocalCluster equal the single-process answers, exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gis.analysis import dbscan_labels, hotspot_frame, project_xy
from gis.analysis.distributed import dbscan_labels_tiled, hotspot_frames
from gis.grid import cells_for_points


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def _points(n: int, seed: int = 3):
    """Hazards over 12 × 12 km: 60 % scattered, 40 % in 300 tight groups (sd 30 m)."""
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    lon = 118.9 + rng.uniform(0, 0.145, n)
    lat = 42.2 + rng.uniform(0, 0.108, n)
    grouped = rng.random(n) < 0.4
    centre = rng.integers(0, 300, n)
    lon[grouped] = lon[centre[grouped]] + rng.normal(0, 30, grouped.sum()) / 82_000
    lat[grouped] = lat[centre[grouped]] + rng.normal(0, 30, grouped.sum()) / 110_600
    cats = np.array(["ebike", "electrical", "fire_passage", "gas"])[rng.integers(0, 4, n)]
    return gpd.GeoDataFrame({"category": cats}, geometry=gpd.points_from_xy(lon, lat), crs=4326)


@pytest.mark.parametrize("tile_m", [700.0, 2_500.0])
def test_tiled_dbscan_on_dask_equals_single_process(client, tile_m):
    xy, _ = project_xy(_points(30_000))
    single = dbscan_labels(xy, eps_m=40.0, min_samples=5)
    assert (single >= 0).sum() > 5_000 and single.max() > 100  # a real clustering to compare
    tiled = dbscan_labels_tiled(xy, eps_m=40.0, min_samples=5, tile_m=tile_m, client=client)
    np.testing.assert_array_equal(tiled, single)
    here = dbscan_labels_tiled(xy, eps_m=40.0, min_samples=5, tile_m=tile_m)
    np.testing.assert_array_equal(here, single)


def test_hotspot_frames_on_dask_equal_single_process(client):
    pts = _points(20_000)
    cells9 = cells_for_points(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(),
                              resolutions=(9,))[9]
    study = np.unique(cells9)
    groups = {"all": cells9, **{c: cells9[(pts["category"] == c).to_numpy()]
                                for c in sorted(pts["category"].unique())}}
    kw = {"permutations": 999, "seed": 7, "p_value": "binomial", "geometry": False}
    remote = hotspot_frames(study, groups, client=client, **kw)
    assert list(remote) == list(groups)
    for name, cells in groups.items():
        local = hotspot_frame(study, cells, **kw)
        pd.testing.assert_frame_equal(remote[name], local)
    assert (remote["all"]["hotspot"] == "hot").sum() > 0  # a real result to compare
    assert remote["all"]["p_sim"].notna().all()  # the permutations ran on the workers


@pytest.mark.postgis
async def test_refresh_on_a_dask_scheduler_stores_what_a_local_refresh_stores(client, db_url):
    """FIRETWIN_ANALYSIS_DASK_SCHEDULER: the district-wide refresh runs its tiles and frames on
    the cluster and stores the same clusters, members and hot-spot cells as a local refresh."""
    from datetime import UTC, datetime, timedelta

    import geopandas as gpd
    import psycopg

    from gis.bulk import copy_frame
    from services.workflows.hotspots import AnalysisSettings, refresh_analysis
    from tests.conftest import fresh_sibling_database
    from tests.services import small_district

    now = datetime(2026, 6, 1, tzinfo=UTC)
    rng = np.random.default_rng(11)
    lon = np.r_[rng.uniform(120.505, 120.695, 400), 120.535 + rng.normal(0, 1e-4, 40),
                120.65 + rng.normal(0, 1e-4, 30)]
    lat = np.r_[rng.uniform(30.005, 30.095, 400), 30.03 + rng.normal(0, 1e-4, 40),
                30.07 + rng.normal(0, 1e-4, 30)]
    n = len(lon)
    cats = np.array(["ebike", "electrical", "gas", "fire_passage"])[rng.integers(0, 4, n)]
    sub = {"ebike": "ebike_indoor_charging", "electrical": "illegal_wiring",
           "gas": "cylinder_storage", "fire_passage": "corridor_clutter"}
    frame = gpd.GeoDataFrame(
        {"id": np.arange(1, n + 1), "code": [f"D-{i}" for i in range(n)], "category": cats,
         "subcategory": [sub[c] for c in cats], "tier": "blue", "status": "reported",
         "source": "grid_worker", "title": "test",
         "reported_at": [now - timedelta(days=float(d)) for d in rng.uniform(1, 80, n)]},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)
    stored = []
    for suffix, scheduler in (("_dask_local", None), ("_dask_remote", client.scheduler.address)):
        url = fresh_sibling_database(db_url, suffix)
        small_district.build(url)
        with psycopg.connect(url) as conn:
            copy_frame(conn, "hazard", frame)
            conn.commit()
        settings = AnalysisSettings(dask_scheduler=scheduler, dask_tile_m=2_000.0,
                                    permutations=999)
        async with await psycopg.AsyncConnection.connect(url) as aconn:
            summary = await refresh_analysis(aconn, now=now, settings=settings)
            await aconn.commit()
        with psycopg.connect(url) as conn:
            members = conn.execute("SELECT id, cluster_id FROM firetwin.hazard ORDER BY id"
                                   ).fetchall()
            cells = conn.execute(
                "SELECT h3_cell, category, hazards, z, p_sim, p_fdr, hotspot, ST_AsText(geom) "
                "FROM firetwin.hotspot_cell ORDER BY category, h3_cell").fetchall()
        summary.pop("warnings_sent")
        stored.append((summary, members, cells))
    (s1, m1, c1), (s2, m2, c2) = stored
    assert s1 == s2 and s1["clusters"] >= 2
    assert m1 == m2 and sum(1 for _, c in m1 if c is not None) >= 70
    assert len(c1) > 100 and c1 == c2
