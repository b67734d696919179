"""The fire-risk model: LightGBM on per-unit features, pure functions (no database).

- ``fit`` trains a binary LightGBM model of "a fire in the next 12 months" on stacked feature
  snapshots, with early stopping on a held-out share of *units* (every snapshot of a unit falls
  on the same side, so the stopping rule does not see a unit it trains on).
- ``score_frame`` turns predicted probabilities into a 0–100 score: the percentage of the
  reference population (the most recent training snapshot) with a lower predicted probability,
  so a score of 95 means "riskier than 95 % of units". Tiers cut the score at fixed thresholds.
- ``top_factors`` names each unit's largest positive contributions (LightGBM ``pred_contrib``,
  TreeSHAP values in log-odds) with the feature value.

A ``RiskArtifact`` (booster, feature names, score quantiles, parameters) is saved as two files:
``<version>.txt`` (the LightGBM model) and ``<version>.json`` (the rest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from gis import vocab

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 7,
    "max_depth": 3,
    "min_data_in_leaf": 200,
    "min_sum_hessian_in_leaf": 5.0,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "cat_smooth": 50.0,
    "min_data_per_group": 200,
    "max_bin": 63,
    "verbose": -1,
}
#: Features whose rise never lowers the risk (domain knowledge; steadies a model fitted on few
#: fires). Everything else may act either way.
MONOTONE_UP = (
    "hazards_rate", "hazards_1y", "hz_ebike_rate", "hz_electrical_rate", "hz_gas_rate",
    "hz_ebike_1y", "hz_electrical_1y", "open_hazards", "overdue_hazards", "delay_mean_d",
    "delay_max_d", "building_age_y", "high_rise", "floor_area_log",
)
NUM_ROUNDS = 600
EARLY_STOPPING = 60
VALID_SHARE = 0.2
#: Tier thresholds on the 0–100 score (lowest score of each tier above ``low``).
TIER_THRESHOLDS = {"medium": 50.0, "high": 80.0, "very_high": 95.0}
QUANTILES = 1001


@dataclass
class RiskArtifact:
    """A trained model with what scoring needs."""

    booster: lgb.Booster
    features: list[str]
    categorical: list[str]
    quantiles: np.ndarray  # predicted probability at each permille of the reference population
    params: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: Path, version: str) -> Path:
        """Write ``<version>.txt`` and ``<version>.json`` into ``directory``; the model path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{version}.txt"
        self.booster.save_model(str(path))
        meta = {"features": self.features, "categorical": self.categorical,
                "quantiles": self.quantiles.tolist(), "params": self.params}
        (directory / f"{version}.json").write_text(json.dumps(meta), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path, version: str) -> RiskArtifact:
        """Read a saved model; FileNotFoundError when it is not there."""
        meta = json.loads((directory / f"{version}.json").read_text(encoding="utf-8"))
        booster = lgb.Booster(model_file=str(directory / f"{version}.txt"))
        return cls(booster, meta["features"], meta["categorical"],
                   np.asarray(meta["quantiles"]), meta.get("params", {}))


def fit(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    groups: np.ndarray,
    categorical: list[str],
    params: dict[str, Any] | None = None,
    seed: int = 7,
    num_threads: int = 0,
) -> tuple[lgb.Booster, dict[str, Any]]:
    """Train on rows ``X`` with 0/1 labels ``y``; ``groups`` are unit ids (held out together).

    Returns the booster (best iteration from early stopping on the held-out units) and a
    summary (rows, positives, best iteration, held-out log-loss).
    """
    p = {**DEFAULT_PARAMS, **(params or {}), "seed": seed, "num_threads": num_threads}
    up = p.pop("monotone_up", MONOTONE_UP)
    if "monotone_constraints" not in p and up:
        p["monotone_constraints"] = [1 if c in up else 0 for c in X.columns]
        p.setdefault("monotone_constraints_method", "advanced")
    # Small data: fewer rows per leaf, else the model cannot split at all.
    p["min_data_in_leaf"] = int(min(p["min_data_in_leaf"], max(20, len(X) // 200)))
    p["min_data_per_group"] = int(min(p["min_data_per_group"], max(20, len(X) // 200)))
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    held = rng.random(len(uniq)) < VALID_SHARE
    valid = np.isin(groups, uniq[held])
    y = np.asarray(y, dtype=np.float32)
    train = lgb.Dataset(X[~valid], y[~valid], categorical_feature=categorical,
                        free_raw_data=True, params={"max_bin": p["max_bin"]})
    sets = [train]
    callbacks = []
    if valid.any() and y[valid].sum() > 0:
        sets.append(lgb.Dataset(X[valid], y[valid], reference=train))
        callbacks.append(lgb.early_stopping(EARLY_STOPPING, verbose=False))
    booster = lgb.train(p, train, num_boost_round=NUM_ROUNDS, valid_sets=sets[1:],
                        callbacks=callbacks)
    best = booster.best_iteration or booster.current_iteration()
    summary = {"rows": len(X), "positives": int(y.sum()), "held_out_units": int(held.sum()),
               "best_iteration": int(best),
               "held_out_logloss": (round(float(booster.best_score["valid_0"]["binary_logloss"]), 6)
                                    if booster.best_score else None)}
    return booster, summary


def predict(booster: lgb.Booster, X: pd.DataFrame, *, num_threads: int = 0) -> np.ndarray:
    """Predicted probability of a fire in the next 12 months, per row."""
    return booster.predict(X, num_iteration=booster.best_iteration or None,
                           num_threads=num_threads)


def reference_quantiles(p: np.ndarray) -> np.ndarray:
    """The probabilities at 0, 0.1, …, 100 % of a reference population (for ``to_score``)."""
    return np.quantile(np.asarray(p, dtype=float), np.linspace(0, 1, QUANTILES))


def to_score(p: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """0–100 score: the share (%) of the reference population with a lower probability.

    >>> q = reference_quantiles(np.linspace(0.0, 1.0, 101))
    >>> to_score(np.array([0.0, 0.5, 1.0, 2.0]), q).tolist()
    [0.0, 50.0, 100.0, 100.0]
    """
    q = np.asarray(quantiles, dtype=float)
    p = np.asarray(p, dtype=float)
    n = len(q)
    left = np.searchsorted(q, p, side="left")
    right = np.searchsorted(q, p, side="right")
    # p equal to a run of tied quantiles (many units share a probability): middle of the run.
    pos = np.where(right > left, (left + right - 1) / 2.0, 0.0)
    inside = (right == left) & (left > 0) & (left < n)
    lo = np.clip(left - 1, 0, n - 1)
    hi = np.clip(left, 0, n - 1)
    span = np.where(inside, q[hi] - q[lo], 1.0)
    pos = np.where(inside, lo + (p - q[lo]) / np.where(span > 0, span, 1.0), pos)
    pos = np.where((right == left) & (left >= n), n - 1, pos)
    return np.round(np.clip(pos / (n - 1) * 100.0, 0.0, 100.0), 2)


def tiers(score: np.ndarray, thresholds: dict[str, float] | None = None) -> np.ndarray:
    """Tier of each score (``vocab.RISK_TIERS``), cut at ``thresholds``.

    >>> tiers(np.array([10.0, 50.0, 85.0, 99.0])).tolist()
    ['low', 'medium', 'high', 'very_high']
    """
    t = {**TIER_THRESHOLDS, **(thresholds or {})}
    cuts = [t["medium"], t["high"], t["very_high"]]
    if cuts != sorted(cuts):
        msg = f"tier thresholds must rise medium < high < very_high, got {cuts}"
        raise ValueError(msg)
    return np.asarray(vocab.RISK_TIERS, dtype=object)[np.searchsorted(cuts, score, side="right")]


def contributions(booster: lgb.Booster, X: pd.DataFrame, *, num_threads: int = 0) -> np.ndarray:
    """Per-row feature contributions in log-odds (last column: the expected value)."""
    return booster.predict(X, pred_contrib=True, num_iteration=booster.best_iteration or None,
                           num_threads=num_threads)


def top_factors(
    contrib: np.ndarray, X: pd.DataFrame, *, k: int = 3
) -> list[str]:
    """JSON text per row: the ``k`` largest positive contributions, largest first.

    Each item is ``{"feature", "value", "log_odds"}``; rows where nothing raises the risk get
    an empty list. Returned as JSON text for COPY (1e6 rows: no per-row ``json.dumps``).
    """
    c = contrib[:, :-1]
    names = np.asarray(X.columns)
    k = min(k, c.shape[1])
    top = np.argpartition(-c, k - 1, axis=1)[:, :k] if c.shape[1] > k else np.tile(
        np.arange(c.shape[1]), (len(c), 1))
    rows = np.arange(len(c))[:, None]
    order = np.argsort(-c[rows, top], axis=1)
    top = top[rows, order]
    vals = X.to_numpy(dtype=np.float64)[rows, top]
    cons = c[rows, top]
    out = []
    for fi, vi, ci in zip(names[top].tolist(), vals.tolist(), cons.tolist(), strict=True):
        items = [
            f'{{"feature": "{f}", "value": {_num(v)}, "log_odds": {round(x, 4)}}}'
            for f, v, x in zip(fi, vi, ci, strict=True) if x > 0
        ]
        out.append('{"top": [' + ", ".join(items) + "]}")
    return out


def _num(v: float) -> str:
    if v != v:  # NaN: a missing value
        return "null"
    return repr(round(v, 3))
