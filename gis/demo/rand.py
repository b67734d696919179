"""Deterministic randomness: one numpy Generator per (seed, district, stage).

Each stage of the generator draws from its own stream, so changing how one stage uses random
numbers does not shift any other stage, and the same seed always gives the same district.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["categorical", "choice", "hex_tokens", "kmeans_seeds", "rng_for", "weighted_order"]


def rng_for(seed: int, district: int, stage: str) -> np.random.Generator:
    """The random stream of one stage of one district (district -1: world-level stages)."""
    key = zlib.crc32(stage.encode("utf-8"))
    return np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, district + 1, key])


def choice(
    rng: np.random.Generator, options: Sequence[str], probs: Sequence[float], n: int
) -> np.ndarray:
    """``n`` draws from ``options`` with (unnormalised) weights ``probs``, as an object array."""
    p = np.asarray(probs, dtype=float)
    idx = rng.choice(len(options), size=n, p=p / p.sum())
    return np.asarray(options, dtype=object)[idx]


def categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row of a non-negative weight matrix (rows of zeros give -1)."""
    w = np.asarray(weights, dtype=float)
    total = w.sum(axis=1)
    c = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * total
    idx = (c <= u[:, None]).sum(axis=1)
    idx = np.minimum(idx, w.shape[1] - 1)
    return np.where(total > 0, idx, -1)


def weighted_order(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """A random order that favours heavy items (Efraimidis–Spirakis keys); zero weights last."""
    w = np.asarray(weights, dtype=float)
    u = rng.random(len(w))
    with np.errstate(divide="ignore"):
        keys = np.where(w > 0, np.log(u) / np.where(w > 0, w, 1.0), -np.inf)
    return np.argsort(-keys, kind="stable")


def hex_tokens(rng: np.random.Generator, n: int, nbytes: int = 16) -> np.ndarray:
    """``n`` random lowercase hex strings of ``2 * nbytes`` characters."""
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    return np.array([bytes(r).hex() for r in raw], dtype=object)


def kmeans_seeds(
    rng: np.random.Generator,
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    *,
    weights: np.ndarray | None = None,
    iterations: int = 12,
) -> np.ndarray:
    """``k`` seed points (k × 2) that split weighted sample points into equal-weight cells.

    Lloyd iterations of weighted k-means over candidate points: the Voronoi cells of the result
    hold roughly equal total weight, so with population weights each cell holds about the same
    number of people (how grids and communities are drawn).
    """
    pts = np.column_stack([x, y])
    w = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=float)
    if k >= len(pts):
        return pts[:k].copy()
    centres = pts[rng.choice(len(pts), size=k, replace=False, p=w / w.sum())].copy()
    for _ in range(iterations):
        d2 = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        lab = np.argmin(d2, axis=1)
        mass = np.bincount(lab, weights=w, minlength=k)
        sx = np.bincount(lab, weights=w * pts[:, 0], minlength=k)
        sy = np.bincount(lab, weights=w * pts[:, 1], minlength=k)
        empty = mass <= 0
        mass[empty] = 1.0
        new = np.column_stack([sx / mass, sy / mass])
        if empty.any():
            new[empty] = pts[rng.choice(len(pts), size=int(empty.sum()), replace=False)]
        centres = new
    return centres
