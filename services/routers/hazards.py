"""The hazard closed loop over REST: report, list, detail, transitions, history, departments.

Every path filters by the caller's scope with the same condition the OGC API and the tiles use
(``layers.scope.scope_condition`` on the hazards layer), so a grid worker lists, reads and acts
on the hazards of their grids only; a hazard outside the scope is a 404, not a 403, so its
existence does not leak. Personal data is masked for roles that do not need it (planner).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from layers.catalogue import BY_ID
from layers.scope import scope_condition
from services.auth import Caller, CallerDep, Forbidden, Unauthorized
from services.deps import ConnDep
from services.errors import BadRequest, NotFound
from services.workflows import hazards as wf
from services.workflows.colour_codes import recompute_colour_codes
from services.workflows.hazard_rules import (
    ACTIONS,
    REPORT_ROLES,
    SUPERVISOR_ROLES,
    allowed_actions,
)

router = APIRouter(prefix="/api/hazards", tags=["hazards"])
LAYER = BY_ID["hazards"]
PERSONAL = ("reporter_name", "reporter_phone", "responsible_person")


def mask_phone(phone: str | None) -> str | None:
    """138****5678: enough to recognise, not enough to call.

    >>> mask_phone("13812345678")
    '138****5678'
    """
    if not phone:
        return phone
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_name(name: str | None) -> str | None:
    """张三丰 → 张**.

    >>> mask_name("张三丰")
    '张**'
    """
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def _settings(request: Request):
    return request.app.state.hazard_settings


def _now(request: Request) -> datetime:
    return request.app.state.clock.now()


def _staff(caller: Caller) -> None:
    if caller.role == "public":
        raise Unauthorized("sign in: the hazard register is for staff (the public uses "
                           "/api/public/reports and /open311)")


def scope_guard(caller: Caller):
    """A check that raises NotFound for hazards outside the caller's scope."""

    def check(h: dict[str, Any]) -> None:
        if not caller.scope.allows(grid_id=h["grid_id"], unit_id=h["unit_id"]):
            msg = f"hazard {h['id']} not found"
            raise NotFound(msg)

    return check


def _actor(caller: Caller) -> wf.Actor:
    return wf.Actor(user_id=caller.user_id, name=caller.username, role=caller.role)


def present(h: dict[str, Any], caller: Caller, now: datetime | None = None) -> dict[str, Any]:
    """A hazard row as JSON for this caller: masked personal data, next actions, overdue."""
    out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in h.items()}
    if not caller.scope.personal:
        out["reporter_name"] = mask_name(h.get("reporter_name"))
        out["reporter_phone"] = mask_phone(h.get("reporter_phone"))
        out["responsible_person"] = mask_name(h.get("responsible_person"))
    out["actions"] = allowed_actions(h["status"], h["tier"], caller.role)
    due = h.get("next_escalation_at")
    out["overdue"] = bool(now is not None and due is not None and due <= now)
    return out


class HazardIn(BaseModel):
    """A hazard report from staff (grid workers, inspectors, unit managers, ...)."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(description="Longitude, EPSG:4326")
    lat: float = Field(description="Latitude, EPSG:4326")
    category: str
    subcategory: str
    tier: Literal["blue", "yellow", "orange", "red"] = "blue"
    title: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str | None, Field(max_length=4000)] = None
    photos: Annotated[list[str], Field(max_length=9)] = []
    unit_id: int | None = None
    source: Literal["grid_worker", "inspection", "sensor", "camera"] = "grid_worker"

    @field_validator("lon", "lat")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            msg = "must be a finite number"
            raise ValueError(msg)
        return v


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(description="One of: " + ", ".join(ACTIONS))
    version: int | None = Field(default=None, description="The version you read (If-Match).")
    note: Annotated[str | None, Field(max_length=4000)] = None
    attachments: Annotated[list[str], Field(max_length=9)] = []
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    tier: Literal["blue", "yellow", "orange", "red"] | None = None


class DepartmentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    departments: Annotated[list[str], Field(min_length=1, max_length=9)]
    note: Annotated[str | None, Field(max_length=2000)] = None


class DepartmentReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str | None, Field(max_length=2000)] = None


def _version_from(if_match: str | None, body_version: int | None) -> int | None:
    if if_match is None:
        return body_version
    tag = if_match.strip().removeprefix("W/").strip('"')
    try:
        v = int(tag)
    except ValueError as e:
        msg = f'If-Match must be the hazard ETag, e.g. "3", got {if_match!r}'
        raise BadRequest(msg) from e
    if body_version is not None and body_version != v:
        msg = "If-Match and version disagree"
        raise BadRequest(msg)
    return v


def _etag(h: dict[str, Any]) -> str:
    return f'"{h["version"]}"'


@router.post("", status_code=201)
async def report_hazard(
    request: Request, response: Response, conn: ConnDep, caller: CallerDep, body: HazardIn,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict:
    """Report a hazard: coded, assigned to the grid worker of its grid and its unit, deadlined."""
    _staff(caller)
    if caller.role not in REPORT_ROLES:
        raise Forbidden(f"role {caller.role!r} may not report hazards here")
    now = _now(request)
    idem = None
    if idempotency_key is not None:
        sha = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        idem = (f"user:{caller.user_id}", idempotency_key, sha)
    report = wf.HazardReport(**body.model_dump())
    if caller.role == "unit_manager":
        units = caller.scope.units or frozenset()
        if report.unit_id is None and len(units) == 1:
            report.unit_id = next(iter(units))
        if report.unit_id not in units:
            raise Forbidden("unit managers report hazards of their own unit")
    grids = caller.scope.grids if caller.scope.kind == "grids" else None
    try:
        h = await wf.create_hazard(conn, report, actor=_actor(caller), now=now,
                                   settings=_settings(request), idempotency=idem,
                                   allowed_grids=grids)
    except PermissionError as e:
        raise Forbidden(str(e)) from e
    response.headers["ETag"] = _etag(h)
    response.headers["Location"] = f"/api/hazards/{h['id']}"
    return present(h, caller, now)


@router.post("/escalation-sweep")
async def post_escalation_sweep(request: Request, caller: CallerDep) -> dict:
    """Escalate overdue hazards now (admin; the API also sweeps on its own every minute)."""
    if caller.role != "admin":
        raise Forbidden("only administrators run the escalation sweep by hand")
    from services.workflows.sweeper import sweep_once

    r = await sweep_once(request.app.state.pool, request.app.state.clock, _settings(request))
    if r is None:
        return {"escalated": 0, "note": "another sweep is running"}
    return {"escalated": r.escalated, "tier_steps": r.steps, "notifications": r.notifications,
            "by_tier": r.by_tier}


_SORTS = {"reported_at": "reported_at", "-reported_at": "reported_at DESC",
          "due": "next_escalation_at NULLS LAST", "tier": "array_position(ARRAY['red','orange',"
          "'yellow','blue'], tier::text)", "id": "id"}


@router.get("")
async def list_hazards(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    status: Annotated[list[str] | None, Query()] = None,
    tier: Annotated[list[Literal["blue", "yellow", "orange", "red"]] | None, Query()] = None,
    category: str | None = None,
    grid_id: int | None = None,
    unit_id: int | None = None,
    overdue: bool | None = None,
    supervised: bool | None = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    sort: Literal["reported_at", "-reported_at", "due", "tier", "id"] = "-reported_at",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Hazards in the caller's scope, filtered; ``format=csv`` exports the same rows."""
    _staff(caller)
    from gis import vocab

    now = _now(request)
    where = [scope_condition(LAYER, caller.scope)]
    params: dict[str, Any] = {"now": now}
    if status:
        bad = [s for s in status if s not in vocab.HAZARD_STATUSES]
        if bad:
            msg = f"unknown status {bad[0]!r}: one of {', '.join(vocab.HAZARD_STATUSES)}"
            raise BadRequest(msg)
        where.append("status = ANY(%(status)s)")
        params["status"] = status
    if tier:
        where.append("tier = ANY(%(tier)s)")
        params["tier"] = tier
    if category is not None:
        if category not in vocab.HAZARD_TAXONOMY:
            msg = f"unknown category {category!r}: one of {', '.join(vocab.HAZARD_TAXONOMY)}"
            raise BadRequest(msg)
        where.append("category = %(category)s")
        params["category"] = category
    for name, value in (("grid_id", grid_id), ("unit_id", unit_id), ("supervised", supervised)):
        if value is not None:
            where.append(f"{name} = %({name})s")
            params[name] = value
    if overdue is not None:
        where.append(("" if overdue else "NOT ") + "coalesce(next_escalation_at <= %(now)s, false)")
    if bbox is not None:
        try:
            x1, y1, x2, y2 = (float(v) for v in bbox.split(","))
        except ValueError as e:
            raise BadRequest("bbox must be minLon,minLat,maxLon,maxLat") from e
        if not (x1 < x2 and y1 < y2):
            raise BadRequest("bbox must be minLon,minLat,maxLon,maxLat with min < max")
        where.append("geom && ST_MakeEnvelope(%(x1)s, %(y1)s, %(x2)s, %(y2)s, 4326)")
        params |= {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
    cond = " AND ".join(where)
    from psycopg.rows import dict_row

    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {wf.HAZARD_COLUMNS}, count(*) OVER () AS total FROM firetwin.hazard "
        f"WHERE {cond} ORDER BY {_SORTS[sort]}, id LIMIT %(limit)s OFFSET %(offset)s",
        {**params, "limit": limit, "offset": offset})
    rows = await cur.fetchall()
    total = rows[0].pop("total") if rows else 0
    for r in rows[1:]:
        r.pop("total")
    items = [present(r, caller, now) for r in rows]
    if format == "csv":
        buf = io.StringIO()
        cols = [c for c in (items[0] if items else {}) if c not in ("actions", "photos")]
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(items)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=hazards.csv"})
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.get("/{hazard_id}")
async def read_hazard(request: Request, response: Response, conn: ConnDep, caller: CallerDep,
                      hazard_id: int) -> dict:
    """One hazard with its deadlines, next actions for the caller, departments and ETag."""
    _staff(caller)
    h = await wf.get_hazard(conn, hazard_id)
    scope_guard(caller)(h)
    out = present(h, caller, _now(request))
    out["departments"] = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()}
        for d in await wf.departments(conn, hazard_id)]
    response.headers["ETag"] = _etag(h)
    return out


@router.get("/{hazard_id}/history")
async def read_history(conn: ConnDep, caller: CallerDep, hazard_id: int) -> list[dict]:
    """Every transition of the hazard, oldest first (append-only)."""
    _staff(caller)
    scope_guard(caller)(await wf.get_hazard(conn, hazard_id))
    events = await wf.history(conn, hazard_id)
    for e in events:
        e["at"] = e["at"].isoformat()
        if not caller.scope.personal:
            e["actor_name"] = mask_name(e["actor_name"]) if e["actor_user_id"] else e["actor_name"]
    return events


@router.post("/{hazard_id}/transitions")
async def post_transition(
    request: Request, response: Response, conn: ConnDep, caller: CallerDep, hazard_id: int,
    body: TransitionIn, if_match: Annotated[str | None, Header()] = None,
) -> dict:
    """Move the hazard along its closed loop; 409 with the reason when the move is illegal or
    the hazard changed since the caller read it (send its ETag as If-Match, or ``version``)."""
    _staff(caller)
    version = _version_from(if_match, body.version)
    now = _now(request)
    h = await wf.transition(
        conn, hazard_id, body.action, actor=_actor(caller), now=now,
        settings=_settings(request), version=version, note=body.note,
        attachments=body.attachments, lon=body.lon, lat=body.lat, tier=body.tier,
        check_scope=scope_guard(caller))
    await _after_change(conn, h, now)
    response.headers["ETag"] = _etag(h)
    return present(h, caller, now)


async def _after_change(conn, h: dict[str, Any], now: datetime) -> None:
    """Keep derived state current: the unit's colour code follows its open hazards."""
    if h.get("unit_id") is None:
        return
    await recompute_colour_codes(conn, unit_ids=[h["unit_id"]], now=now)


@router.post("/{hazard_id}/departments")
async def post_departments(request: Request, conn: ConnDep, caller: CallerDep, hazard_id: int,
                           body: DepartmentsIn) -> dict:
    """吹哨报到: the street calls departments to a multi-department hazard."""
    _staff(caller)
    if caller.role not in SUPERVISOR_ROLES:
        raise Forbidden("only street officers, community admins and admins call departments")
    now = _now(request)
    h = await wf.call_departments(conn, hazard_id, body.departments, actor=_actor(caller),
                                  now=now, note=body.note, check_scope=scope_guard(caller))
    return present(h, caller, now)


@router.post("/{hazard_id}/departments/{department}/report")
async def post_department_report(request: Request, conn: ConnDep, caller: CallerDep,
                                 hazard_id: int, department: str,
                                 body: DepartmentReportIn) -> dict:
    """A called department reports in (报到)."""
    _staff(caller)
    if caller.role not in SUPERVISOR_ROLES | {"inspector"}:
        raise Forbidden(f"role {caller.role!r} may not record a department's report")
    now = _now(request)
    h = await wf.report_department(conn, hazard_id, department, actor=_actor(caller), now=now,
                                   note=body.note, check_scope=scope_guard(caller))
    return present(h, caller, now)

