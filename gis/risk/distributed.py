"""The risk model's batch work on a Dask cluster: features, training and scoring.

* **Features** (:func:`unit_features_dask`): the units are cut into id ranges; each task opens
  its own connection and runs :func:`gis.risk.features.unit_features` for its range. Every
  feature of a unit depends only on that unit's rows and on district-wide cell counts each task
  reads whole, so the joined frame equals the single-process one exactly.
* **Training** (:func:`fit_dask`): ``lightgbm.dask.DaskLGBMClassifier`` — LightGBM's own
  distributed training (data-parallel, one LightGBM worker per Dask worker) — with the
  single-process model's parameters and its number of rounds. Histograms are built per worker,
  so the trees differ slightly: the test and the bench hold the later-period AUC to within
  ``AUC_TOLERANCE`` of the single-process model.
* **Scoring** (:func:`predict_dask`): the booster is sent once to every worker and each task
  scores a slice of the rows — the same numbers as ``gis.risk.model.predict``.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import psycopg

from gis.risk import model
from gis.risk.features import history_start, unit_features

__all__ = ["AUC_TOLERANCE", "fit_dask", "predict_dask", "unit_features_dask"]

#: Largest later-period AUC difference accepted between Dask and single-process training.
AUC_TOLERANCE = 0.02


def _features_part(ids: np.ndarray, *, url: str, cutoff: datetime,
                   start: datetime | None) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        return unit_features(conn, cutoff, unit_ids=ids.tolist(), start=start)


def unit_features_dask(url: str, cutoff: datetime, client: Any, *,
                       partitions: int | None = None) -> pd.DataFrame:
    """:func:`unit_features` of every unit, computed by id range on the Dask workers."""
    with psycopg.connect(url) as conn:
        ids = np.array([r[0] for r in conn.execute("SELECT id FROM firetwin.unit ORDER BY id")],
                       dtype=np.int64)
        start = history_start(conn)
    n_parts = partitions or max(1, 4 * len(client.scheduler_info()["workers"]))
    chunks = [c for c in np.array_split(ids, min(n_parts, max(1, len(ids)))) if len(c)]
    futures = client.map(_features_part, chunks, url=url, cutoff=cutoff, start=start,
                         pure=False)
    return pd.concat(client.gather(futures)).sort_index()


def fit_dask(X: pd.DataFrame, y: np.ndarray, client: Any, *, categorical: list[str],
             num_rounds: int, seed: int = 7, params: dict[str, Any] | None = None) -> lgb.Booster:
    """Train with LightGBM's Dask estimator on ``num_rounds`` rounds; the local booster."""
    import dask.array as da

    p = {**model.DEFAULT_PARAMS, **(params or {})}
    p["min_data_in_leaf"] = int(min(p["min_data_in_leaf"], max(20, len(X) // 200)))
    p["min_data_per_group"] = int(min(p["min_data_per_group"], max(20, len(X) // 200)))
    p.pop("objective", None)
    workers = max(1, len(client.scheduler_info()["workers"]))
    rows = -(-len(X) // workers)  # one block of rows per worker
    dX = da.from_array(X.to_numpy(dtype=np.float32), chunks=(rows, X.shape[1]))
    dy = da.from_array(np.asarray(y, dtype=np.float32), chunks=(rows,))
    est = lgb.DaskLGBMClassifier(client=client, n_estimators=num_rounds, random_state=seed,
                                 **p)
    est.fit(dX, dy, feature_name=list(X.columns), categorical_feature=categorical)
    return est.to_local().booster_


def predict_dask(booster: lgb.Booster, X: pd.DataFrame, client: Any, *,
                 partitions: int | None = None) -> np.ndarray:
    """``model.predict`` of every row, slices of rows scored on the workers."""
    remote = client.scatter(booster, broadcast=True)
    n_parts = partitions or max(1, 2 * len(client.scheduler_info()["workers"]))
    bounds = np.linspace(0, len(X), min(n_parts, max(1, len(X))) + 1).astype(int)
    futures = [client.submit(model.predict, remote, X.iloc[a:b], num_threads=1, pure=False)
               for a, b in itertools.pairwise(bounds) if b > a]
    return np.concatenate(client.gather(futures))
