"""The risk model's features, training and scoring on a Dask LocalCluster vs one process."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from gis.risk import model
from gis.risk.distributed import AUC_TOLERANCE, fit_dask, predict_dask, unit_features_dask
from gis.risk.evaluate import auc
from gis.risk.features import CATEGORICAL, FEATURE_NAMES, cutoff_instant, fire_labels, unit_features

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def _set(conn, day: date) -> tuple[pd.DataFrame, np.ndarray]:
    at = cutoff_instant(day, "Asia/Shanghai")
    X = unit_features(conn, at)
    fired = fire_labels(conn, at, months=12)
    return X, X.index.isin(fired.index).astype(np.float32)


def test_features_on_dask_equal_single_process(client, risk_url, rconn):
    at = cutoff_instant(date(2025, 6, 30), "Asia/Shanghai")
    single = unit_features(rconn, at)
    remote = unit_features_dask(risk_url, at, client, partitions=5)
    assert len(single) >= 600 and single["hazards_1y"].sum() > 0  # real features to compare
    pd.testing.assert_frame_equal(remote, single)


def test_training_and_scoring_on_dask_match_single_process(client, rconn):
    X, y = _set(rconn, date(2024, 6, 30))
    X_later, y_later = _set(rconn, date(2025, 6, 30))
    assert y.sum() >= 10 and y_later.sum() >= 10
    cols = list(FEATURE_NAMES)
    booster, summary = model.fit(X[cols], y, groups=X.index.to_numpy(),
                                 categorical=list(CATEGORICAL), seed=7, num_threads=1)
    rounds = summary["best_iteration"]
    remote = fit_dask(X[cols], y, client, categorical=list(CATEGORICAL), num_rounds=rounds,
                      seed=7)
    assert remote.current_iteration() == rounds
    single_auc = auc(y_later, model.predict(booster, X_later[cols]))
    dask_auc = auc(y_later, model.predict(remote, X_later[cols]))
    assert single_auc > 0.7  # the planted factor is learnt
    assert abs(dask_auc - single_auc) <= AUC_TOLERANCE
    scored = predict_dask(booster, X_later[cols], client, partitions=3)
    np.testing.assert_allclose(scored, model.predict(booster, X_later[cols]), rtol=0, atol=1e-12)
