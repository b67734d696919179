"""Hot-spot analysis on a Dask cluster: the same answers as the single-process path, exactly.

Two pieces of :mod:`gis.analysis` carry the cost at scale, and both split without changing
their result:

* **DBSCAN** (:func:`dbscan_labels_tiled`). The points are cut into square tiles of
  ``tile_m`` metres; each Dask task takes one tile plus a halo of ``eps_m`` around it and finds,
  with a KD-tree, every pair closer than ``eps_m`` that touches one of the tile's own points,
  and each own point's neighbour count. A point's neighbours all lie within ``eps_m``, so inside
  tile + halo: counts and pairs are exact. The client then joins the pairs (a pair between two
  tiles comes back from both and is kept once) and runs the same core graph, connected
  components and border rule as :func:`gis.analysis.clusters.dbscan_labels` — the labels are
  identical, numbering included.
* **Gi\\*** per category (:func:`hotspot_frames`): each category's (and "all") frame is one
  task running :func:`gis.analysis.hotspots.hotspot_frame` with the same seed — identical.

Without a client both run in this process, so callers have one code path. Pass a
``distributed.Client`` connected to a scheduler (``FIRETWIN_DASK_SCHEDULER``) or to a
``LocalCluster``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gis.analysis.clusters import labels_from_pairs
from gis.analysis.hotspots import hotspot_frame

__all__ = ["dbscan_labels_tiled", "hotspot_frames", "tile_pairs"]


def tile_pairs(xy: np.ndarray, ids: np.ndarray, own: np.ndarray, *,
               eps_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs closer than ``eps_m`` touching an own point, and the own points' degrees.

    ``xy``/``ids`` are the tile's points and halo (global indices ``ids``); ``own`` marks the
    tile's own points. Returns (a, b, degree) with global indices, ``a < b``, and ``degree``
    (neighbours + 1) for ``ids[own]`` in that order.

    >>> xy = np.array([[0, 0], [1, 0], [5, 0]], dtype=float)
    >>> a, b, deg = tile_pairs(xy, np.array([7, 8, 9]), np.array([True, False, True]), eps_m=2)
    >>> a.tolist(), b.tolist(), deg.tolist()
    ([7], [8], [2, 1])
    """
    pairs = cKDTree(xy).query_pairs(eps_m, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    touch = own[i] | own[j]
    i, j = i[touch], j[touch]
    degree = (np.bincount(np.concatenate([i, j]), minlength=len(xy)) + 1)[own]
    a, b = ids[i], ids[j]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return lo, hi, degree


def _tiles(xy: np.ndarray, *, eps_m: float, tile_m: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(indices of tile + halo, own mask) per non-empty tile."""
    origin = xy.min(axis=0)
    key = np.floor((xy - origin) / tile_m).astype(np.int64)
    out = []
    for kx, ky in np.unique(key, axis=0).tolist():
        lo = origin + np.array([kx, ky]) * tile_m
        hi = lo + tile_m
        near = np.flatnonzero(np.all((xy >= lo - eps_m) & (xy <= hi + eps_m), axis=1))
        own = (key[near, 0] == kx) & (key[near, 1] == ky)
        out.append((near, own))
    return out


def dbscan_labels_tiled(xy: np.ndarray, *, eps_m: float, min_samples: int,
                        tile_m: float = 5_000.0, client: Any = None) -> np.ndarray:
    """:func:`gis.analysis.clusters.dbscan_labels`, the neighbour search split into tiles.

    Same labels as the single-process function (see the module docstring). With ``client`` the
    tiles run as Dask tasks, else here.

    >>> xy = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [50, 50], [100, 0]], dtype=float)
    >>> dbscan_labels_tiled(xy, eps_m=1.5, min_samples=3, tile_m=0.5).tolist()
    [0, 0, 0, 0, -1, -1]
    """
    n = len(xy)
    if eps_m <= 0 or min_samples < 1 or tile_m <= 0:
        msg = "eps_m and tile_m must be > 0 and min_samples >= 1"
        raise ValueError(msg)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    tiles = _tiles(xy, eps_m=eps_m, tile_m=tile_m)
    if client is None:
        parts = [tile_pairs(xy[idx], idx, own, eps_m=eps_m) for idx, own in tiles]
    else:
        futures = client.map(lambda t, e=eps_m: tile_pairs(t[0], t[1], t[2], eps_m=e),
                             [(xy[idx], idx, own) for idx, own in tiles], pure=False)
        parts = client.gather(futures)
    degree = np.zeros(n, dtype=np.int64)
    for (idx, own), (_, _, deg) in zip(tiles, parts, strict=True):
        degree[idx[own]] = deg
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    if len(a):  # a pair between two tiles came back from both
        uniq = np.unique(a.astype(np.int64) * n + b)
        a, b = uniq // n, uniq % n
    return labels_from_pairs(n, a, b, degree >= min_samples)


def hotspot_frames(study_cells: np.ndarray, point_cells: Mapping[str, np.ndarray], *,
                   client: Any = None, **kwargs: Any) -> dict[str, pd.DataFrame]:
    """:func:`hotspot_frame` for each group of hazards (e.g. per category), one task each.

    ``kwargs`` go to :func:`hotspot_frame` unchanged (same seed: same permutations), so each
    frame equals the single-process one.
    """
    names = list(point_cells)
    if client is None:
        return {k: hotspot_frame(study_cells, point_cells[k], **kwargs) for k in names}
    cells = client.scatter(np.asarray(study_cells), broadcast=True)
    futures = [client.submit(hotspot_frame, cells, np.asarray(point_cells[k]), pure=False,
                             **kwargs) for k in names]
    return dict(zip(names, client.gather(futures), strict=True))
