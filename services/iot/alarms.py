"""Alarm events → sensor status, hazards, the alarm log and NOTIFY; and the live alarm message.

:func:`record_events` runs in the ingester's transaction for the events the rules produced:

1. ``sensor.status`` follows the rule state (alarm, fault, online);
2. a raised or escalated alarm joins the open hazard of that sensor, or creates one through
   ``services.workflows.hazards.create_hazard`` (category/subcategory/tier from
   ``rules.hazard_for``, source ``sensor``, at the sensor, in its unit; the workflow finds grid,
   street, code, assignee, deadlines and ``hazard.sensor_id``); a hazard the workflow
   refuses (a sensor outside the district) is logged and the alarm is still recorded;
3. one ``sensor_alarm`` row per event, and ``pg_notify('firetwin_alarm', id)``, which
   PostgreSQL delivers at commit to every API worker listening (services/routers/live.py).

:func:`alarm_message` builds what the live stream pushes for one alarm id: sensor, event,
hazard, the nearest stations by truck (road graph; straight line when the graph is unavailable)
and hot-work permits active within ``HOT_WORK_RADIUS_M``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from gis.errors import GisError
from services.errors import FireSafetyError
from services.iot.rules import Event, hazard_for
from services.iot.store import SensorMeta
from services.workflows import hazards as wf
from services.workflows.hazard_rules import HazardSettings

logger = logging.getLogger("firetwin.iot")

CHANNEL = "firetwin_alarm"
HOT_WORK_RADIUS_M = 100.0
KIND_ZH = {"smoke": "烟感", "gas": "可燃气体", "residual_current": "剩余电流",
           "cable_temperature": "线缆温度", "hydrant_pressure": "消火栓水压",
           "ebike_charging": "电动车充电"}
REASON_ZH = {"gas_level1": "一级报警", "gas_level2": "二级报警", "residual_current": "超限",
             "smoke": "报警", "device_alarm": "设备报警", "pressure_low": "压力不足",
             "cable_temperature_level1": "超温", "cable_temperature_level2": "严重超温",
             "battery_over_temperature_level1": "电池超温",
             "battery_over_temperature_level2": "电池严重超温",
             "charging_forbidden_place": "在禁止区域充电"}


def _status(level: int, fault: bool) -> str:
    return "fault" if fault else ("alarm" if level > 0 else "online")


async def _sensor(conn: AsyncConnection, sensor_id: int) -> dict[str, Any]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id, code, kind, unit_id, grid_id, location_note, place_kind, "
        "ST_X(geom) AS lon, ST_Y(geom) AS lat FROM firetwin.sensor WHERE id = %s", (sensor_id,))
    return await cur.fetchone()


async def _hazard_for_alarm(conn: AsyncConnection, s: dict[str, Any], ev: Event, *,
                            now: datetime, settings: HazardSettings) -> tuple[int | None, bool]:
    """Join the sensor's open hazard, or create one; (hazard id, joined)."""
    cur = await conn.execute(
        "SELECT id FROM firetwin.hazard WHERE sensor_id = %s "
        "AND status NOT IN ('closed', 'rejected') ORDER BY id DESC LIMIT 1", (s["id"],))
    row = await cur.fetchone()
    if row is not None:
        return row[0], True
    category, sub, tier = hazard_for(s["kind"], ev.level, ev.reason)
    where = s["location_note"] or ""
    title = f"{KIND_ZH[s['kind']]}{REASON_ZH.get(ev.reason, '报警')}：{s['code']} {where}".strip()
    report = wf.HazardReport(
        lon=s["lon"], lat=s["lat"], category=category, subcategory=sub, tier=tier,
        title=title[:256], source="sensor", unit_id=s["unit_id"], sensor_id=s["id"],
        description=(f"sensor {s['code']} ({s['kind']}): {ev.reason}, value {ev.value} "
                     f"at {ev.observed_at.isoformat()}"))
    actor = wf.Actor(user_id=None, name=f"sensor {s['code']}", role="system")
    try:
        async with conn.transaction():
            h = await wf.create_hazard(conn, report, actor=actor, now=now, settings=settings)
    except (GisError, FireSafetyError) as e:
        logger.warning("sensor %s: no hazard for alarm (%s)", s["code"], e)
        return None, False
    return h["id"], False


async def record_events(conn: AsyncConnection, meta: SensorMeta, events: list[Event], *,
                        level: int, fault: bool, now: datetime,
                        settings: HazardSettings) -> list[int]:
    """Apply one sensor's events (status, hazard, log, notify); the new alarm ids."""
    if not events:
        return []
    s = await _sensor(conn, meta.id)
    await conn.execute(
        "UPDATE firetwin.sensor SET status = %s WHERE id = %s AND status <> 'offline'",
        (_status(level, fault), meta.id))
    ids = []
    for ev in events:
        hazard_id, joined = None, False
        if ev.event in ("raised", "escalated"):
            hazard_id, joined = await _hazard_for_alarm(conn, s, ev, now=now, settings=settings)
        ids.append(await log_event(conn, sensor_id=meta.id, event=ev.event, level=ev.level,
                                   reason=ev.reason, value=ev.value, observed_at=ev.observed_at,
                                   hazard_id=hazard_id, joined=joined, grid_id=s["grid_id"],
                                   unit_id=s["unit_id"]))
    return ids


async def log_event(conn: AsyncConnection, *, sensor_id: int, event: str, level: int = 0,
                    reason: str | None = None, value: float | None = None,
                    observed_at: datetime, hazard_id: int | None = None, joined: bool = False,
                    grid_id: int | None, unit_id: int | None) -> int:
    """Append to ``sensor_alarm`` and notify the API workers (at commit)."""
    cur = await conn.execute(
        "INSERT INTO firetwin.sensor_alarm (sensor_id, event, level, reason, value, observed_at, "
        "hazard_id, hazard_joined, grid_id, unit_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s) RETURNING id",
        (sensor_id, event, level, reason, value, observed_at, hazard_id, joined, grid_id,
         unit_id))
    alarm_id = (await cur.fetchone())[0]
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(alarm_id)))
    return alarm_id


_ALARM_SQL = """
SELECT a.id, a.event, a.level, a.reason, a.value, a.observed_at, a.raised_at, a.hazard_id,
       a.hazard_joined, a.grid_id, a.unit_id, s.id AS sensor_id, s.code AS sensor_code,
       s.kind, s.status, s.location_note, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
       h.code AS hazard_code, h.tier AS hazard_tier, h.status AS hazard_status,
       h.category AS hazard_category, h.subcategory AS hazard_subcategory
FROM firetwin.sensor_alarm a JOIN firetwin.sensor s ON s.id = a.sensor_id
LEFT JOIN firetwin.hazard h ON h.id = a.hazard_id
WHERE a.id = %s
"""

# The sensor's point is read first (a MATERIALIZED CTE): on Citus, permits and sensors are both
# distributed and a spatial join between them has no shard key to push down (docs/scaling.md).
_HOT_WORK_SQL = """
WITH s AS MATERIALIZED (SELECT geom FROM firetwin.sensor WHERE id = %(sensor)s)
SELECT p.id, p.work_kind, p.applicant, p.starts_at, p.ends_at, p.unit_id,
       round(ST_Distance(p.geom::geography, s.geom::geography)::numeric, 1)::float AS distance_m
FROM firetwin.hot_work_permit p, s
WHERE p.status = 'approved'
  AND p.starts_at <= %(at)s AND p.ends_at >= %(at)s
  AND ST_DWithin(p.geom::geography, s.geom::geography, %(r)s)
ORDER BY distance_m
"""

_STRAIGHT_SQL = """
SELECT st.id AS station_id, st.code, st.name, st.kind,
       ST_Distance(st.geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography)
         AS distance_m
FROM firetwin.station st
WHERE st.status <> 'out_of_service'
  AND st.kind IN ('level1', 'level2', 'small', 'emergency', 'micro')
ORDER BY st.geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)
LIMIT %(k)s
"""


async def nearest_stations(conn: AsyncConnection, lon: float, lat: float, *, road_graph,
                           k: int = 3) -> dict[str, Any]:
    """The k stations with the shortest truck ETA (road graph), or straight-line nearest."""
    try:
        from gis.queries import roads
        from routing import DEFAULTS, weight_for
        from routing import nearest_stations as route_nearest

        net = await road_graph.current(conn)
        closed = await roads.blocked_edge_ids(conn)
        stations = await roads.stations_for_dispatch(conn)
        by_id = {s["id"]: s for s in stations}
        results = route_nearest(
            net.graph, (lon, lat), {s["id"]: (s["lon"], s["lat"]) for s in stations}, k=k,
            weight=weight_for("truck", closed_edges=closed), turnout_s=DEFAULTS.turnout_s,
            standard_s=DEFAULTS.response_standard_s, index=net.index)
        out = [{"station_id": r.station_id, "code": by_id[r.station_id]["code"],
                "name": by_id[r.station_id]["name"], "kind": by_id[r.station_id]["kind"],
                "travel_time_s": None if r.travel_time_s is None else round(r.travel_time_s, 1),
                "distance_m": None if r.distance_m is None else round(r.distance_m, 1),
                "eta_s": None if r.eta_s is None else round(r.eta_s, 1),
                "meets_5min": r.meets_standard} for r in results]
        if out:
            return {"method": "road_graph", "stations": out}
    except Exception as e:
        logger.info("nearest stations by road unavailable (%s): straight line", e)
    cur = await conn.cursor(row_factory=dict_row).execute(
        _STRAIGHT_SQL, {"lon": lon, "lat": lat, "k": k})
    rows = await cur.fetchall()
    for r in rows:
        r["distance_m"] = round(r["distance_m"], 1)
    return {"method": "straight_line", "stations": rows}


async def alarm_message(conn: AsyncConnection, alarm_id: int, *, road_graph,
                        with_stations: bool = True) -> dict[str, Any] | None:
    """The live message for one alarm event (None if it no longer exists)."""
    cur = await conn.cursor(row_factory=dict_row).execute(_ALARM_SQL, (alarm_id,))
    a = await cur.fetchone()
    if a is None:
        return None
    msg: dict[str, Any] = {k: (v.isoformat() if isinstance(v, datetime) else v)
                           for k, v in a.items()}
    if a["event"] in ("raised", "escalated") and with_stations:
        msg["nearest_stations"] = await nearest_stations(conn, a["lon"], a["lat"],
                                                         road_graph=road_graph)
        cur = await conn.cursor(row_factory=dict_row).execute(
            _HOT_WORK_SQL, {"sensor": a["sensor_id"], "at": a["observed_at"],
                            "r": HOT_WORK_RADIUS_M})
        msg["hot_work_nearby"] = [{k: (v.isoformat() if isinstance(v, datetime) else v)
                                   for k, v in r.items()} for r in await cur.fetchall()]
    return msg
