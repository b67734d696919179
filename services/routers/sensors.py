"""IoT sensors over REST: gateway batch ingestion, live state, readings history with buckets.

``POST /api/sensors/readings`` takes a JSON array of signed readings (the format of
``services.iot.messages``) from a gateway. The batch is all or nothing: any reading that is
malformed, of an unknown sensor, wrongly signed or impossible makes it a 422 naming each one,
and nothing is stored; a reading sent again is a duplicate, counted and not stored twice. The
signatures authenticate the devices, so no bearer token is needed.

The reads are for signed-in staff and follow the caller's scope like every other path (the
sensors layer is grid-scoped; a unit manager sees its unit's sensors); a sensor outside the
scope is a 404.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from psycopg.rows import dict_row

from services.auth import CallerDep, Unauthorized
from services.deps import ConnDep
from services.errors import BadRequest, FireSafetyError, NotFound
from services.iot import store
from services.iot.ingest import RuleEngine
from services.iot.messages import Rejected, parse
from services.iot.settings import SensorSettings
from services.workflows.hazard_rules import HazardSettings

router = APIRouter(prefix="/api/sensors", tags=["sensors"])

MAX_BATCH = 10_000
MAX_POINTS = 20_000
_BUCKET = re.compile(r"^(\d{1,4})(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


class RejectedReadings(FireSafetyError):
    status_code = 422
    default_msg = "readings rejected"


def parse_bucket(text: str) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``1d`` → timedelta.

    >>> parse_bucket("5m")
    datetime.timedelta(seconds=300)
    """
    m = _BUCKET.match(text)
    if m is None or int(m.group(1)) == 0:
        msg = f"bucket {text!r} must be a positive count and unit s, m, h or d (e.g. 5m)"
        raise BadRequest(msg)
    return timedelta(seconds=int(m.group(1)) * _UNIT_S[m.group(2)])


class _HttpIngest:
    """Registry and rule engine of one API worker (registry re-read every 30 s or on a miss)."""

    def __init__(self) -> None:
        self.th = SensorSettings()
        self.rules = RuleEngine(self.th, HazardSettings())
        self.keys: dict = {}
        self.meta: dict = {}
        self.at = 0.0

    async def registry(self, conn, *, force: bool = False) -> None:
        if force or time.monotonic() - self.at > 30.0:
            self.keys, self.meta = await store.load_registry(conn)
            self.at = time.monotonic()


def _ingest(request: Request) -> _HttpIngest:
    st = request.app.state
    if getattr(st, "http_ingest", None) is None:
        st.http_ingest = _HttpIngest()
    return st.http_ingest


@router.post("/readings")
async def create_readings(
    request: Request,
    conn: ConnDep,
    readings: Annotated[list[Any], Body(description="Signed readings (see the README).")],
) -> dict[str, Any]:
    """Store a gateway's batch of signed readings (all or nothing) and run the alarm rules."""
    if not readings:
        msg = "the batch is empty"
        raise BadRequest(msg)
    if len(readings) > MAX_BATCH:
        msg = f"at most {MAX_BATCH} readings per batch"
        raise BadRequest(msg)
    ing = _ingest(request)
    now = request.app.state.clock.now()
    await ing.registry(conn)
    for attempt in (0, 1):
        parsed, rejects = [], []
        for i, m in enumerate(readings):
            try:
                parsed.append(parse(m, ing.keys, now=now, max_skew_s=ing.th.max_clock_skew_s))
            except Rejected as e:
                rejects.append((i, e))
        if attempt == 0 and any(e.reason == "unknown_sensor" for _, e in rejects):
            await ing.registry(conn, force=True)
            continue
        break
    if rejects:
        shown = "; ".join(f"#{i} {e.reason}: {e.detail}" for i, e in rejects[:20])
        more = f" (and {len(rejects) - 20} more)" if len(rejects) > 20 else ""
        msg = f"{len(rejects)} of {len(readings)} readings rejected, nothing stored: {shown}{more}"
        raise RejectedReadings(msg)
    res = await store.write_readings(conn, parsed, received_at=now, meta=ing.meta)
    await ing.rules.refresh_watch(conn, every_s=0.0)
    new = [r for r in res.new if ing.rules.interesting(r, ing.meta[r.sensor_id])]
    new += [r for r in parsed if r.value is None and r.state == "fault"]
    alarm_ids = await ing.rules.apply(conn, new, ing.meta, now=now)
    latest: dict[int, tuple[datetime, float | None]] = {}
    for r in parsed:
        if r.sensor_id not in latest or r.observed_at >= latest[r.sensor_id][0]:
            latest[r.sensor_id] = (r.observed_at, r.value)
    await store.flush_live_state(conn, latest, now=now)
    return {"accepted": res.inserted, "duplicates": res.duplicates, "alarms": alarm_ids}


async def _sensor_in_scope(conn, caller, sensor_id: int) -> dict[str, Any]:
    if caller.role == "public":
        msg = "sign in: sensors are for staff"
        raise Unauthorized(msg)
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id, code, kind, status, unit_id, grid_id, location_note, place_kind, "
        "last_seen_at, last_value, ST_X(geom) AS lon, ST_Y(geom) AS lat "
        "FROM firetwin.sensor WHERE id = %s", (sensor_id,))
    s = await cur.fetchone()
    if s is None or not caller.scope.allows(grid_id=s["grid_id"], unit_id=s["unit_id"]):
        msg = f"sensor {sensor_id} not found"
        raise NotFound(msg)
    return s


@router.get("/{sensor_id}")
async def read_sensor(conn: ConnDep, caller: CallerDep, sensor_id: int) -> dict[str, Any]:
    """A sensor's live state and its latest alarm events."""
    s = await _sensor_in_scope(conn, caller, sensor_id)
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id, event, level, reason, value, observed_at, raised_at, hazard_id "
        "FROM firetwin.sensor_alarm WHERE sensor_id = %s ORDER BY id DESC LIMIT 20",
        (sensor_id,))
    s["alarms"] = await cur.fetchall()
    return s


@router.get("/{sensor_id}/readings")
async def read_sensor_readings(
    request: Request,
    conn: ConnDep,
    caller: CallerDep,
    sensor_id: int,
    from_: Annotated[datetime | None, Query(alias="from", description="Start, ISO 8601 "
                                            "(default: 24 h before `to`).")] = None,
    to: Annotated[datetime | None, Query(description="End, ISO 8601 (default: now).")] = None,
    bucket: Annotated[str | None, Query(description="Downsample into buckets: 30s, 5m, 1h, "
                                        "1d (avg/min/max/count per bucket).")] = None,
) -> dict[str, Any]:
    """A sensor's readings in a time window, raw or downsampled (date_bin buckets)."""
    s = await _sensor_in_scope(conn, caller, sensor_id)
    for name, t in (("from", from_), ("to", to)):
        if t is not None and t.tzinfo is None:
            msg = f"{name} needs a zone (Z or +08:00)"
            raise BadRequest(msg)
    to = to or request.app.state.clock.now()
    from_ = from_ or to - timedelta(hours=24)
    if from_ >= to:
        msg = "from must be before to"
        raise BadRequest(msg)
    out: dict[str, Any] = {"sensor_id": sensor_id, "code": s["code"], "kind": s["kind"],
                           "from": from_.isoformat(), "to": to.isoformat(), "bucket": bucket}
    if bucket is not None:
        step = parse_bucket(bucket)
        if (to - from_) / step > MAX_POINTS:
            msg = f"more than {MAX_POINTS} buckets: use a longer bucket or a shorter window"
            raise BadRequest(msg)
        cur = await conn.cursor(row_factory=dict_row).execute(
            """
            SELECT date_bin(%(step)s, observed_at, %(origin)s) AS t, avg(value) AS avg,
                   min(value) AS min, max(value) AS max, count(*) AS n
            FROM firetwin.sensor_reading
            WHERE sensor_id = %(id)s AND observed_at >= %(from)s AND observed_at < %(to)s
            GROUP BY 1 ORDER BY 1
            """,
            {"step": step, "origin": datetime(2000, 1, 1, tzinfo=from_.tzinfo), "id": sensor_id,
             "from": from_, "to": to})
        out["buckets"] = await cur.fetchall()
        return out
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT observed_at AS t, value, state, message_id FROM firetwin.sensor_reading "
        "WHERE sensor_id = %s AND observed_at >= %s AND observed_at < %s "
        "ORDER BY observed_at LIMIT %s", (sensor_id, from_, to, MAX_POINTS + 1))
    rows = await cur.fetchall()
    if len(rows) > MAX_POINTS:
        msg = f"more than {MAX_POINTS} readings: pass bucket= (e.g. 5m) or a shorter window"
        raise BadRequest(msg)
    out["readings"] = rows
    return out
