"""Reads of stored risk scores and models, and the monthly double-random list (async).

Scope is passed in as ``grids`` / ``units`` lists (None: no restriction), decided by the
services layer from the caller.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from gis.errors import ConflictError
from gis.risk.double_random import draw
from gis.risk.features import FEATURES

_SCOPE = """
  AND (%(grids)s::int[] IS NULL OR r.grid_id = ANY(%(grids)s::int[]))
  AND (%(units)s::int[] IS NULL OR r.unit_id = ANY(%(units)s::int[]))
"""


async def latest_run(conn: AsyncConnection) -> tuple[date, str] | None:
    """(as_of, model_version) of the newest stored scoring run."""
    cur = await conn.execute(
        "SELECT as_of, model_version FROM firetwin.risk_score "
        "ORDER BY as_of DESC, model_version DESC LIMIT 1")
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


def label_factors(factors: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stored top factors with their descriptions."""
    return [{**f, "label": FEATURES.get(f["feature"], f["feature"])}
            for f in (factors or {}).get("top", [])]


async def risk_units(
    conn: AsyncConnection,
    *,
    as_of: date,
    version: str,
    grids: list[int] | None,
    units: list[int] | None,
    grid_id: int | None = None,
    tier: str | None = None,
    top: int = 100,
) -> list[dict[str, Any]]:
    """Units of a scoring run, riskiest first, in scope."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT r.unit_id, u.code, u.name, u.category, r.score, r.tier, r.rank, r.grid_id, "
            "r.as_of, r.model_version, r.factors, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat "
            "FROM firetwin.risk_score r JOIN firetwin.unit u ON u.id = r.unit_id "
            "WHERE r.as_of = %(as_of)s AND r.model_version = %(v)s"
            + _SCOPE +
            " AND (%(grid)s::int IS NULL OR r.grid_id = %(grid)s::int)"
            " AND (%(tier)s::text IS NULL OR r.tier = %(tier)s::text)"
            " ORDER BY r.rank, r.unit_id LIMIT %(top)s",
            {"as_of": as_of, "v": version, "grids": grids, "units": units, "grid": grid_id,
             "tier": tier, "top": top})
        rows = await cur.fetchall()
    for r in rows:
        r["factors"] = label_factors(r["factors"])
    return rows


async def risk_unit(conn: AsyncConnection, unit_id: int) -> list[dict[str, Any]]:
    """Every stored score of a unit, newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT r.unit_id, r.score, r.tier, r.rank, r.as_of, r.model_version, r.factors, "
            "r.grid_id FROM firetwin.risk_score r WHERE r.unit_id = %s "
            "ORDER BY r.as_of DESC, r.model_version DESC LIMIT 24", (unit_id,))
        rows = await cur.fetchall()
    for r in rows:
        r["factors"] = label_factors(r["factors"])
    return rows


async def risk_models(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Trained model versions, newest first, with metrics and parameters."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT version, trained_at, train_cutoff, metrics, params FROM firetwin.risk_model "
            "ORDER BY trained_at DESC, version DESC")
        return await cur.fetchall()


# ------------------------------------------------------------------------ double random


async def create_plan(
    conn: AsyncConnection,
    *,
    month: date,
    seed: int,
    sample_share: float,
    high_risk_share: float,
    high_risk_tiers: list[str],
    weight_floor: float,
    inspector_role: str,
    created_by: int | None,
    replace: bool = False,
) -> dict[str, Any]:
    """Draw and store the month's list from the latest risk scores (unscored units score 0).

    ConflictError when the month already has a list and ``replace`` is false.
    """
    cur = await conn.execute(
        "SELECT count(*) FROM firetwin.inspection_plan WHERE month = %s", (month,))
    if (await cur.fetchone())[0] and not replace:
        msg = f"the double-random list of {month:%Y-%m} exists"
        raise ConflictError(msg, user_msg=f"{msg}; pass replace=true to draw it again")
    await conn.execute("DELETE FROM firetwin.inspection_plan WHERE month = %s", (month,))
    run = await latest_run(conn)
    cur = await conn.execute(
        "SELECT u.id, coalesce(r.score, 0), r.tier FROM firetwin.unit u "
        "LEFT JOIN firetwin.risk_score r ON r.unit_id = u.id AND r.as_of = %s "
        "AND r.model_version = %s ORDER BY u.id",
        (run[0] if run else None, run[1] if run else None))
    rows = await cur.fetchall()
    cur = await conn.execute(
        "SELECT id FROM firetwin.app_user WHERE role = %s AND active ORDER BY id",
        (inspector_role,))
    inspectors = np.array([r[0] for r in await cur.fetchall()], dtype=np.int64)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    scores = np.array([r[1] for r in rows], dtype=float)
    tiers = np.array([r[2] for r in rows], dtype=object)
    d = draw(scores, np.isin(tiers, high_risk_tiers), inspectors, seed=seed,
             sample_share=sample_share, high_risk_share=high_risk_share,
             weight_floor=weight_floor)
    picked = ids[d.index]
    insp = [int(i) if i >= 0 else None for i in d.inspector.tolist()]
    await conn.execute(
        "INSERT INTO firetwin.inspection_plan (month, unit_id, inspector_user_id, stratum, "
        "risk_score, risk_tier, seed, created_by_user_id) "
        "SELECT %(m)s, u, i, s, sc, t, %(seed)s, %(by)s FROM unnest(%(u)s::int[], %(i)s::int[], "
        "%(s)s::text[], %(sc)s::float8[], %(t)s::text[]) AS x(u, i, s, sc, t)",
        {"m": month, "seed": seed, "by": created_by, "u": picked.tolist(), "i": insp,
         "s": d.stratum.tolist(), "sc": scores[d.index].tolist(),
         "t": [None if t is None else str(t) for t in tiers[d.index].tolist()]})
    return {"month": month.strftime("%Y-%m"), "seed": seed, "units": len(picked),
            "high_risk": int((d.stratum == "high_risk").sum()),
            "high_risk_available": int(np.isin(tiers, high_risk_tiers).sum()),
            "inspectors": len(inspectors),
            "risk_run": {"as_of": run[0].isoformat(), "model_version": run[1]} if run else None}


async def read_plan(
    conn: AsyncConnection, *, month: date, grids: list[int] | None, units: list[int] | None
) -> list[dict[str, Any]]:
    """The month's list in scope, with whether each unit was inspected (kind double_random)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT p.unit_id, u.code, u.name, u.grid_id, p.stratum, p.risk_score, p.risk_tier, "
            "p.inspector_user_id, a.display_name AS inspector, p.seed, "
            "(SELECT max(i.inspected_at) FROM firetwin.inspection i WHERE i.unit_id = p.unit_id "
            " AND i.kind = 'double_random' AND i.inspected_at >= p.month "
            " AND i.inspected_at < p.month + interval '1 month') AS inspected_at, "
            "ST_X(u.geom) AS lon, ST_Y(u.geom) AS lat "
            "FROM firetwin.inspection_plan p JOIN firetwin.unit u ON u.id = p.unit_id "
            "LEFT JOIN firetwin.app_user a ON a.id = p.inspector_user_id "
            "WHERE p.month = %(m)s "
            "AND (%(grids)s::int[] IS NULL OR u.grid_id = ANY(%(grids)s::int[])) "
            "AND (%(units)s::int[] IS NULL OR u.id = ANY(%(units)s::int[])) "
            "ORDER BY p.stratum, p.risk_score DESC NULLS LAST, p.unit_id",
            {"m": month, "grids": grids, "units": units})
        return await cur.fetchall()
