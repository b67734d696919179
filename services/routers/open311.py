"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2) over the public reporting flow.

- ``GET /open311/v2/services.json``: one service per hazard subclass (``service_code``), grouped
  by class;
- ``POST /open311/v2/requests.json`` (form-encoded): ``service_code``, ``lat``, ``long``,
  ``description``, optional ``media_url``, ``first_name``, ``last_name``, ``phone``, ``email``;
  answers ``[{service_request_id, service_notice}]`` where the id is the tracking code;
- ``GET /open311/v2/requests.json``: published (rectified or closed) requests, filtered by
  ``service_code``, ``start_date``, ``end_date``, ``status``; or the ones named by
  ``service_request_id`` (comma-separated tracking codes), whatever their state;
- ``GET /open311/v2/requests/{id}.json``.

Only JSON is served (``.xml`` is a 400 saying so). Errors use GeoReport's shape
``[{"code": 400, "description": "..."}]``. Reporters' names, phones and e-mails are stored for
the staff and never returned here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row

from gis import vocab
from gis.demo.hazard_text import TITLE
from gis.errors import GisError
from services.deps import ConnDep
from services.errors import FireSafetyError, status_for
from services.routers.public import submit_public_report
from services.workflows import hazards as wf

router = APIRouter(prefix="/open311/v2", tags=["open311"])

SUBCATEGORY_OF = {s: c for c, subs in vocab.HAZARD_TAXONOMY.items() for s in subs}
MAX_IDS = 50


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _error(code: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": code, "description": description}], status_code=code)


async def _guard(fmt: str, body: Callable[[], Awaitable[Any]], conn: Any = None) -> JSONResponse:
    """Run an endpoint body, rendering every error in GeoReport's shape.

    On an error the request's transaction is rolled back here (the error is answered, not
    raised, so the connection dependency would otherwise commit): nothing is stored.
    """
    if fmt != "json":
        return _error(400, f"format {fmt!r} is not supported: use .json")
    try:
        return JSONResponse(await body())
    except (Open311Error, FireSafetyError, GisError) as e:
        if conn is not None:
            await conn.rollback()
        if isinstance(e, Open311Error):
            return _error(e.code, e.description)
        if isinstance(e, GisError):
            return _error(status_for(e), e.user_msg)
        resp = _error(e.status_code, e.user_msg)
        if getattr(e, "retry_after_s", None):
            resp.headers["Retry-After"] = str(e.retry_after_s)
        return resp


def _services() -> list[dict[str, Any]]:
    return [{"service_code": sub, "service_name": TITLE.get(sub, sub),
             "description": f"{vocab.CATEGORY_LABEL_ZH[cat]}类隐患：{TITLE.get(sub, sub)}",
             "metadata": False, "type": "realtime", "keywords": f"{cat},{sub}",
             "group": cat}
            for cat, subs in vocab.HAZARD_TAXONOMY.items() for sub in subs]


@router.get("/services.{fmt}")
async def list_services(fmt: str) -> JSONResponse:
    async def body():
        return _services()

    return await _guard(fmt, body)


@router.get("/services/{service_code}.{fmt}")
async def service_definition(service_code: str, fmt: str) -> JSONResponse:
    async def body():
        if service_code not in SUBCATEGORY_OF:
            raise Open311Error(404, f"unknown service_code {service_code!r}")
        return {"service_code": service_code, "attributes": []}

    return await _guard(fmt, body)


def _number(form: Any, name: str) -> float:
    raw = form.get(name)
    if raw in (None, ""):
        raise Open311Error(400, f"{name} is required")
    try:
        v = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(v):
        raise Open311Error(400, f"{name} must be a finite number")
    return v


@router.post("/requests.{fmt}")
async def create_request(request: Request, conn: ConnDep, fmt: str) -> JSONResponse:
    async def body():
        form = await request.form()
        code = form.get("service_code")
        if not code:
            raise Open311Error(400, "service_code is required (see services.json)")
        if code not in SUBCATEGORY_OF:
            raise Open311Error(400, f"unknown service_code {code!r} (see services.json)")
        if form.get("address_string") and not form.get("lat"):
            raise Open311Error(400, "give lat and long: address lookup is not supported")
        lat, lon = _number(form, "lat"), _number(form, "long")
        description = (form.get("description") or "").strip()
        if not description:
            raise Open311Error(400, "description is required")
        if len(description) > 2000:
            raise Open311Error(400, "description must be at most 2000 characters")
        media = (form.get("media_url") or "").strip()
        if media and (not media.startswith(("http://", "https://")) or len(media) > 500):
            raise Open311Error(400, "media_url must be an http(s) URL of at most 500 characters")
        name = " ".join(x for x in (form.get("first_name"), form.get("last_name")) if x) or None
        phone = form.get("phone") or None
        if phone and len(phone) > 32:
            raise Open311Error(400, "phone must be at most 32 characters")
        report = wf.HazardReport(
            lon=lon, lat=lat, category=SUBCATEGORY_OF[code], subcategory=code, tier="blue",
            title=TITLE.get(code, code),
            description=description + (f"\n[media_url] {media}" if media else ""),
            source="public", reporter_name=name[:64] if name else None,
            reporter_phone=phone)
        sha = hashlib.sha256(f"{code}|{lat}|{lon}|{description}|{media}".encode()).hexdigest()
        h = await submit_public_report(request, conn, report,
                                       idempotency_key=request.headers.get("idempotency-key"),
                                       request_sha256=sha)
        return [{"service_request_id": h["tracking_code"],
                 "service_notice": "已受理：请凭查询码跟踪办理进度 (keep this id to follow it)",
                 "account_id": None}]

    return await _guard(fmt, body, conn)


def _request_row(h: dict[str, Any]) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v is not None else None

    desc = h["description"] or ""
    media = None
    if "\n[media_url] " in desc:
        desc, media = desc.split("\n[media_url] ", 1)
    return {
        "service_request_id": h["tracking_code"] or h["code"],
        "status": "closed" if h["status"] in ("closed", "rejected") else "open",
        "status_notes": {"rejected": "核实为误报 (not confirmed)",
                         "closed": "已办结 (fixed)"}.get(h["status"], h["status"]),
        "service_name": TITLE.get(h["subcategory"], h["subcategory"]),
        "service_code": h["subcategory"],
        "description": desc,
        "agency_responsible": h["agency"],
        "service_notice": None,
        "requested_datetime": iso(h["reported_at"]),
        "updated_datetime": iso(h["updated_at"]),
        "expected_datetime": iso(h["rectify_due_at"]),
        "address": None, "address_id": None, "zipcode": None,
        "lat": h["lat"], "long": h["lon"],
        "media_url": media,
    }


_SELECT = (
    "SELECT h.tracking_code, h.code, h.subcategory, h.status, h.description, h.reported_at, "
    "h.updated_at, h.rectify_due_at, ST_Y(h.geom) AS lat, ST_X(h.geom) AS lon, "
    "coalesce(r.name, '') AS agency FROM firetwin.hazard h "
    "LEFT JOIN firetwin.grid g ON g.id = h.grid_id LEFT JOIN firetwin.region r ON r.id = g.street_id "
)
#: What the public may list: the same rule as the public hazards layer.
PUBLIC_ROWS = "h.published AND h.status IN ('rectified', 'rechecked', 'closed')"


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be ISO 8601 (w3c) like 2026-06-01T00:00:00Z") from None
    if d.tzinfo is None:
        raise Open311Error(400, f"{name} needs a timezone, e.g. 2026-06-01T00:00:00Z")
    return d


@router.get("/requests.{fmt}")
async def list_requests(request: Request, conn: ConnDep, fmt: str) -> JSONResponse:
    async def body():
        q = request.query_params
        params: dict[str, Any] = {}
        if ids := q.get("service_request_id"):
            codes = [c.strip().upper() for c in ids.split(",") if c.strip()]
            if len(codes) > MAX_IDS:
                raise Open311Error(400, f"at most {MAX_IDS} service_request_id values")
            where = ["h.tracking_code = ANY(%(codes)s)"]
            params["codes"] = codes
        else:
            where = [PUBLIC_ROWS]
        if code := q.get("service_code"):
            if code not in SUBCATEGORY_OF:
                raise Open311Error(400, f"unknown service_code {code!r}")
            where.append("h.subcategory = %(code)s")
            params["code"] = code
        start, end = _date(q.get("start_date"), "start_date"), _date(q.get("end_date"), "end_date")
        if start and end and end < start:
            raise Open311Error(400, "end_date is before start_date")
        if start:
            where.append("h.reported_at >= %(start)s")
            params["start"] = start
        if end:
            where.append("h.reported_at <= %(end)s")
            params["end"] = end
        if status := q.get("status"):
            wanted = {s.strip() for s in status.split(",")}
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, "status must be open, closed or both")
            if wanted == {"open"}:
                where.append("h.status NOT IN ('closed', 'rejected')")
            elif wanted == {"closed"}:
                where.append("h.status IN ('closed', 'rejected')")
        cur = await conn.cursor(row_factory=dict_row).execute(
            _SELECT + "WHERE " + " AND ".join(where) + " ORDER BY h.reported_at DESC LIMIT 1000",
            params)
        return [_request_row(h) for h in await cur.fetchall()]

    return await _guard(fmt, body)


@router.get("/requests/{request_id}.{fmt}")
async def get_request(conn: ConnDep, request_id: str, fmt: str) -> JSONResponse:
    async def body():
        cur = await conn.cursor(row_factory=dict_row).execute(
            _SELECT + "WHERE h.tracking_code = %s", (request_id.upper(),))
        row = await cur.fetchone()
        if row is None:
            raise Open311Error(404, f"no service request {request_id!r}")
        return [_request_row(row)]

    return await _guard(fmt, body)
