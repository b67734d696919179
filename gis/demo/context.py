"""State shared by the builders of one district, and id allocation across districts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gis.demo.layout import DistrictPlan
from gis.demo.names import NameRegistry
from gis.demo.rand import rng_for

# Tables whose ids the generator assigns itself (in load order).
ID_TABLES = (
    "region",
    "grid",
    "app_user",
    "road_node",
    "road_edge",
    "building",
    "unit",
    "station",
    "vehicle",
    "facility",
    "sensor",
    "hazard",
    "hazard_event",
    "work_order",
    "inspection",
    "hot_work_permit",
    "incident",
    "sensor_reading",
)


@dataclass
class IdAllocator:
    """Next free id per table; ids run on across districts so every district fits."""

    next_id: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ID_TABLES, 1))

    def take(self, table: str, n: int) -> np.ndarray:
        """``n`` consecutive new ids of ``table`` as an int64 array."""
        start = self.next_id[table]
        self.next_id[table] = start + n
        return np.arange(start, start + n, dtype=np.int64)


@dataclass
class World:
    """Run-wide state: the seed, id counters, names in use, and highway ports of districts."""

    seed: int
    scale: float
    ids: IdAllocator = field(default_factory=IdAllocator)
    names: NameRegistry = field(default_factory=NameRegistry)
    # district index -> (node ids, x, y) of nodes that later districts may link highways to.
    ports: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)


@dataclass
class District:
    """One district being generated: its plan, names and the world it belongs to."""

    world: World
    plan: DistrictPlan
    code: str
    name: str
    short: str

    @property
    def index(self) -> int:
        return self.plan.index

    @property
    def density(self) -> float:
        """Fill factor for units, buildings and history (``scale`` per district)."""
        return self.plan.density

    def rng(self, stage: str) -> np.random.Generator:
        """The random stream of one stage of this district."""
        return rng_for(self.world.seed, self.plan.index, stage)

    def count(self, per_district: float, *, minimum: int = 0) -> int:
        """A scaled count: ``per_district`` at density 1."""
        return max(minimum, round(per_district * self.density))
