"""The monthly double-random (双随机) draw: random units, riskier ones likelier; random inspectors.

双随机、一公开: inspection objects and inspectors are both drawn at random. Seed 000 adds that
the risk ranking drives the draw, high-risk units sampled in proportion. The list has
``n = round(sample_share × units)`` units:

1. ``round(high_risk_share × n)`` drawn from the high-risk units (tiers in ``high_risk_tiers``),
   each with weight ``weight_floor + score`` (all of them when there are fewer);
2. the rest from all remaining units with the same weights, so every unit can be drawn and the
   chance rises with the score.

Weighted draws without replacement use exponential keys (Efraimidis–Spirakis: the ``k`` largest
``log(u) / w``), so a seed reproduces the list exactly. Inspectors are dealt round-robin over a
random permutation of the list: loads differ by at most one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Draw:
    """Positions of the drawn units in the input arrays, their stratum and inspector."""

    index: np.ndarray
    stratum: np.ndarray  # "high_risk" | "random"
    inspector: np.ndarray  # inspector ids (-1 when there are none)


def weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """``k`` distinct positions drawn with probability proportional to ``weights``.

    >>> rng = np.random.default_rng(1)
    >>> sorted(weighted_sample(rng, np.array([1.0, 1.0, 1e9]), 1).tolist())
    [2]
    """
    w = np.asarray(weights, dtype=float)
    k = min(k, len(w))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.log(rng.random(len(w))) / np.maximum(w, 1e-12)
    return np.argsort(-keys, kind="stable")[:k]


def draw(
    scores: np.ndarray,
    high_risk: np.ndarray,
    inspectors: np.ndarray,
    *,
    seed: int,
    sample_share: float,
    high_risk_share: float,
    weight_floor: float,
) -> Draw:
    """Draw the month's list from units with ``scores`` (0–100) and ``high_risk`` flags.

    >>> d = draw(np.arange(100.0), np.arange(100) >= 90, np.array([7, 8]), seed=3,
    ...          sample_share=0.1, high_risk_share=0.5, weight_floor=10.0)
    >>> len(d.index), int((d.stratum == "high_risk").sum()), sorted(set(d.inspector.tolist()))
    (10, 5, [7, 8])
    """
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    high_risk = np.asarray(high_risk, dtype=bool)
    rng = np.random.default_rng(seed)
    n = len(scores)
    total = min(n, round(sample_share * n)) if n else 0
    if n and total == 0:
        total = 1
    weights = weight_floor + scores
    hi = np.flatnonzero(high_risk)
    n_hi = min(len(hi), round(high_risk_share * total))
    pick_hi = hi[weighted_sample(rng, weights[hi], n_hi)]
    rest = np.setdiff1d(np.arange(n), pick_hi, assume_unique=False)
    pick_rest = rest[weighted_sample(rng, weights[rest], total - n_hi)]
    index = np.concatenate([pick_hi, pick_rest]).astype(np.int64)
    stratum = np.array(["high_risk"] * len(pick_hi) + ["random"] * len(pick_rest), dtype=object)
    inspectors = np.asarray(inspectors)
    if len(inspectors):
        order = rng.permutation(len(index))
        dealt = np.empty(len(index), dtype=np.int64)
        dealt[order] = inspectors[rng.permutation(len(inspectors))][
            np.arange(len(index)) % len(inspectors)]
    else:
        dealt = np.full(len(index), -1, dtype=np.int64)
    return Draw(index=index, stratum=stratum, inspector=dealt)
