"""Sensor readings into PostGIS: the registry of device keys, batched writes, live state, sweeps.

Shared by the MQTT ingester and the HTTP batch endpoint. Each function takes an open async
connection inside the caller's transaction (nothing commits here).

- :func:`write_readings` stores a batch with one ``COPY`` straight into ``sensor_reading``
  inside a savepoint (the common case: no duplicate, the cost of a bare COPY). When the batch
  holds a reading that is already stored (a redelivery after a broker or ingester restart), the
  unique constraint ``(sensor_id, message_id)`` fails the COPY; the savepoint is rolled back and
  the batch goes through a temporary table and ``INSERT … ON CONFLICT DO NOTHING``, which stores
  the new readings only. Either way a reading is stored exactly once.
- :func:`flush_live_state` writes ``last_seen_at``/``last_value`` of the sensors heard since the
  last flush, once a second rather than per reading (the sensor table feeds the map layer and
  its tile cache); rows another transaction holds are skipped and retried at the next flush.
- :func:`sweep_offline` marks sensors silent for ``offline_after_s`` offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from services.iot.messages import Reading, SensorKey

_COLUMNS = "sensor_id, observed_at, value, message_id, state, received_at"
_COPY_COLUMNS = _COLUMNS + ", home_unit_id"


@dataclass(frozen=True, slots=True)
class SensorMeta:
    """What the rules need to know of a sensor."""

    id: int
    code: str
    kind: str
    place_kind: str | None
    home_unit_id: int | None = None


async def load_registry(
    conn: AsyncConnection,
) -> tuple[dict[str, SensorKey], dict[int, SensorMeta]]:
    """Device keys by sensor code, and rule metadata by sensor id (sensors with a key only)."""
    cur = await conn.execute(
        "SELECT id, code, kind, device_key_hash, place_kind, home_unit_id FROM firetwin.sensor "
        "WHERE device_key_hash IS NOT NULL")
    keys: dict[str, SensorKey] = {}
    meta: dict[int, SensorMeta] = {}
    for sid, code, kind, key_hex, place, home in await cur.fetchall():
        try:
            key = bytes.fromhex(key_hex)
        except ValueError:
            continue
        keys[code] = SensorKey(sid, kind, key)
        meta[sid] = SensorMeta(sid, code, kind, place, home)
    return keys, meta


def _copy_text(readings: list[Reading], received_at: datetime,
               meta: Mapping[int, SensorMeta] | None = None) -> bytes:
    """COPY text rows with the home unit of each reading's sensor when the registry knows it
    (else ``\\N``, and the row trigger of migration 0017 looks it up: about a third more time
    per row).

    >>> from datetime import UTC
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> meta = {7: SensorMeta(7, "S7", "smoke", None, 42)}
    >>> _copy_text([Reading(7, "m1", at, 1.5, None)], at, meta)
    b'7\\t2026-01-01T00:00:00+00:00\\t1.5\\tm1\\t\\\\N\\t2026-01-01T00:00:00+00:00\\t42\\n'
    """
    rec = received_at.isoformat()
    homes = {sid: ("\\N" if m.home_unit_id is None else str(m.home_unit_id))
             for sid, m in (meta or {}).items()}
    lines = []
    for r in readings:
        mid = r.message_id.replace("\\", "\\\\")
        state = r.state if r.state is not None else "\\N"
        home = homes.get(r.sensor_id, "\\N")
        lines.append(f"{r.sensor_id}\t{r.observed_at.isoformat()}\t{r.value!r}\t{mid}\t"
                     f"{state}\t{rec}\t{home}\n")
    return "".join(lines).encode()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """How a batch went: new readings stored, duplicates dropped, which readings are new."""

    inserted: int
    duplicates: int
    new: list[Reading]


def dedupe(readings: list[Reading]) -> list[Reading]:
    """Drop repeats of (sensor, message id) within a batch, keeping the first."""
    seen: set[tuple[int, str]] = set()
    out = []
    for r in readings:
        k = (r.sensor_id, r.message_id)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


async def write_readings(conn: AsyncConnection, readings: list[Reading], *,
                         received_at: datetime,
                         meta: Mapping[int, SensorMeta] | None = None) -> WriteResult:
    """Store measured readings (heartbeats carry no value and are not stored), each once."""
    batch = dedupe([r for r in readings if r.value is not None])
    dup_in_batch = sum(1 for r in readings if r.value is not None) - len(batch)
    if not batch:
        return WriteResult(0, dup_in_batch, [])
    data = _copy_text(batch, received_at, meta)
    try:
        async with conn.transaction():
            async with conn.cursor().copy(
                    f"COPY firetwin.sensor_reading ({_COPY_COLUMNS}) FROM STDIN") as cp:
                await cp.write(data)
        return WriteResult(len(batch), dup_in_batch, batch)
    except psycopg.errors.UniqueViolation:
        pass
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS iot_incoming (sensor_id integer, observed_at "
        "timestamptz, value double precision, message_id text, state text, received_at "
        "timestamptz, home_unit_id bigint) ON COMMIT DELETE ROWS")
    await conn.execute("TRUNCATE iot_incoming")
    async with conn.cursor().copy(f"COPY iot_incoming ({_COPY_COLUMNS}) FROM STDIN") as cp:
        await cp.write(data)
    cur = await conn.execute(
        f"INSERT INTO firetwin.sensor_reading ({_COPY_COLUMNS}) "
        f"SELECT {_COPY_COLUMNS} FROM iot_incoming "
        "ON CONFLICT (sensor_id, message_id) DO NOTHING RETURNING sensor_id, message_id")
    new_keys = {(sid, mid) for sid, mid in await cur.fetchall()}
    new = [r for r in batch if (r.sensor_id, r.message_id) in new_keys]
    return WriteResult(len(new), dup_in_batch + len(batch) - len(new), new)


async def flush_live_state(conn: AsyncConnection,
                           latest: dict[int, tuple[datetime, float | None]], *,
                           now: datetime) -> tuple[set[int], list[dict[str, Any]]]:
    """Write last_seen_at (= ``now``) and last_value of the sensors heard since the last flush.

    Returns the ids written (the caller keeps the rest for the next flush) and the sensors that
    were offline and are back (for an ``online`` event).
    """
    if not latest:
        return set(), []
    ids = sorted(latest)
    values = [latest[i][1] for i in ids]
    cur = await conn.execute(
        """
        WITH v AS (SELECT * FROM unnest(%(ids)s::integer[], %(values)s::double precision[])
                     AS v(id, value)),
        locked AS (SELECT s.id, s.status FROM firetwin.sensor s JOIN v USING (id)
                    ORDER BY s.id FOR NO KEY UPDATE OF s SKIP LOCKED),
        upd AS (
          UPDATE firetwin.sensor s
             SET last_seen_at = greatest(s.last_seen_at, %(now)s),
                 last_value = coalesce(v.value, s.last_value),
                 status = CASE WHEN s.status = 'offline' THEN
                            CASE WHEN rs.fault THEN 'fault' WHEN rs.level > 0 THEN 'alarm'
                                 ELSE 'online' END
                          ELSE s.status END
            FROM v JOIN locked l USING (id)
            LEFT JOIN firetwin.sensor_rule_state rs ON rs.sensor_id = v.id
           WHERE s.id = v.id
          RETURNING s.id, s.status, s.grid_id, s.unit_id)
        SELECT upd.id, upd.status, upd.grid_id, upd.unit_id, l.status = 'offline' AS back
          FROM upd JOIN locked l USING (id)
        """,
        {"ids": ids, "values": values, "now": now})
    done: set[int] = set()
    back = []
    for sid, status, grid, unit, was_offline in await cur.fetchall():
        done.add(sid)
        if was_offline:
            back.append({"sensor_id": sid, "status": status, "grid_id": grid, "unit_id": unit})
    return done, back


async def sweep_offline(conn: AsyncConnection, *, now: datetime,
                        offline_after_s: float) -> list[dict[str, Any]]:
    """Mark sensors silent for ``offline_after_s`` offline (one sweeper at a time); who changed."""
    cur = await conn.execute("SELECT pg_try_advisory_xact_lock(hashtext('firetwin.iot.offline'))")
    if not (await cur.fetchone())[0]:
        return []
    cur = await conn.execute(
        """
        UPDATE firetwin.sensor SET status = 'offline'
         WHERE status <> 'offline' AND last_seen_at IS NOT NULL
           AND last_seen_at < %(now)s - make_interval(secs => %(s)s)
        RETURNING id, grid_id, unit_id, last_seen_at
        """,
        {"now": now, "s": offline_after_s})
    return [{"sensor_id": r[0], "grid_id": r[1], "unit_id": r[2], "last_seen_at": r[3]}
            for r in await cur.fetchall()]
