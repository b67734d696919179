"""The hazard closed loop on the database: report, transitions, escalation, departments.

Every function takes an open psycopg connection inside the caller's transaction and a ``now``
from the application clock (services/clock.py); nothing commits here, so a request either
stores everything it did (hazard row, history event, notifications, idempotency key) or
nothing. Transitions lock the hazard row (``SELECT … FOR UPDATE``) and check the client's
``version`` (optimistic locking): of two concurrent transitions exactly one wins, the other
gets 409, and the history holds one event per successful transition.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import shapely
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from gis import vocab
from gis.errors import ConflictError, InvalidInputError, NotFoundError
from gis.indexing import index_geometry
from services.auth import Forbidden
from services.workflows.hazard_rules import (
    ACTIONS,
    FINAL_STATUSES,
    HazardSettings,
    IllegalTransition,
    plan,
    stage_due,
    supervised_tier,
)

#: A "fire lane blocked" report within this distance of a road edge closes that edge to
#: trucks until the hazard is closed (issue: road graph updated by blockages).
FIRE_LANE_SNAP_M = 30.0

HAZARD_COLUMNS = (
    "id, code, tracking_code, category, subcategory, tier, status, source, title, description, "
    "reporter_user_id, reporter_name, reporter_phone, assignee_user_id, unit_id, building_id, "
    "responsible_person, road_edge_id, supervised, published, photos, reported_at, "
    "verify_due_at, verified_at, rectify_due_at, rectified_at, recheck_due_at, rechecked_at, "
    "closed_at, updated_at, version, escalations, escalated_at, next_escalation_at, "
    "temporary_control, street_coordination, grid_id, ST_X(geom) AS lon, ST_Y(geom) AS lat"
)


class VersionConflict(ConflictError):
    """The client's version is stale: someone else changed the hazard first."""


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (id, name, role) or the system (escalation sweep)."""

    user_id: int | None
    name: str
    role: str


SYSTEM = Actor(user_id=None, name="system", role="system")


@dataclass
class HazardReport:
    """A new hazard as submitted (already type-checked by the API model)."""

    lon: float
    lat: float
    category: str
    subcategory: str
    tier: str
    title: str
    description: str | None = None
    source: str = "grid_worker"
    photos: list[str] = field(default_factory=list)
    unit_id: int | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    sensor_id: int | None = None  # the sensor whose alarm raised it (source "sensor")


def _point_sql() -> str:
    return "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)"


def validate_report(r: HazardReport) -> None:
    """Vocabulary and range checks; InvalidInputError names what is wrong."""
    if not (-180 <= r.lon <= 180 and -90 <= r.lat <= 90):
        msg = f"location ({r.lon}, {r.lat}) is not lon/lat in degrees (EPSG:4326, [lon, lat])"
        raise InvalidInputError(msg)
    if r.category not in vocab.HAZARD_TAXONOMY:
        msg = f"unknown category {r.category!r}: one of {', '.join(vocab.HAZARD_TAXONOMY)}"
        raise InvalidInputError(msg)
    subs = vocab.HAZARD_TAXONOMY[r.category]
    if r.subcategory not in subs:
        msg = f"unknown subcategory {r.subcategory!r} of {r.category}: one of {', '.join(subs)}"
        raise InvalidInputError(msg)
    if r.tier not in vocab.HAZARD_TIERS:
        msg = f"unknown tier {r.tier!r}: one of {', '.join(vocab.HAZARD_TIERS)}"
        raise InvalidInputError(msg)
    if r.source not in vocab.HAZARD_SOURCES:
        msg = f"unknown source {r.source!r}: one of {', '.join(vocab.HAZARD_SOURCES)}"
        raise InvalidInputError(msg)
    if not r.title.strip():
        msg = "title is empty"
        raise InvalidInputError(msg)


async def check_attachments(conn: AsyncConnection, ids: list[str]) -> None:
    """Every attachment id must name an uploaded file."""
    if not ids:
        return
    if len(set(ids)) != len(ids):
        msg = "attachments are listed twice"
        raise InvalidInputError(msg)
    cur = await conn.execute("SELECT id FROM firetwin.attachment WHERE id = ANY(%s)", (ids,))
    found = {r[0] for r in await cur.fetchall()}
    missing = [i for i in ids if i not in found]
    if missing:
        msg = (f"unknown attachment(s) {', '.join(missing)}: upload each file first with "
               "POST /api/attachments and pass the returned id")
        raise InvalidInputError(msg)


async def claim_idempotency_key(
    conn: AsyncConnection, *, actor: str, key: str, request_sha256: str, now: datetime
) -> None:
    """Record a submission key; a repeat (same actor and key) is a 409 naming the original."""
    if not (1 <= len(key) <= 128) or not key.isprintable():
        msg = "Idempotency-Key must be 1–128 printable characters"
        raise InvalidInputError(msg)
    cur = await conn.execute(
        "INSERT INTO firetwin.idempotency_key (actor, key, request_sha256, created_at) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING key",
        (actor, key, request_sha256, now))
    if await cur.fetchone() is not None:
        return
    cur = await conn.execute(
        "SELECT i.request_sha256, h.code, h.tracking_code FROM firetwin.idempotency_key i "
        "LEFT JOIN firetwin.hazard h ON h.id = i.hazard_id WHERE i.actor = %s AND i.key = %s",
        (actor, key))
    row = await cur.fetchone()
    if row is not None and row[0] != request_sha256:
        msg = "Idempotency-Key was already used for a different submission: use a new key"
        raise ConflictError(msg)
    code = (row[2] or row[1]) if row else None
    msg = ("this submission was already received" + (f" as {code}" if code else "")
           + ": nothing new was stored")
    raise ConflictError(msg)


async def _attach_key(conn: AsyncConnection, actor: str, key: str, hazard_id: int) -> None:
    await conn.execute(
        "UPDATE firetwin.idempotency_key SET hazard_id = %s WHERE actor = %s AND key = %s",
        (hazard_id, actor, key))


async def _place(conn: AsyncConnection, lon: float, lat: float) -> dict[str, Any]:
    """District check, grid, street, containing building and the unit in it."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"""
        WITH p AS (SELECT {_point_sql()} AS g)
        SELECT
          (SELECT name FROM firetwin.region r, p
            WHERE r.level = 'district' AND ST_Intersects(r.geom, p.g) LIMIT 1) AS district,
          firetwin.grid_for(p.g) AS grid_id,
          (SELECT b.id FROM firetwin.building b WHERE ST_Intersects(b.geom, p.g)
            ORDER BY b.id LIMIT 1) AS building_id
        FROM p
        """,
        {"lon": lon, "lat": lat})
    place = await cur.fetchone()
    if place["district"] is None:
        cur = await conn.execute(
            "SELECT string_agg(name, ', ') FROM firetwin.region WHERE level = 'district'")
        names = (await cur.fetchone())[0] or "no district is loaded"
        msg = (f"location ({lon:.6f}, {lat:.6f}) is outside the district ({names}); "
               "check the coordinates are [lon, lat] in EPSG:4326")
        raise InvalidInputError(msg)
    cur = await conn.execute(
        f"""
        SELECT coalesce(
          (SELECT r.name FROM firetwin.grid g JOIN firetwin.region r ON r.id = g.street_id
            WHERE g.id = %(grid)s),
          (SELECT r.name FROM firetwin.region r WHERE r.level = 'street'
            AND ST_Intersects(r.geom, {_point_sql()}) LIMIT 1),
          %(district)s),
          (SELECT worker_user_id FROM firetwin.grid WHERE id = %(grid)s)
        """,
        {"grid": place["grid_id"], "lon": lon, "lat": lat, "district": place["district"]})
    street, worker = await cur.fetchone()
    place["street"] = street
    place["worker_user_id"] = worker
    return place


def short_region(name: str) -> str:
    """西屯街道 → 西屯 (the region part of a hazard code, as in seed 002).

    >>> short_region("西屯街道"), short_region("文钟镇"), short_region("Kallio")
    ('西屯', '文钟', 'Kallio')
    """
    for suffix in ("街道", "镇", "乡", "区"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


async def next_code(conn: AsyncConnection, *, street: str, category: str, tier: str) -> str:
    """A unique, stable code region-type-risk-sequence (seed 002: 四维编码), e.g. 西屯-电气-中-000124.

    The sequence runs per region; it continues after the highest code already stored there.
    """
    region = short_region(street)
    cur = await conn.execute(
        """
        INSERT INTO firetwin.hazard_code_counter (prefix, last_seq)
        VALUES (%(p)s::text, (SELECT coalesce(max((regexp_match(code, '-(\\d+)$'))[1]::int), 0) + 1
                         FROM firetwin.hazard WHERE starts_with(code, %(p)s::text || '-')))
        ON CONFLICT (prefix) DO UPDATE SET last_seq = firetwin.hazard_code_counter.last_seq + 1
        RETURNING last_seq
        """,
        {"p": region})
    seq = (await cur.fetchone())[0]
    return f"{region}-{vocab.CATEGORY_LABEL_ZH[category]}-{vocab.TIER_LABEL_ZH[tier]}-{seq:06d}"


async def _new_tracking_code(conn: AsyncConnection) -> str:
    """A public tracking code: random (not guessable from ids), unique."""
    for _ in range(8):
        code = "HZ" + secrets.token_hex(5).upper()
        cur = await conn.execute("SELECT 1 FROM firetwin.hazard WHERE tracking_code = %s", (code,))
        if await cur.fetchone() is None:
            return code
    msg = "could not allocate a tracking code"
    raise ConflictError(msg)


async def _unit_for(conn: AsyncConnection, r: HazardReport, building_id: int | None) -> int | None:
    if r.unit_id is not None:
        cur = await conn.execute("SELECT 1 FROM firetwin.unit WHERE id = %s", (r.unit_id,))
        if await cur.fetchone() is None:
            msg = f"unit_id {r.unit_id} does not exist"
            raise InvalidInputError(msg)
        return r.unit_id
    if building_id is None:
        return None
    cur = await conn.execute(
        f"SELECT id FROM firetwin.unit WHERE building_id = %(b)s "
        f"ORDER BY geom <-> {_point_sql()} LIMIT 1",
        {"b": building_id, "lon": r.lon, "lat": r.lat})
    row = await cur.fetchone()
    return row[0] if row else None


async def _fire_lane_edge(conn: AsyncConnection, r: HazardReport) -> int | None:
    if r.subcategory != "fire_lane_blocked":
        return None
    cur = await conn.execute(
        f"SELECT id FROM firetwin.road_edge "
        f"WHERE geom && ST_Expand({_point_sql()}, %(d)s / 50000.0) "  # index pre-filter (≥ d up to 63° N)
        f"AND ST_DWithin(geom::geography, {_point_sql()}::geography, %(d)s) "
        f"ORDER BY geom <-> {_point_sql()} LIMIT 1",
        {"lon": r.lon, "lat": r.lat, "d": FIRE_LANE_SNAP_M})
    row = await cur.fetchone()
    return row[0] if row else None


async def notify(conn: AsyncConnection, *, hazard_id: int, kind: str, message: str,
                 now: datetime, recipients_sql: str, params: dict[str, Any]) -> int:
    """Insert one notification per recipient user id selected by ``recipients_sql``."""
    cur = await conn.execute(
        f"INSERT INTO firetwin.notification (user_id, hazard_id, kind, message, created_at) "
        f"SELECT DISTINCT u, %(hid)s, %(kind)s, %(msg)s, %(now)s FROM ({recipients_sql}) r(u) "
        f"WHERE u IS NOT NULL",
        {**params, "hid": hazard_id, "kind": kind, "msg": message, "now": now})
    return cur.rowcount


STREET_OFFICERS_SQL = (
    "SELECT u.id FROM firetwin.app_user u JOIN firetwin.grid g ON g.street_id = u.region_id "
    "WHERE g.id = %(grid)s AND u.role = 'street_officer' AND u.active"
)
COMMAND_SQL = "SELECT id FROM firetwin.app_user WHERE role IN ('admin', 'dispatcher') AND active"


async def _tier_notices(conn: AsyncConnection, h: dict[str, Any], now: datetime) -> None:
    """Orange: street coordination; red: immediate report to the command centre too."""
    params = {"grid": h["grid_id"]}
    if h["tier"] in ("orange", "red"):
        await notify(conn, hazard_id=h["id"], kind="supervision", now=now,
                     message=f"{h['code']} is {h['tier']}: supervised (挂牌督办), "
                             "street-level coordination",
                     recipients_sql=STREET_OFFICERS_SQL, params=params)
    if h["tier"] == "red":
        await notify(conn, hazard_id=h["id"], kind="immediate_report", now=now,
                     message=f"{h['code']} is red: immediate report, put temporary control "
                             "in place",
                     recipients_sql=COMMAND_SQL, params=params)


async def create_hazard(
    conn: AsyncConnection,
    r: HazardReport,
    *,
    actor: Actor,
    now: datetime,
    settings: HazardSettings,
    public: bool = False,
    idempotency: tuple[str, str, str] | None = None,
    allowed_grids: frozenset[int] | None = None,
) -> dict[str, Any]:
    """Store a reported hazard with its code, deadlines, assignment and first event.

    ``idempotency`` is (actor key, client key, request hash); ``allowed_grids`` limits where a
    grid-scoped reporter may report (None: anywhere in the district).
    """
    validate_report(r)
    await check_attachments(conn, r.photos)
    if idempotency is not None:
        await claim_idempotency_key(conn, actor=idempotency[0], key=idempotency[1],
                                    request_sha256=idempotency[2], now=now)
    place = await _place(conn, r.lon, r.lat)
    if allowed_grids is not None and place["grid_id"] not in allowed_grids:
        msg = "the location is outside your grids"
        raise Forbidden(msg)
    unit_id = await _unit_for(conn, r, place["building_id"])
    edge = await _fire_lane_edge(conn, r)
    code = await next_code(conn, street=place["street"], category=r.category, tier=r.tier)
    tracking = await _new_tracking_code(conn) if public else None
    verify_due = now + timedelta(hours=settings.verify_within_h)
    cells = index_geometry(shapely.Point(r.lon, r.lat))
    supervised = supervised_tier(r.tier)
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"""
        INSERT INTO firetwin.hazard (code, tracking_code, category, subcategory, tier, status,
            source, title, description, reporter_user_id, reporter_name, reporter_phone,
            assignee_user_id, unit_id, building_id, road_edge_id, sensor_id, supervised,
            street_coordination, photos, reported_at, verify_due_at, next_escalation_at,
            updated_at, geom, h3_r7, h3_r9, h3_r11)
        VALUES (%(code)s, %(tracking)s, %(category)s, %(subcategory)s, %(tier)s, 'reported',
            %(source)s, %(title)s, %(description)s, %(user_id)s, %(reporter_name)s,
            %(reporter_phone)s, %(assignee)s, %(unit_id)s, %(building_id)s, %(edge)s, %(sensor)s,
            %(supervised)s, %(coord)s, %(photos)s, %(now)s, %(verify_due)s, %(next_esc)s, %(now)s,
            {_point_sql()}, %(h3_r7)s, %(h3_r9)s, %(h3_r11)s)
        RETURNING {HAZARD_COLUMNS}
        """,
        {"code": code, "tracking": tracking, "category": r.category,
         "subcategory": r.subcategory, "tier": r.tier, "source": r.source,
         "title": r.title.strip(), "description": r.description, "user_id": actor.user_id,
         "reporter_name": r.reporter_name, "reporter_phone": r.reporter_phone,
         "assignee": place["worker_user_id"], "unit_id": unit_id,
         "building_id": place["building_id"], "edge": edge, "sensor": r.sensor_id,
         "supervised": supervised,
         "coord": r.tier == "orange", "photos": r.photos, "now": now,
         "verify_due": verify_due, "next_esc": None if r.tier == "red" else verify_due,
         "lon": r.lon, "lat": r.lat, **cells})
    h = await cur.fetchone()
    await _event(conn, h, action="report", from_status=None, actor=actor, now=now,
                 note="public report" if public else None, attachments=r.photos,
                 lon=r.lon, lat=r.lat)
    if idempotency is not None:
        await _attach_key(conn, idempotency[0], idempotency[1], h["id"])
    await notify(conn, hazard_id=h["id"], kind="assigned", now=now,
                 message=f"new hazard {code}: verify by {verify_due:%Y-%m-%d %H:%M} UTC",
                 recipients_sql="SELECT %(worker)s::integer UNION SELECT id FROM "
                                "firetwin.app_user WHERE unit_id = %(unit)s AND "
                                "role = 'unit_manager' AND active",
                 params={"worker": place["worker_user_id"], "unit": unit_id})
    await _tier_notices(conn, h, now)
    return h


async def _event(conn: AsyncConnection, h: dict[str, Any], *, action: str,
                 from_status: str | None, actor: Actor, now: datetime, note: str | None,
                 attachments: list[str], lon: float | None, lat: float | None) -> None:
    cells = (index_geometry(shapely.Point(lon, lat)) if lon is not None and lat is not None
             else {"h3_r7": None, "h3_r9": None, "h3_r11": None})
    await conn.execute(
        """
        INSERT INTO firetwin.hazard_event (hazard_id, at, action, from_status, to_status,
            actor_user_id, actor_name, note, attachments, version, tier, geom,
            h3_r7, h3_r9, h3_r11)
        VALUES (%(hid)s, %(now)s, %(action)s, %(from)s, %(to)s, %(uid)s, %(name)s, %(note)s,
            %(att)s, %(version)s, %(tier)s,
            CASE WHEN %(lon)s::float8 IS NULL THEN NULL
                 ELSE ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) END,
            %(h3_r7)s, %(h3_r9)s, %(h3_r11)s)
        """,
        {"hid": h["id"], "now": now, "action": action, "from": from_status, "to": h["status"],
         "uid": actor.user_id, "name": actor.name, "note": note, "att": attachments,
         "version": h["version"], "tier": h["tier"], "lon": lon, "lat": lat, **cells})


async def get_hazard(conn: AsyncConnection, hazard_id: int, *, lock: bool = False) -> dict[str, Any]:
    """One hazard row (NotFoundError when absent)."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {HAZARD_COLUMNS} FROM firetwin.hazard WHERE id = %s"
        + (" FOR UPDATE" if lock else ""), (hazard_id,))
    row = await cur.fetchone()
    if row is None:
        msg = f"hazard {hazard_id} not found"
        raise NotFoundError(msg)
    return row


async def transition(
    conn: AsyncConnection,
    hazard_id: int,
    action: str,
    *,
    actor: Actor,
    now: datetime,
    settings: HazardSettings,
    version: int | None = None,
    note: str | None = None,
    attachments: list[str] | None = None,
    lon: float | None = None,
    lat: float | None = None,
    tier: str | None = None,
    check_scope: Any = None,
) -> dict[str, Any]:
    """Run one action of the closed loop on a hazard and record it in the history.

    ``check_scope(row)`` raises when the actor may not touch this hazard. Raises
    IllegalTransition (409), VersionConflict (409), InvalidInputError (400), Forbidden (403).
    """
    attachments = attachments or []
    if action not in ACTIONS:
        msg = f"unknown action {action!r}: one of {', '.join(ACTIONS)}"
        raise InvalidInputError(msg)
    h = await get_hazard(conn, hazard_id, lock=True)
    if check_scope is not None:
        check_scope(h)
    if version is not None and version != h["version"]:
        msg = (f"hazard {h['code']} changed since you read it (your version {version}, now "
               f"{h['version']}, status {h['status']}): reload it and retry")
        raise VersionConflict(msg)
    a = plan(action, h["status"], tier=h["tier"])
    if actor.role not in a.roles:
        msg = f"role {actor.role!r} may not {action} hazards"
        raise Forbidden(msg)
    if a.needs_evidence and not attachments:
        msg = f"{action} needs evidence: attach at least one photo (POST /api/attachments)"
        raise InvalidInputError(msg)
    if a.needs_note and not (note and note.strip()):
        msg = f"{action} needs a note saying why"
        raise InvalidInputError(msg)
    if tier is not None:
        if action != "verify":
            msg = "the tier can only be reassessed when verifying"
            raise InvalidInputError(msg)
        if tier not in vocab.HAZARD_TIERS:
            msg = f"unknown tier {tier!r}: one of {', '.join(vocab.HAZARD_TIERS)}"
            raise InvalidInputError(msg)
    if (lon is None) != (lat is None):
        msg = "give both lon and lat, or neither"
        raise InvalidInputError(msg)
    await check_attachments(conn, attachments)

    new_tier = tier or h["tier"]
    sets: dict[str, Any] = {"tier": new_tier}
    if a.to_status is not None:
        sets["status"] = a.to_status
    if action == "verify":
        due = now + settings.rectify_period(new_tier)
        sets |= {"verified_at": now, "rectify_due_at": due}
    elif action == "rectify":
        sets |= {"rectified_at": now, "recheck_due_at": now + timedelta(
            days=settings.recheck_within_days)}
    elif action == "recheck_pass":
        sets |= {"rechecked_at": now}
    elif action == "recheck_fail":
        sets |= {"rectified_at": None, "recheck_due_at": None,
                 "rectify_due_at": now + settings.rectify_period(new_tier)}
    elif action in ("close", "fix_on_spot", "reject"):
        sets |= {"closed_at": now}
        if action == "fix_on_spot":
            sets |= {"verified_at": h["verified_at"] or now, "rectified_at": now,
                     "rechecked_at": now}
        if action != "reject":
            sets["published"] = h["category"] != "vulnerable_groups"
    elif action == "control":
        sets["temporary_control"] = True
    status = sets.get("status", h["status"])
    if status in FINAL_STATUSES or new_tier == "red":
        sets["next_escalation_at"] = None
    else:
        merged = {**h, **sets}
        sets["next_escalation_at"] = stage_due(
            status, verify_due_at=merged["verify_due_at"],
            rectify_due_at=merged["rectify_due_at"], recheck_due_at=merged["recheck_due_at"])
    sets["supervised"] = h["supervised"] or supervised_tier(new_tier)
    sets["street_coordination"] = h["street_coordination"] or new_tier in ("orange", "red")
    cols = ", ".join(f"{k} = %({k})s" for k in sets)
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"UPDATE firetwin.hazard SET {cols}, photos = photos || %(att)s, "
        f"version = version + 1, updated_at = %(now)s WHERE id = %(id)s "
        f"RETURNING {HAZARD_COLUMNS}",
        {**sets, "att": attachments if action in ("rectify", "fix_on_spot") else [],
         "now": now, "id": hazard_id})
    new = await cur.fetchone()
    await _event(conn, new, action=action, from_status=h["status"], actor=actor, now=now,
                 note=note, attachments=attachments, lon=lon, lat=lat)
    if action == "recheck_fail":
        await notify(conn, hazard_id=hazard_id, kind="rejected_recheck", now=now,
                     message=f"{new['code']} failed its recheck: rectify again by "
                             f"{new['rectify_due_at']:%Y-%m-%d}",
                     recipients_sql="SELECT %(w)s::integer UNION SELECT id FROM "
                                    "firetwin.app_user WHERE unit_id = %(u)s AND "
                                    "role = 'unit_manager' AND active",
                     params={"w": new["assignee_user_id"], "u": new["unit_id"]})
    if new_tier != h["tier"]:
        await _tier_notices(conn, new, now)
    return new


@dataclass
class SweepResult:
    escalated: int = 0
    steps: int = 0
    notifications: int = 0
    by_tier: dict[str, int] = field(default_factory=dict)


#: Above this many hazards for one recipient in one batch, the recipient gets one digest
#: notification instead of one per hazard (a mass escalation must not flood anyone).
DIGEST_OVER = 5

_NOTIFY_SQL = """
    INSERT INTO firetwin.notification (user_id, hazard_id, kind, message, created_at)
    SELECT user_id, CASE WHEN n <= {digest} THEN hazard_id END, kind,
           CASE WHEN n <= {digest} THEN message
                ELSE n || ' hazards ' || digest || ' (e.g. ' || code || ')' END, %(now)s
    FROM (SELECT r.*, count(*) OVER w AS n, row_number() OVER (w ORDER BY hazard_id) AS rn
          FROM ({recipients}) r WINDOW w AS (PARTITION BY user_id)) x
    WHERE n <= {digest} OR rn = 1
    RETURNING 1
"""

_SWEEP_SQL = """
WITH due AS (
    -- The queue (hazard_escalation_due, kept by triggers on hazard) holds only open hazards
    -- whose clock runs. No row locks: sweeps are serialised by an advisory lock, and a
    -- transition committed meanwhile moves the clock, which the UPDATE below re-checks on the
    -- newest row version.
    SELECT h.id, h.tier AS old_tier, h.next_escalation_at,
           least(3, array_position(ARRAY['blue','yellow','orange','red'], h.tier::text) - 1
                    + 1 + floor(extract(epoch FROM (%(now)s - h.next_escalation_at))
                                / %(period_s)s)::int) AS new_idx,
           array_position(ARRAY['blue','yellow','orange','red'], h.tier::text) - 1 AS old_idx
    FROM (SELECT q.hazard_id FROM firetwin.hazard_escalation_due q
          WHERE q.due_at <= %(now)s AND q.hazard_id %% %(parts)s = %(part)s
          LIMIT %(batch)s) q
    JOIN firetwin.hazard h ON h.id = q.hazard_id
), upd AS (
    -- Changes no indexed column, so on a page with room (fillfactor 50) it is a HOT update.
    UPDATE firetwin.hazard h
    SET tier = (ARRAY['blue','yellow','orange','red'])[c.new_idx + 1],
        escalations = h.escalations + (c.new_idx - c.old_idx),
        escalated_at = %(now)s,
        next_escalation_at = CASE WHEN c.new_idx >= 3 THEN NULL
            ELSE c.next_escalation_at + (c.new_idx - c.old_idx) * %(period)s END,
        supervised = h.supervised OR c.new_idx >= 2,
        street_coordination = h.street_coordination OR c.new_idx >= 2,
        version = h.version + 1,
        updated_at = %(now)s
    FROM due c
    WHERE h.id = c.id AND h.next_escalation_at = c.next_escalation_at
      AND h.status NOT IN ('closed', 'rejected')
    RETURNING h.id, h.code, h.tier, h.status, h.version, h.grid_id, h.assignee_user_id,
              h.home_unit_id, c.old_tier, c.new_idx - c.old_idx AS steps
), ev AS (
    -- The home unit given, not looked up row by row by the history's trigger (migration 0017).
    INSERT INTO firetwin.hazard_event (hazard_id, at, action, from_status, to_status,
        actor_name, note, version, tier, home_unit_id)
    SELECT id, %(now)s, 'escalate', status, status, 'system',
           'overdue: ' || old_tier || ' → ' || tier, version, tier, home_unit_id FROM upd
    RETURNING 1
), n_assignee AS ({n_assignee}), n_street AS ({n_street}), n_command AS ({n_command})
SELECT (SELECT count(*) FROM upd), (SELECT coalesce(sum(steps), 0) FROM upd),
       (SELECT count(*) FROM ev),
       (SELECT count(*) FROM n_assignee) + (SELECT count(*) FROM n_street)
       + (SELECT count(*) FROM n_command),
       (SELECT coalesce(jsonb_object_agg(tier, n), '{{}}') FROM
            (SELECT tier, count(*) AS n FROM upd GROUP BY tier) t)
""".format(
    n_assignee=_NOTIFY_SQL.format(digest=DIGEST_OVER, recipients=(
        "SELECT assignee_user_id AS user_id, id AS hazard_id, code, 'escalated' AS kind, "
        "code || ' is overdue: escalated ' || old_tier || ' → ' || tier AS message, "
        "'overdue and escalated' AS digest FROM upd WHERE assignee_user_id IS NOT NULL")),
    n_street=_NOTIFY_SQL.format(digest=DIGEST_OVER, recipients=(
        "SELECT u.id AS user_id, upd.id AS hazard_id, upd.code, 'supervision' AS kind, "
        "upd.code || ' escalated to ' || upd.tier || ': supervised (挂牌督办)' AS message, "
        "'escalated to orange/red: supervised (挂牌督办)' AS digest "
        "FROM upd JOIN firetwin.grid g ON g.id = upd.grid_id "
        "JOIN firetwin.app_user u ON u.region_id = g.street_id "
        "AND u.role = 'street_officer' AND u.active "
        "WHERE upd.tier IN ('orange', 'red') AND upd.old_tier NOT IN ('orange', 'red')")),
    n_command=_NOTIFY_SQL.format(digest=DIGEST_OVER, recipients=(
        "SELECT u.id AS user_id, upd.id AS hazard_id, upd.code, 'immediate_report' AS kind, "
        "upd.code || ' escalated to red: immediate report, temporary control' AS message, "
        "'escalated to red: immediate report, temporary control' AS digest "
        "FROM upd CROSS JOIN firetwin.app_user u "
        "WHERE upd.tier = 'red' AND upd.old_tier <> 'red' "
        "AND u.role IN ('admin', 'dispatcher') AND u.active")),
)


async def escalate_overdue(
    conn: AsyncConnection | Sequence[AsyncConnection], *, now: datetime,
    settings: HazardSettings, batch: int = 50_000, progress: Any = None,
) -> SweepResult:
    """Raise every overdue open hazard one tier per overdue period; record and notify.

    Runs in batches of ``batch`` hazards, each committed on its own (the connections must not
    be inside a caller's transaction). Given several connections and more than one batch to do,
    each connection then sweeps its own share of the queue (``hazard_id mod n``) at the same
    time, so a mass escalation uses every core the database has. Callers hold the sweep's advisory lock (``sweeper``): rows are not locked up
    front, and a hazard moved on by a concurrent transition is skipped (its clock changed). A
    recipient with more than ``DIGEST_OVER`` hazards in a batch gets one digest notification
    instead of one per hazard.
    """
    conns = [conn] if isinstance(conn, AsyncConnection) else list(conn)
    result = SweepResult()
    period = timedelta(hours=settings.escalate_every_h)

    async def one_batch(c: AsyncConnection, parts: int, part: int) -> int:
        params = {"now": now, "batch": batch, "period": period,
                  "period_s": period.total_seconds(), "parts": parts, "part": part}
        async with c.transaction():
            cur = await c.execute(_SWEEP_SQL, params)
            n, steps, _events, notes, by_tier = await cur.fetchone()
        result.escalated += n
        result.steps += int(steps)
        result.notifications += notes
        for t, k in by_tier.items():
            result.by_tier[t] = result.by_tier.get(t, 0) + k
        if progress is not None:
            progress(n)
        return n

    async def share(c: AsyncConnection, part: int) -> None:
        while await one_batch(c, len(conns), part) == batch:
            pass

    # The first batch runs alone: an ordinary sweep ends there (one digest per recipient);
    # only a mass escalation goes on in parallel shares.
    if await one_batch(conns[0], 1, 0) == batch:
        await asyncio.gather(*(share(c, i) for i, c in enumerate(conns)))
    return result


async def call_departments(
    conn: AsyncConnection, hazard_id: int, departments: list[str], *, actor: Actor,
    now: datetime, note: str | None, check_scope: Any = None,
) -> dict[str, Any]:
    """吹哨报到: call departments to a multi-department hazard (recorded and notified)."""
    unknown = [d for d in departments if d not in vocab.DEPARTMENTS]
    if not departments or unknown:
        msg = (f"unknown department(s) {', '.join(unknown)}: " if unknown else
               "no departments given: ") + f"choose from {', '.join(vocab.DEPARTMENTS)}"
        raise InvalidInputError(msg)
    h = await get_hazard(conn, hazard_id, lock=True)
    if check_scope is not None:
        check_scope(h)
    if h["status"] in FINAL_STATUSES:
        msg = f"hazard {h['code']} is {h['status']}: no departments can be called"
        raise IllegalTransition(msg)
    cur = await conn.execute(
        "INSERT INTO firetwin.hazard_department (hazard_id, department, called_at, "
        "called_by_user_id, note) SELECT %s, d, %s, %s, %s FROM unnest(%s::text[]) d "
        "ON CONFLICT DO NOTHING RETURNING department",
        (hazard_id, now, actor.user_id, note, departments))
    added = [r[0] for r in await cur.fetchall()]
    if not added:
        msg = "those departments were already called to this hazard"
        raise ConflictError(msg)
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"UPDATE firetwin.hazard SET street_coordination = true, supervised = true, "
        f"version = version + 1, updated_at = %s WHERE id = %s RETURNING {HAZARD_COLUMNS}",
        (now, hazard_id))
    new = await cur.fetchone()
    await _event(conn, new, action="whistle", from_status=h["status"], actor=actor, now=now,
                 note=f"departments called: {', '.join(added)}" + (f"; {note}" if note else ""),
                 attachments=[], lon=None, lat=None)
    await notify(conn, hazard_id=hazard_id, kind="department_called", now=now,
                 message=f"{new['code']}: departments called (吹哨报到): {', '.join(added)}",
                 recipients_sql=STREET_OFFICERS_SQL, params={"grid": new["grid_id"]})
    return new


async def report_department(
    conn: AsyncConnection, hazard_id: int, department: str, *, actor: Actor, now: datetime,
    note: str | None, check_scope: Any = None,
) -> dict[str, Any]:
    """A called department reports in (报到)."""
    h = await get_hazard(conn, hazard_id, lock=True)
    if check_scope is not None:
        check_scope(h)
    cur = await conn.execute(
        "UPDATE firetwin.hazard_department SET reported_at = %s, reported_by_user_id = %s, "
        "note = coalesce(%s, note) WHERE hazard_id = %s AND department = %s "
        "AND reported_at IS NULL RETURNING department",
        (now, actor.user_id, note, hazard_id, department))
    if await cur.fetchone() is None:
        cur = await conn.execute(
            "SELECT reported_at FROM firetwin.hazard_department WHERE hazard_id = %s "
            "AND department = %s", (hazard_id, department))
        row = await cur.fetchone()
        if row is None:
            msg = f"department {department!r} was not called to this hazard"
            raise NotFoundError(msg)
        msg = f"department {department!r} already reported at {row[0]:%Y-%m-%d %H:%M}"
        raise ConflictError(msg)
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"UPDATE firetwin.hazard SET version = version + 1, updated_at = %s WHERE id = %s "
        f"RETURNING {HAZARD_COLUMNS}", (now, hazard_id))
    new = await cur.fetchone()
    await _event(conn, new, action="department_report", from_status=h["status"], actor=actor,
                 now=now, note=f"{department} reported in" + (f": {note}" if note else ""),
                 attachments=[], lon=None, lat=None)
    return new


async def history(conn: AsyncConnection, hazard_id: int) -> list[dict[str, Any]]:
    """The hazard's events, oldest first."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id, at, action, from_status, to_status, actor_user_id, actor_name, note, "
        "attachments, version, tier, ST_X(geom) AS lon, ST_Y(geom) AS lat "
        "FROM firetwin.hazard_event WHERE hazard_id = %s ORDER BY at, id", (hazard_id,))
    return await cur.fetchall()


async def departments(conn: AsyncConnection, hazard_id: int) -> list[dict[str, Any]]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT department, called_at, reported_at, note FROM firetwin.hazard_department "
        "WHERE hazard_id = %s ORDER BY called_at, department", (hazard_id,))
    return await cur.fetchall()
