"""H3 helpers. Cells are stored as BIGINT; resolutions are named constants.

H3 takes ``(lat, lng)``; everything else in FireTwin takes ``(lon, lat)`` as shapely and PostGIS
do. The conversion happens here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from h3.api import basic_int as h3i

RES_DISTRICT = 7  # ~5.2 km² cells: station planning, district overviews
RES_BLOCK = 9  # ~0.1 km² cells: risk scoring, hazard hot spots
RES_BUILDING = 11  # ~2,150 m² cells: building-level aggregation
RESOLUTIONS = (RES_DISTRICT, RES_BLOCK, RES_BUILDING)
H3_COLUMNS = tuple(f"h3_r{r}" for r in RESOLUTIONS)

# H3 cell ids are unsigned 64-bit; every valid cell is < 2**63, so BIGINT holds them as is.


def cell_for_point(lon: float, lat: float, *, res: int = RES_BLOCK) -> int:
    """Return the H3 cell containing (lon, lat) as an integer.

    >>> cell_for_point(118.95, 42.27, res=7) == cell_for_point(118.95001, 42.27001, res=7)
    True
    """
    return int(h3i.latlng_to_cell(lat, lon, res))


def cells_for_points(
    lon: Iterable[float], lat: Iterable[float], *, resolutions: tuple[int, ...] = RESOLUTIONS
) -> dict[int, np.ndarray]:
    """H3 cells containing many points at several resolutions, as int64 arrays by resolution.

    Each resolution is computed from the coordinates: the parent of a fine cell is not always
    the coarse cell that contains the point (H3 cells do not nest exactly), and a stored
    ``h3_r9`` must equal ``cell_for_point(lon, lat, res=9)``.
    """
    xs = np.asarray(list(lon) if not isinstance(lon, np.ndarray) else lon, dtype=float)
    ys = np.asarray(list(lat) if not isinstance(lat, np.ndarray) else lat, dtype=float)
    xl, yl = xs.tolist(), ys.tolist()
    return {
        res: np.fromiter((h3i.latlng_to_cell(y, x, res) for x, y in zip(xl, yl, strict=True)),
                         dtype=np.int64, count=len(xl))
        for res in resolutions
    }


def cell_boundary(cell: int) -> list[tuple[float, float]]:
    """The cell's boundary ring as (lon, lat) pairs, closed."""
    ring = [(lng, lat) for lat, lng in h3i.cell_to_boundary(cell)]
    return [*ring, ring[0]]
