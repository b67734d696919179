"""Units: detail with colour code, QR identity (一店一码), enforcement actions and work orders.

Seed 001 (赤峰红山): every shop gets an electronic QR "identity card" (一店一码) linking to its
record; enforcement runs from risk notices and correction orders up to penalties, temporary seals
and "three stops". Seed 003 (绍兴柯桥): units are coded red / yellow / green and checked daily /
weekly / monthly (``services.workflows.colour_codes``). Every enforcement action recomputes the
unit's code in the same transaction.
"""

from __future__ import annotations

import io
import math
import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

import psycopg
import segno
from fastapi import APIRouter, Body, Query, Request, Response
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from gis import vocab
from gis.queries.patrols import PatrolSettings
from services.auth import Caller, CallerDep, Forbidden, Unauthorized
from services.clock import SystemClock
from services.deps import ConnDep
from services.errors import BadRequest, Conflict, NotFound
from services.workflows.colour_codes import (
    WORK_ORDER_LABEL_ZH,
    ColourSettings,
    recompute_colour_codes,
)

router = APIRouter(prefix="/api/units", tags=["units"])
work_orders_router = APIRouter(prefix="/api/work-orders", tags=["units"])

#: Roles that issue and close enforcement actions (监督执法: the fire brigade's inspectors and
#: the street's officers, under the 大综合一体化 delegation of seed 003).
ENFORCE_ROLES = frozenset({"admin", "street_officer", "inspector"})
#: Work orders that are decisions and must cite their legal basis.
DECISION_KINDS = frozenset({"penalty", "temporary_seal", "three_stops"})
COLOUR_LABEL_ZH = {"red": "红码", "yellow": "黄码", "green": "绿码"}
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def now_of(request: Request) -> datetime:
    """The application's clock (``app.state.clock``; wall-clock UTC when none is set)."""
    clock = getattr(request.app.state, "clock", None) or SystemClock()
    return clock.now()


def require_staff(caller: Caller, roles: frozenset[str] | None = None, *, what: str) -> None:
    """Unauthorized for the public; Forbidden for a role outside ``roles`` (when given)."""
    if caller.role == "public" or caller.scope.is_public:
        raise Unauthorized(f"sign in to {what}")
    if roles is not None and caller.role not in roles:
        raise Forbidden(f"your role ({caller.role}) may not {what}")


async def unit_in_scope(conn: AsyncConnection, caller: Caller, unit_id: int) -> dict[str, Any]:
    """The unit's id, code and grid; NotFound when missing, Forbidden outside the scope."""
    cur = await conn.execute(
        "SELECT id, code, grid_id FROM firetwin.unit WHERE id = %s", (unit_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"unit {unit_id} not found")
    if not caller.scope.allows(grid_id=row[2], unit_id=row[0]):
        raise Forbidden(f"unit {unit_id} is not in your scope")
    return {"id": row[0], "code": row[1], "grid_id": row[2]}


def cadence_days(category: str, colour: str, settings: PatrolSettings) -> int:
    """Days between inspections: key units daily, else by colour (seed 003, 公安部61号令)."""
    if category == "key_unit":
        return settings.key_unit_days
    return {"red": settings.red_days, "yellow": settings.yellow_days}.get(
        colour, settings.green_days)


# --------------------------------------------------------------------------------- public QR


@router.get("/by-qr/{token}")
async def read_unit_by_qr(conn: ConnDep, token: str) -> dict:
    """The public page of a unit's QR code: name, category, colour code, rectified hazards."""
    if not _TOKEN_RE.match(token):
        raise NotFound("unknown QR code")
    cur = await conn.execute(
        "SELECT u.name, u.category, u.small_place_type, u.key_domain, u.key_unit_type, "
        "       u.colour_code, u.colour_updated_at, "
        "       (SELECT count(*) FROM firetwin.hazard h WHERE h.unit_id = u.id AND h.published "
        "          AND h.status IN ('rectified', 'rechecked', 'closed')) "
        "FROM firetwin.unit u WHERE u.qr_token = %s", (token,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound("unknown QR code")
    name, category, small, domain, key_type, colour, colour_at, rectified = row
    return {"name": name, "category": category, "small_place_type": small,
            "key_domain": domain, "key_unit_type": key_type, "colour_code": colour,
            "colour_label": COLOUR_LABEL_ZH.get(colour, colour),
            "colour_updated_at": colour_at.isoformat() if colour_at else None,
            "rectified_hazards_published": rectified}


# ------------------------------------------------------------------------------ colour codes


class RecomputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_ids: list[int] | None = Field(default=None, max_length=100_000,
                                       description="Only these units (all when omitted)")


@router.post("/colour-codes/recompute")
async def create_colour_recompute(
    request: Request, conn: ConnDep, caller: CallerDep,
    body: Annotated[RecomputeIn | None, Body()] = None,
) -> dict:
    """Recompute red/yellow/green codes (all units, or ``unit_ids``); admin only."""
    require_staff(caller, frozenset({"admin"}), what="recompute colour codes")
    ids = body.unit_ids if body is not None else None
    if ids is not None:
        cur = await conn.execute(
            "SELECT array_agg(i) FROM unnest(%s::int[]) AS i "
            "WHERE NOT EXISTS (SELECT 1 FROM firetwin.unit u WHERE u.id = i)", (ids,))
        missing = (await cur.fetchone())[0]
        if missing:
            raise BadRequest(f"unknown unit ids: {sorted(missing)[:20]}")
    result = await recompute_colour_codes(conn, ids, now=now_of(request))
    cur = await conn.execute(
        "SELECT colour_code, count(*) FROM firetwin.unit "
        "WHERE %(all)s OR id = ANY(%(ids)s) GROUP BY 1",
        {"all": ids is None, "ids": ids or []})
    colours = dict.fromkeys(vocab.COLOUR_CODES, 0) | dict(await cur.fetchall())
    return {"units": result.units, "changed": len(result.changed), "colours": colours,
            "changes": [c.model_dump() for c in result.changed[:500]],
            "changes_truncated": len(result.changed) > 500}


# ---------------------------------------------------------------------------------- detail

_DETAIL_SQL = """
SELECT u.id, u.code, u.name, u.category, u.small_place_type, u.key_domain, u.key_unit_type,
       u.address, u.responsible_person, u.responsible_phone, u.manager_person,
       u.colour_code, u.colour_reason, u.colour_updated_at, u.management_level,
       u.grid_id, g.code AS grid_code, g.name AS grid_name,
       ST_X(u.geom) AS lon, ST_Y(u.geom) AS lat,
       (SELECT count(*) FROM firetwin.hazard h
         WHERE h.unit_id = u.id AND h.status <> ALL(%(settled)s)) AS open_hazards,
       (SELECT count(*) FROM firetwin.hazard h
         WHERE h.unit_id = u.id AND CASE h.status
               WHEN 'reported' THEN h.verify_due_at
               WHEN 'verified' THEN h.rectify_due_at
               WHEN 'rectifying' THEN h.rectify_due_at
               WHEN 'rectified' THEN h.recheck_due_at END < %(now)s) AS overdue_hazards,
       (SELECT count(*) FROM firetwin.work_order w
         LEFT JOIN firetwin.hazard h ON h.id = w.hazard_id
         WHERE coalesce(w.unit_id, h.unit_id) = u.id AND w.status = 'open') AS open_work_orders,
       last.id AS last_id, last.kind AS last_kind, last.inspected_at AS last_at,
       last.result AS last_result, last.hazards_found AS last_hazards_found,
       last.location_flagged AS last_flagged
FROM firetwin.unit u
LEFT JOIN firetwin.grid g ON g.id = u.grid_id
LEFT JOIN LATERAL (
    SELECT i.id, i.kind, i.inspected_at, i.result, i.hazards_found, i.location_flagged
    FROM firetwin.inspection i WHERE i.unit_id = u.id
    ORDER BY i.inspected_at DESC, i.id DESC LIMIT 1
) last ON true
WHERE u.id = %(id)s
"""
PERSONAL_FIELDS = ("responsible_person", "responsible_phone", "manager_person")


@router.get("/{unit_id}")
async def read_unit(request: Request, conn: ConnDep, caller: CallerDep, unit_id: int) -> dict:
    """One unit: colour code and reason, open hazards, inspection cadence, last inspection."""
    require_staff(caller, what="read unit records")
    await unit_in_scope(conn, caller, unit_id)
    now = now_of(request)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DETAIL_SQL, {"id": unit_id, "now": now,
                                        "settled": ColourSettings().settled_statuses})
        u = await cur.fetchone()
    assert u is not None
    days = cadence_days(u["category"], u["colour_code"], PatrolSettings())
    last_at = u.pop("last_at")
    last = None if u["last_id"] is None else {
        "id": u["last_id"], "kind": u["last_kind"], "inspected_at": last_at.isoformat(),
        "result": u["last_result"], "hazards_found": u["last_hazards_found"],
        "location_flagged": u["last_flagged"]}
    for k in ("last_id", "last_kind", "last_result", "last_hazards_found", "last_flagged"):
        u.pop(k)
    if not caller.scope.personal:
        for f in PERSONAL_FIELDS:
            u[f] = None
    due = last_at + timedelta(days=days) if last_at else None
    return {**u, "colour_label": COLOUR_LABEL_ZH.get(u["colour_code"]),
            "colour_updated_at": u["colour_updated_at"].isoformat()
            if u["colour_updated_at"] else None,
            "cadence_days": days, "last_inspection": last,
            "next_inspection_due_at": due.isoformat() if due else None,
            "inspection_due": due is None or due <= now}


# -------------------------------------------------------------------------------- QR images


async def ensure_qr_token(conn: AsyncConnection, unit_id: int) -> str:
    """The unit's QR token; a new random url-safe one (unique) when it has none yet."""
    cur = await conn.execute("SELECT qr_token FROM firetwin.unit WHERE id = %s", (unit_id,))
    row = await cur.fetchone()
    if row is not None and row[0]:
        return row[0]
    for _ in range(5):
        token = secrets.token_urlsafe(18)  # 24 characters, 144 random bits
        try:
            async with conn.transaction():  # a savepoint: a clash leaves the request usable
                cur = await conn.execute(
                    "UPDATE firetwin.unit SET qr_token = %s WHERE id = %s AND qr_token IS NULL "
                    "RETURNING qr_token", (token, unit_id))
                row = await cur.fetchone()
        except psycopg.errors.UniqueViolation:
            continue
        if row is not None:
            return row[0]
        # A concurrent request set it first (the UPDATE re-checked qr_token IS NULL).
        cur = await conn.execute("SELECT qr_token FROM firetwin.unit WHERE id = %s", (unit_id,))
        return (await cur.fetchone())[0]
    raise Conflict("could not allocate a QR token, retry")


def qr_url(request: Request, token: str) -> str:
    """``{public_url}/units/{token}``: what the unit's QR code encodes."""
    settings = request.app.state.settings
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return f"{base.rstrip('/')}/units/{token}"


def qr_image(url: str, *, kind: str, scale: int) -> bytes:
    """The QR code of ``url`` (error correction M, quiet zone 4) as PNG or SVG bytes."""
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind=kind, scale=scale, border=4)
    return buf.getvalue()


async def _qr(request: Request, conn: AsyncConnection, caller: Caller, unit_id: int,
              kind: str, scale: int) -> Response:
    require_staff(caller, what="print unit QR codes")
    await unit_in_scope(conn, caller, unit_id)
    url = qr_url(request, await ensure_qr_token(conn, unit_id))
    media = {"png": "image/png", "svg": "image/svg+xml"}[kind]
    return Response(qr_image(url, kind=kind, scale=scale), media_type=media, headers={
        "Cache-Control": "private, max-age=3600", "X-QR-URL": url,
        "Content-Disposition": f'inline; filename="unit-{unit_id}-qr.{kind}"'})


@router.get("/{unit_id}/qr.png", response_class=Response)
async def read_unit_qr_png(
    request: Request, conn: ConnDep, caller: CallerDep, unit_id: int,
    scale: Annotated[int, Query(ge=1, le=40, description="Pixels per module")] = 8,
) -> Response:
    """The unit's QR code (一店一码) as PNG, encoding ``{public_url}/units/{qr_token}``."""
    return await _qr(request, conn, caller, unit_id, "png", scale)


@router.get("/{unit_id}/qr.svg", response_class=Response)
async def read_unit_qr_svg(
    request: Request, conn: ConnDep, caller: CallerDep, unit_id: int,
    scale: Annotated[int, Query(ge=1, le=40, description="Units per module")] = 8,
) -> Response:
    """The unit's QR code (一店一码) as SVG, encoding ``{public_url}/units/{qr_token}``."""
    return await _qr(request, conn, caller, unit_id, "svg", scale)


# ------------------------------------------------------------------------------ enforcement


class EnforcementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description=f"One of {', '.join(vocab.WORK_ORDER_KINDS)}")
    hazard_id: int | None = Field(default=None, description="A hazard of this unit")
    due_at: datetime | None = Field(default=None, description="Deadline (ISO 8601 with zone)")
    amount_cny: float | None = Field(default=None, description="Penalty amount, yuan")
    legal_basis: str | None = Field(default=None, max_length=2000,
                                    description="Article cited; required for decisions")
    note: str | None = Field(default=None, max_length=2000)


_WO_SQL = """
SELECT w.id, w.kind, w.status, w.unit_id, w.hazard_id, h.code AS hazard_code,
       w.issued_by_user_id, w.issued_at, w.due_at, w.closed_at, w.amount_cny, w.legal_basis,
       w.note, (w.status = 'open' AND w.due_at < %(now)s) AS overdue
FROM firetwin.work_order w LEFT JOIN firetwin.hazard h ON h.id = w.hazard_id
"""


def _wo_out(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in ("issued_at", "due_at", "closed_at"):
        out[k] = out[k].isoformat() if out[k] else None
    out["label"] = WORK_ORDER_LABEL_ZH.get(out["kind"], out["kind"])
    return out


def _validate_enforcement(body: EnforcementIn, now: datetime) -> None:
    if body.kind not in vocab.WORK_ORDER_KINDS:
        raise BadRequest(f"kind {body.kind!r} is not one of: {', '.join(vocab.WORK_ORDER_KINDS)}")
    if body.kind == "penalty":
        if body.amount_cny is None:
            raise BadRequest("amount_cny is required for a penalty")
        if not math.isfinite(body.amount_cny) or body.amount_cny <= 0:
            raise BadRequest("amount_cny must be a positive number of yuan")
    elif body.amount_cny is not None:
        raise BadRequest(f"amount_cny is only for a penalty, not a {body.kind}")
    if body.kind in DECISION_KINDS and not (body.legal_basis or "").strip():
        raise BadRequest(f"a {body.kind} is a decision: legal_basis (the article cited) "
                         "is required")
    if body.due_at is not None:
        if body.due_at.tzinfo is None:
            raise BadRequest("due_at needs a timezone, e.g. 2026-07-01T18:00:00+08:00")
        if body.due_at <= now:
            raise BadRequest("due_at must be in the future")


@router.post("/{unit_id}/enforcement", status_code=201)
async def create_enforcement(
    request: Request, conn: ConnDep, caller: CallerDep, unit_id: int, body: EnforcementIn,
) -> dict:
    """Issue a notice or enforcement action to a unit; its colour code is recomputed."""
    require_staff(caller, ENFORCE_ROLES, what="issue enforcement actions")
    now = now_of(request)
    _validate_enforcement(body, now)
    await unit_in_scope(conn, caller, unit_id)
    if body.hazard_id is not None:
        cur = await conn.execute(
            "SELECT unit_id, status FROM firetwin.hazard WHERE id = %s", (body.hazard_id,))
        hz = await cur.fetchone()
        if hz is None or hz[0] != unit_id:
            raise BadRequest(f"hazard {body.hazard_id} is not a hazard of unit {unit_id}")
        if hz[1] in ("closed", "rejected"):
            raise BadRequest(f"hazard {body.hazard_id} is {hz[1]}")
    cur = await conn.execute(
        "INSERT INTO firetwin.work_order (kind, hazard_id, unit_id, issued_by_user_id, "
        "issued_at, due_at, status, amount_cny, legal_basis, note) "
        "VALUES (%s, %s, %s, %s, %s, %s, 'open', %s, %s, %s) RETURNING id",
        (body.kind, body.hazard_id, unit_id, caller.user_id, now, body.due_at, body.amount_cny,
         (body.legal_basis or "").strip() or None, body.note))
    wo_id = (await cur.fetchone())[0]
    return await _after_change(conn, wo_id, unit_id, now)


async def _after_change(conn: AsyncConnection, wo_id: int, unit_id: int | None,
                        now: datetime) -> dict:
    """Recompute the unit's colour and return the work order with the unit's new code."""
    if unit_id is not None:
        await recompute_colour_codes(conn, [unit_id], now=now)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_WO_SQL + " WHERE w.id = %(id)s", {"id": wo_id, "now": now})
        wo = _wo_out(await cur.fetchone())
        unit = None
        if unit_id is not None:
            await cur.execute("SELECT id, colour_code, colour_reason FROM firetwin.unit "
                              "WHERE id = %s", (unit_id,))
            unit = await cur.fetchone()
    return {**wo, "unit": unit}


@router.get("/{unit_id}/enforcement")
async def read_unit_enforcement(
    request: Request, conn: ConnDep, caller: CallerDep, unit_id: int,
    status: Annotated[str | None, Query(description="open | closed")] = None,
) -> dict:
    """Notices and enforcement actions of a unit (its own and its hazards'), newest first."""
    require_staff(caller, what="read enforcement records")
    if status is not None and status not in ("open", "closed"):
        raise BadRequest("status must be open or closed")
    await unit_in_scope(conn, caller, unit_id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _WO_SQL + " WHERE coalesce(w.unit_id, h.unit_id) = %(unit)s "
            "AND (%(status)s::text IS NULL OR w.status = %(status)s) "
            "ORDER BY w.issued_at DESC, w.id DESC",
            {"unit": unit_id, "status": status, "now": now_of(request)})
        rows = [_wo_out(r) for r in await cur.fetchall()]
    return {"unit_id": unit_id, "count": len(rows), "items": rows}


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


@work_orders_router.post("/{work_order_id}/close")
async def update_work_order_close(
    request: Request, conn: ConnDep, caller: CallerDep, work_order_id: int,
    body: Annotated[CloseIn | None, Body()] = None,
) -> dict:
    """Close a work order (complied, lifted or paid); the unit's colour code is recomputed."""
    require_staff(caller, ENFORCE_ROLES, what="close work orders")
    cur = await conn.execute(
        "SELECT w.status, coalesce(w.unit_id, h.unit_id), coalesce(u.grid_id, h.grid_id) "
        "FROM firetwin.work_order w LEFT JOIN firetwin.hazard h ON h.id = w.hazard_id "
        "LEFT JOIN firetwin.unit u ON u.id = coalesce(w.unit_id, h.unit_id) "
        "WHERE w.id = %s FOR UPDATE OF w", (work_order_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"work order {work_order_id} not found")
    status, unit_id, grid_id = row
    if not caller.scope.allows(grid_id=grid_id, unit_id=unit_id):
        raise Forbidden(f"work order {work_order_id} is not in your scope")
    if status != "open":
        raise Conflict(f"work order {work_order_id} is already {status}")
    now = now_of(request)
    await conn.execute(
        "UPDATE firetwin.work_order SET status = 'closed', closed_at = %s, "
        "note = concat_ws(E'\\n', note, %s::text) WHERE id = %s",
        (now, body.note if body else None, work_order_id))
    return await _after_change(conn, work_order_id, unit_id, now)
