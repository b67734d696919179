"""Fire-risk scores, model versions and the monthly double-random inspection list."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gis import vocab
from gis.risk import queries
from gis.risk.settings import DoubleRandomSettings
from services.auth import Caller, CallerDep, Forbidden
from services.deps import ConnDep
from services.errors import BadRequest, NotFound
from services.routers.units import require_staff, unit_in_scope

router = APIRouter(prefix="/api/risk", tags=["risk"])

PLAN_ROLES = frozenset({"admin"})
MAX_TOP = 5000


def scope_lists(caller: Caller) -> tuple[list[int] | None, list[int] | None]:
    """(grids, units) restricting rows to the caller's scope; None means unrestricted."""
    require_staff(caller, what="read risk data")
    s = caller.scope
    if s.kind == "all":
        return None, None
    if s.kind == "grids":
        return sorted(s.grids or ()), None
    if s.kind == "units":
        return None, sorted(s.units or ())
    raise Forbidden("not in your scope")


def parse_month(value: str) -> date:
    """``YYYY-MM`` → the first day of that month."""
    try:
        y, m = (int(p) for p in value.split("-"))
        return date(y, m, 1)
    except ValueError as e:
        msg = f"month must be YYYY-MM, got {value!r}"
        raise BadRequest(msg) from e


@router.get("/units")
async def read_risk_units(
    conn: ConnDep,
    caller: CallerDep,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description="How many, riskiest first")] = 100,
    grid_id: Annotated[int | None, Query(description="Only this grid")] = None,
    tier: Annotated[str | None, Query(description=" | ".join(vocab.RISK_TIERS))] = None,
) -> dict[str, Any]:
    """Units of the latest scoring run in the caller's scope, riskiest first."""
    grids, units = scope_lists(caller)
    if tier is not None and tier not in vocab.RISK_TIERS:
        raise BadRequest(f"tier {tier!r} is not one of: {', '.join(vocab.RISK_TIERS)}")
    if grid_id is not None and grids is not None and grid_id not in grids:
        raise Forbidden("that grid is not yours")
    run = await queries.latest_run(conn)
    if run is None:
        return {"as_of": None, "model_version": None, "units": []}
    rows = await queries.risk_units(conn, as_of=run[0], version=run[1], grids=grids,
                                    units=units, grid_id=grid_id, tier=tier, top=top)
    return {"as_of": run[0], "model_version": run[1], "units": rows}


@router.get("/units/{unit_id}")
async def read_risk_unit(conn: ConnDep, caller: CallerDep, unit_id: int) -> dict[str, Any]:
    """A unit's latest score, tier, rank and top factors, with its earlier scores."""
    require_staff(caller, what="read risk data")
    await unit_in_scope(conn, caller, unit_id)
    rows = await queries.risk_unit(conn, unit_id)
    if not rows:
        raise NotFound(f"unit {unit_id} has no risk score yet")
    return {**rows[0], "history": [{k: r[k] for k in ("as_of", "model_version", "score", "tier",
                                                      "rank")} for r in rows]}


@router.get("/models")
async def read_risk_models(conn: ConnDep, caller: CallerDep) -> dict[str, Any]:
    """Trained model versions with their evaluation metrics and parameters, newest first."""
    require_staff(caller, what="read risk models")
    return {"models": await queries.risk_models(conn)}


class PlanIn(BaseModel):
    seed: int | None = Field(default=None, ge=0, lt=2**31,
                             description="Reproduces the draw (default: derived from the month)")
    sample_share: float | None = Field(default=None, gt=0, le=1)
    high_risk_share: float | None = Field(default=None, ge=0, le=1)
    replace: bool = False


@router.get("/double-random")
async def read_double_random(
    conn: ConnDep,
    caller: CallerDep,
    month: Annotated[str, Query(description="YYYY-MM")],
) -> dict[str, Any]:
    """The month's double-random list in the caller's scope, with the drawn inspectors."""
    grids, units = scope_lists(caller)
    m = parse_month(month)
    rows = await queries.read_plan(conn, month=m, grids=grids, units=units)
    return {"month": m.strftime("%Y-%m"), "units": rows,
            "done": sum(1 for r in rows if r["inspected_at"] is not None)}


@router.post("/double-random", status_code=201)
async def create_double_random(
    conn: ConnDep,
    caller: CallerDep,
    month: Annotated[str, Query(description="YYYY-MM")],
    body: PlanIn | None = None,
) -> dict[str, Any]:
    """Draw the month's list (admin): units by risk-weighted lot, inspectors by lot."""
    require_staff(caller, PLAN_ROLES, what="draw the double-random list")
    m = parse_month(month)
    body = body or PlanIn()
    s = DoubleRandomSettings()
    return await queries.create_plan(
        conn, month=m, seed=body.seed if body.seed is not None else m.year * 100 + m.month,
        sample_share=body.sample_share or s.sample_share,
        high_risk_share=(body.high_risk_share if body.high_risk_share is not None
                         else s.high_risk_share),
        high_risk_tiers=s.high_risk_tiers, weight_floor=s.weight_floor,
        inspector_role=s.inspector_role, created_by=caller.user_id, replace=body.replace)
