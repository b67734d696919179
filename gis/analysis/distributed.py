"""Hot-spot analysis on a Dask cluster: the same answers as the single-process path, exactly.

Two pieces of :mod:`gis.analysis` carry the cost at scale, and both split without changing
their result:

* **DBSCAN** (:func:`dbscan_labels_tiled`). The points are cut into square tiles of
  ``tile_m`` metres; each Dask task takes one tile plus a halo of ``eps_m`` around it and finds,
  with a KD-tree, every pair closer than ``eps_m`` that touches one of the tile's own points,
  and each own point's neighbour count. A point's neighbours all lie within ``eps_m``, so inside
  tile + halo: counts and pairs are exact; each pair comes back from the one tile owning its
  lower-indexed point. The client then runs on the joined pairs the same core graph, connected
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
    """Pairs closer than ``eps_m`` owned by this tile, and the own points' degrees.

    ``xy``/``ids`` are the tile's points and halo (global indices ``ids``); ``own`` marks the
    tile's own points. A pair (a, b), a < b, belongs to the tile that owns ``a``: every pair
    comes back from exactly one tile. Returns (a, b, degree): global indices as int32 and
    ``degree`` (neighbours + 1, halo neighbours included) for ``ids[own]`` in that order.

    >>> xy = np.array([[0, 0], [1, 0], [5, 0]], dtype=float)
    >>> a, b, deg = tile_pairs(xy, np.array([7, 8, 9]), np.array([True, False, True]), eps_m=2)
    >>> a.tolist(), b.tolist(), deg.tolist()
    ([7], [8], [2, 1])
    >>> tile_pairs(xy, np.array([7, 8, 9]), np.array([False, True, False]), eps_m=2)[0].size
    0
    """
    pairs = cKDTree(xy).query_pairs(eps_m, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    touch = own[i] | own[j]
    i, j = i[touch], j[touch]
    degree = (np.bincount(np.concatenate([i, j]), minlength=len(xy)) + 1)[own]
    a, b = ids[i], ids[j]
    swap = a > b
    i[swap], j[swap] = j[swap], i[swap]
    mine = own[i]  # the lower global index is one of ours
    return (ids[i][mine].astype(np.int32), ids[j][mine].astype(np.int32),
            degree.astype(np.int32))


def _tiles(xy: np.ndarray, *, eps_m: float, tile_m: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(indices of tile + halo, own mask) per non-empty tile (``eps_m`` ≤ ``tile_m``)."""
    origin = xy.min(axis=0)
    key = np.floor((xy - origin) / tile_m).astype(np.int64)
    width = int(key[:, 1].max()) + 3
    code = (key[:, 0] + 1) * width + (key[:, 1] + 1)  # a margin of one tile all round
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    tiles, starts = np.unique(sorted_code, return_index=True)
    ends = np.r_[starts[1:], len(order)]
    span = dict(zip(tiles.tolist(), zip(starts.tolist(), ends.tolist(), strict=True),
                    strict=True))
    out = []
    for c in tiles.tolist():
        kx, ky = divmod(c, width)
        lo = origin + np.array([kx - 1, ky - 1]) * tile_m
        hi = lo + tile_m
        # The halo lies in the 8 neighbouring tiles: only their points are looked at.
        cand = np.concatenate([order[slice(*span[c + dx * width + dy])]
                               for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                               if c + dx * width + dy in span])
        p = xy[cand]
        near = cand[np.all((p >= lo - eps_m) & (p <= hi + eps_m), axis=1)]
        out.append((near, code[near] == c))
    return out


def dbscan_labels_tiled(xy: np.ndarray, *, eps_m: float, min_samples: int,
                        tile_m: float = 5_000.0, client: Any = None) -> np.ndarray:
    """:func:`gis.analysis.clusters.dbscan_labels`, the neighbour search split into tiles.

    Same labels as the single-process function (see the module docstring). With ``client`` the
    tiles run as Dask tasks, else here.

    >>> xy = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [50, 50], [100, 0]], dtype=float)
    >>> dbscan_labels_tiled(xy, eps_m=1.5, min_samples=3, tile_m=2.0).tolist()
    [0, 0, 0, 0, -1, -1]
    """
    n = len(xy)
    if eps_m <= 0 or min_samples < 1 or tile_m < eps_m:
        msg = "eps_m must be > 0, tile_m >= eps_m and min_samples >= 1"
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
    a = np.concatenate([p[0] for p in parts]).astype(np.int64)
    b = np.concatenate([p[1] for p in parts]).astype(np.int64)
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
