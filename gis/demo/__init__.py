"""The demo digital-twin district: a Hongshan-like district (seed 001) generated from a seed.

``generate(conn, seed=42, scale=1.0)`` writes regions, grids, roads, buildings, units,
stations, facilities, sensors, users and five years of history (hazards with their events,
inspections, work orders, hot-work permits, incidents) inside the caller's transaction, plus
the ground truth in ``demo_truth``. The same seed and scale always give identical rows.

At ``scale`` 1 the district has ~506 km², 13 streets/towns, ~80 communities, ~540 grids,
~5,600 units, ~20,000 buildings and ~25,000 hazards; units, buildings and the history scale
linearly with ``scale``. Above 1 the area grows too: the world becomes ``ceil(scale)``
districts generated and loaded one at a time, so memory stays bounded (see ``layout``).

Modules, in generation order: ``layout`` (districts) → ``regions`` → ``roads`` and
``road_attrs`` → ``special_grids`` → ``buildings`` → ``units`` → ``stations`` →
``facilities`` → ``sensors`` → ``users`` → ``hazards``/``lifecycle``/``history`` →
``enforcement`` and ``inspections`` → ``incidents`` → ``load`` and ``truth``.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from gis.demo.context import District, World
from gis.demo.district import build_district
from gis.demo.layout import plan_world
from gis.demo.load import load_district, reset_sequences
from gis.demo.names import HONGSHAN
from gis.demo.truth import record_generation
from gis.errors import ConflictError, InvalidInputError

__all__ = ["clear", "generate"]

Progress = Callable[[str, int, int], None]
_STEPS = (
    "regions",
    "roads",
    "buildings",
    "units",
    "stations and facilities",
    "history",
    "incidents",
)
# Row counts reported by ``generate``, in load order.
_COUNTED = (
    "region",
    "app_user",
    "grid",
    "user_grid",
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
    "unit_propensity",
)
# Tables emptied by ``clear`` (roles are reference data from the migration and stay).
_TABLES = (
    "risk_score",
    "risk_model",
    "sensor_reading",
    "incident",
    "hot_work_permit",
    "inspection",
    "work_order",
    "hazard_event",
    "hazard",
    "sensor",
    "vehicle",
    "station",
    "facility",
    "user_grid",
    "road_edge",
    "road_node",
    "grid",
    "app_user",
    "unit",
    "building",
    "region",
)


def _district_code(index: int) -> str:
    return str(int(HONGSHAN["district"][2]) + index)


def generate(
    conn: psycopg.Connection,
    *,
    seed: int = 42,
    scale: float = 1.0,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Generate the demo world into an empty FireTwin schema; return rows written per table.

    Runs inside the caller's transaction (the caller commits). ``progress(step, done, total)``
    reports generation steps (``generate``), districts (``districts``) and rows per table.

    Raises
    ------
    ConflictError
        If the schema already holds regions (clear it first: ``clear(conn)``).
    InvalidInputError
        If ``scale`` is not in (0, 1000] or ``seed`` not in [0, 2**31).
    """
    if not 0 <= seed < 2**31:
        msg = f"seed must be in [0, 2**31), got {seed}"
        raise InvalidInputError(msg)
    try:
        plans = plan_world(seed, scale)
    except ValueError as e:
        raise InvalidInputError(str(e)) from e
    if conn.execute("SELECT EXISTS (SELECT 1 FROM firetwin.region)").fetchone()[0]:
        msg = "the database already holds regions; demo data needs an empty schema"
        raise ConflictError(msg, user_msg="the database already holds data")
    world = World(seed=seed, scale=scale)
    centres = {p.index: p.centre for p in plans}
    counts = dict.fromkeys(_COUNTED, 0)
    done = 0

    def step(name: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("generate", done, len(_STEPS) * len(plans))

    for k, plan in enumerate(plans):
        d = District(world, plan, _district_code(k), "", "")
        data = build_district(d, centres, step)
        load_district(conn, data, counts, progress)
        del data
        if progress is not None:
            progress("districts", k + 1, len(plans))
    reset_sequences(conn)
    record_generation(conn, seed=seed, scale=scale, counts=counts)
    return counts


def clear(conn: psycopg.Connection) -> None:
    """Delete all FireTwin data and demo truth (inside the caller's transaction)."""
    tables = ", ".join(f"firetwin.{t}" for t in _TABLES)
    conn.execute(f"TRUNCATE {tables}, demo_truth.unit_propensity, demo_truth.generation CASCADE")
