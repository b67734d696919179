"""How the demo world is laid out: one Hongshan-like district, or many of them at large scale.

At ``scale <= 1`` the world is one district of about 506 km² (Hongshan, seed 001) whose regions,
roads, grids and stations are always complete, while units, buildings and the history scale
with ``scale``. Above 1 the area grows: ``ceil(scale)`` districts, each a cell of a jittered
square lattice of about 506 km², each filled at density ``scale / ceil(scale)``, so counts grow
linearly and memory stays bounded by one district (the generator works district by district).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

from gis.demo.geo import voronoi_split
from gis.demo.rand import rng_for

DISTRICT_AREA_M2 = 506e6
MAX_SCALE = 1000.0


@dataclass(frozen=True)
class DistrictPlan:
    """Where district ``index`` lies (local metres) and how densely it is filled."""

    index: int
    centre: tuple[float, float]
    polygon: Polygon
    density: float
    # Earlier districts sharing a border, which this one connects its highways to.
    neighbours: tuple[int, ...]


def _blob(rng: np.random.Generator, area: float, *, stretch: float = 1.25) -> Polygon:
    theta = np.linspace(0, 2 * np.pi, 160, endpoint=False)
    r = np.ones_like(theta)
    for k, amp in ((2, 0.10), (3, 0.07), (5, 0.04), (7, 0.02)):
        r += amp * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    x = r * np.cos(theta) * stretch
    y = r * np.sin(theta) / stretch
    poly = Polygon(np.column_stack([x, y]))
    f = math.sqrt(area / poly.area)
    return Polygon(np.column_stack([x * f, y * f]))


def plan_world(seed: int, scale: float) -> list[DistrictPlan]:
    """The districts of the world for ``scale`` (see the module docstring)."""
    if not (scale > 0 and scale <= MAX_SCALE):
        msg = f"scale must be in (0, {MAX_SCALE:g}], got {scale}"
        raise ValueError(msg)
    rng = rng_for(seed, -1, "layout")
    n = max(1, math.ceil(scale - 1e-9))
    if n == 1:
        return [DistrictPlan(0, (0.0, 0.0), _blob(rng, DISTRICT_AREA_M2), float(scale), ())]
    d = math.sqrt(DISTRICT_AREA_M2)
    cols = math.ceil(math.sqrt(n))
    rc = [(i // cols, i % cols) for i in range(n)]
    jitter = rng.uniform(-0.15 * d, 0.15 * d, size=(n, 2))
    jitter[0] = 0.0
    centres = np.array([(c * d, -r * d) for r, c in rc], dtype=float) + jitter
    squares = [
        shapely.box(c * d - d / 2, -r * d - d / 2, c * d + d / 2, -r * d + d / 2) for r, c in rc
    ]
    world = shapely.union_all(squares)
    cells = voronoi_split(world, centres)
    density = scale / n
    polys = [c if c.geom_type == "Polygon" else max(c.geoms, key=lambda g: g.area) for c in cells]
    tree = shapely.STRtree(polys)
    plans = []
    for i, poly in enumerate(polys):
        grown = poly.buffer(1.0)
        near = sorted(int(j) for j in tree.query(grown, predicate="intersects") if j < i)
        neighbours = tuple(j for j in near if grown.intersection(polys[j]).area > 1e4)
        plans.append(
            DistrictPlan(i, (float(centres[i, 0]), float(centres[i, 1])), poly, density, neighbours)
        )
    return plans
