"""Ranking metrics for fire-risk scores on a later period, and the baselines they are judged by.

All metrics take 0/1 outcomes ``y`` and scores (higher = riskier) over the same units:

- ``auc``: area under the ROC curve (Mann–Whitney, ties counted half);
- ``pr_auc``: average precision (area under the precision–recall curve, ties as one block);
- ``lift_at(q)``: the fire rate among the top ``q`` share of units over the overall rate,
  ties at the cut broken by their expected share (so a constant score has lift 1);
- ``captured_at(q)``: the share of all later fires that fall in the top ``q`` share.

The random order has expected AUC 0.5, lift 1 and captures ``q`` of the fires; it is reported
from those expectations, not from one random draw.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC.

    >>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y = np.asarray(y, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision, tied scores taken as one block.

    >>> round(pr_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), 4)
    0.8333
    """
    y = np.asarray(y, dtype=float)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    s, t = np.asarray(score)[order], y[order]
    last = np.r_[s[1:] != s[:-1], True]  # end of each block of tied scores
    tp = np.cumsum(t)[last]
    n = (np.arange(1, len(t) + 1))[last]
    recall_gain = np.diff(np.r_[0.0, tp]) / y.sum()
    return float((recall_gain * (tp / n)).sum())


def _top_hits(y: np.ndarray, score: np.ndarray, q: float) -> float:
    """Expected number of positives among the top ``q`` share (ties split pro rata)."""
    n = len(y)
    k = q * n
    s = np.asarray(score, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    uniq_end = np.r_[np.flatnonzero(s[1:] != s[:-1]), n - 1]
    hits, taken, start = 0.0, 0, 0
    for end in uniq_end:
        size = end - start + 1
        block = y[start:end + 1].sum()
        if taken + size <= k:
            hits += block
            taken += size
        else:
            hits += block * (k - taken) / size
            break
        start = end + 1
    return hits


def lift_at(y: np.ndarray, score: np.ndarray, q: float) -> float:
    """Fire rate in the top ``q`` share over the overall fire rate."""
    y = np.asarray(y, dtype=float)
    if y.sum() == 0:
        return float("nan")
    return float(_top_hits(y, score, q) / (q * len(y)) / y.mean())


def captured_at(y: np.ndarray, score: np.ndarray, q: float) -> float:
    """Share of all positives inside the top ``q`` share."""
    y = np.asarray(y, dtype=float)
    if y.sum() == 0:
        return float("nan")
    return float(_top_hits(y, score, q) / y.sum())


def metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """AUC, PR-AUC, lift at 1 % and 10 %, share of fires in the top 10 % (rounded)."""
    y = np.asarray(y)
    return {
        "units": len(y),
        "fires": int(np.asarray(y, dtype=bool).sum()),
        "auc": round(auc(y, score), 4),
        "pr_auc": round(pr_auc(y, score), 4),
        "lift_1pct": round(lift_at(y, score, 0.01), 2),
        "lift_10pct": round(lift_at(y, score, 0.10), 2),
        "captured_top_10pct": round(captured_at(y, score, 0.10), 4),
    }


def random_baseline(y: np.ndarray) -> dict[str, float]:
    """Expected metrics of a random order."""
    y = np.asarray(y, dtype=bool)
    return {"units": len(y), "fires": int(y.sum()), "auc": 0.5, "pr_auc": round(float(y.mean()), 4),
            "lift_1pct": 1.0, "lift_10pct": 1.0, "captured_top_10pct": 0.1}
