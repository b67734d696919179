"""Public hazard reporting (群众随手拍): anonymous report → tracking code → progress.

``POST /api/public/reports`` takes a multipart form (location, category, description, an
optional photo and optional contact details) without signing in, rate-limited per client;
it answers a tracking code. ``GET /api/public/reports/{tracking_code}`` shows the progress:
stage, dates and the timeline of actions, never names, phone numbers or who acted. The same
reports are reachable through Open311 GeoReport v2 (services/routers/open311.py).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis import vocab
from gis.demo.hazard_text import TITLE
from gis.errors import InvalidInputError
from services import ratelimit
from services.deps import ConnDep
from services.errors import BadRequest, NotFound
from services.routers.attachments import MAX_BYTES, PayloadTooLarge, store_attachment
from services.workflows import hazards as wf

router = APIRouter(prefix="/api/public", tags=["public"])

PUBLIC_ACTOR = wf.Actor(user_id=None, name="public", role="public")

STAGE_ZH = {"reported": "已受理", "verified": "已核实", "rejected": "经核实不属实", "rectifying": "整改中",
            "rectified": "已整改待复查", "rechecked": "复查通过", "closed": "已办结"}
ACTION_ZH = {"report": "群众上报", "verify": "现场核实", "reject": "核实为误报",
             "start_rectification": "开始整改", "rectify": "整改完成", "recheck_pass": "复查通过",
             "recheck_fail": "复查未通过，继续整改", "close": "销号办结",
             "fix_on_spot": "立查立改", "escalate": "逾期升级督办", "whistle": "多部门协同处置",
             "department_report": "部门报到", "control": "临时管控"}


class PublicSettings(BaseSettings):
    """Limits of anonymous reporting (``FIRETWIN_PUBLIC_*``)."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_PUBLIC_", extra="ignore")

    reports_per_window: int = Field(default=5, description="Reports per client per window.")
    window_s: float = Field(default=3600, description="Rate-limit window in seconds.")


def _settings(request: Request) -> PublicSettings:
    s = getattr(request.app.state, "public_settings", None)
    if s is None:
        s = request.app.state.public_settings = PublicSettings()
    return s


async def submit_public_report(
    request: Request, conn: AsyncConnection, report: wf.HazardReport, *,
    idempotency_key: str | None, request_sha256: str,
) -> dict[str, Any]:
    """Rate-limit, store and return the new hazard (shared by the form API and Open311)."""
    now = request.app.state.clock.now()
    s = _settings(request)
    host = request.client.host if request.client else None
    bucket = ratelimit.client_bucket("public-report", host, request.app.state.secret_key)
    await ratelimit.hit(conn, bucket, limit=s.reports_per_window, window_s=s.window_s, now=now)
    idem = (bucket, idempotency_key, request_sha256) if idempotency_key else None
    return await wf.create_hazard(conn, report, actor=PUBLIC_ACTOR, now=now,
                                  settings=request.app.state.hazard_settings, public=True,
                                  idempotency=idem)


def _float(value: str, name: str) -> float:
    try:
        v = float(value)
    except ValueError as e:
        msg = f"{name} must be a number, got {value!r}"
        raise BadRequest(msg) from e
    if not math.isfinite(v):
        msg = f"{name} must be a finite number"
        raise BadRequest(msg)
    return v


@router.post("/reports", status_code=201)
async def post_public_report(
    request: Request,
    conn: ConnDep,
    lon: Annotated[str, Form(description="Longitude, EPSG:4326")],
    lat: Annotated[str, Form(description="Latitude, EPSG:4326")],
    category: Annotated[str, Form()],
    subcategory: Annotated[str, Form()],
    description: Annotated[str, Form(min_length=1, max_length=2000)],
    photo: Annotated[UploadFile | None, File()] = None,
    contact_name: Annotated[str | None, Form(max_length=64)] = None,
    contact_phone: Annotated[str | None, Form(max_length=32)] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict:
    """Report a hazard anonymously; keep the tracking code to follow it."""
    x, y = _float(lon, "lon"), _float(lat, "lat")
    if category not in vocab.HAZARD_TAXONOMY:
        msg = f"unknown category {category!r}: one of {', '.join(vocab.HAZARD_TAXONOMY)}"
        raise BadRequest(msg)
    if contact_phone and not contact_phone.replace("-", "").replace("+", "").isdigit():
        raise BadRequest("contact_phone must be digits (with optional + and -)")
    photos: list[str] = []
    digest = hashlib.sha256(f"{x},{y},{category},{subcategory},{description}".encode())
    if photo is not None:
        data = await photo.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise PayloadTooLarge
        digest.update(data)
        photos.append((await store_attachment(request, conn, data, None))["id"])
    report = wf.HazardReport(
        lon=x, lat=y, category=category, subcategory=subcategory, tier="blue",
        title=TITLE.get(subcategory, subcategory), description=description, source="public",
        photos=photos, reporter_name=contact_name, reporter_phone=contact_phone)
    h = await submit_public_report(request, conn, report, idempotency_key=idempotency_key,
                                   request_sha256=digest.hexdigest())
    return {"tracking_code": h["tracking_code"], "status": h["status"],
            "stage": STAGE_ZH[h["status"]], "reported_at": h["reported_at"].isoformat(),
            "follow": f"/api/public/reports/{h['tracking_code']}"}


async def public_progress(conn: AsyncConnection, tracking_code: str) -> dict[str, Any]:
    """A public report's progress without personal data (NotFound for unknown codes)."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id, tracking_code, category, subcategory, title, description, status, "
        "reported_at, updated_at, closed_at, rectify_due_at, photos, published, "
        "ST_X(geom) AS lon, ST_Y(geom) AS lat FROM firetwin.hazard WHERE tracking_code = %s",
        (tracking_code.upper(),))
    h = await cur.fetchone()
    if h is None:
        msg = f"no report with tracking code {tracking_code!r}: check the code you were given"
        raise NotFound(msg)
    cur = await conn.execute(
        "SELECT at, action, to_status FROM firetwin.hazard_event WHERE hazard_id = %s "
        "ORDER BY at, id", (h["id"],))
    timeline = [{"at": at.isoformat(), "action": action, "label": ACTION_ZH.get(action, action),
                 "status": status} for at, action, status in await cur.fetchall()]
    iso = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in h.items()}
    return {"tracking_code": iso["tracking_code"], "category": iso["category"],
            "subcategory": iso["subcategory"], "title": iso["title"],
            "status": iso["status"], "stage": STAGE_ZH[iso["status"]],
            "reported_at": iso["reported_at"], "updated_at": iso["updated_at"],
            "closed_at": iso["closed_at"], "rectify_due_at": iso["rectify_due_at"],
            "lon": iso["lon"], "lat": iso["lat"], "timeline": timeline}


@router.get("/reports/{tracking_code}")
async def get_public_report(conn: ConnDep, tracking_code: str) -> dict:
    """Progress of a public report by its tracking code."""
    try:
        return await public_progress(conn, tracking_code)
    except InvalidInputError as e:  # pragma: no cover - defensive
        raise BadRequest(str(e)) from e
