"""The MQTT ingester: readings from Mosquitto into PostGIS, at least once, each stored once.

Delivery
    The ingester subscribes with QoS 1 on a persistent MQTT 5 session (``clean_start`` off,
    session expiry ``FIRETWIN_MQTT_SESSION_EXPIRY_S``) through the shared subscription
    ``$share/<group>/firetwin/sensors/+/reading`` (and ``…/gateways/+/readings``), so several
    ingesters split the stream; with ``FIRETWIN_MQTT_SHARE_GROUP=""`` one ingester subscribes
    plainly instead. It subscribes again on every reconnect: Mosquitto 2.0 restores a
    persistent session's plain subscriptions after a broker restart but not its shared ones,
    so with a share group the readings published between the broker's restart and the
    ingesters' return (about a second) reach no one; a single plain subscriber loses none
    (``tests/faults/test_mqtt_restart.py``). A message is acknowledged (PUBACK) only after the
    transaction holding its reading has committed; if the ingester, the broker or the database
    goes away before that, the broker delivers it again. Redeliveries are dropped by the unique
    constraint ``(sensor_id, message_id)`` (``store.write_readings``): at least once on the
    wire, exactly once in the table.

Pipeline
    Every QoS 1 PUBLISH is parsed and verified as it arrives (``messages.parse``) and its
    readings appended, with its packet id, to the open batch (gmqtt's QoS 1 hook,
    :meth:`Ingester._on_qos1`; without it, a coroutine ``on_message`` that awaits the batch's
    commit, which gmqtt answers with the PUBACK when it returns): that work overlaps the
    database's COPY of the previous batch. One writer task takes whatever has accumulated while
    the previous batch was being written (natural batching: bigger batches under load, small
    ones when idle), and in one transaction stores the readings with one COPY (each with its
    sensor's home unit), runs the alarm rules on the new readings that can change anything,
    records alarms and hazards, and commits; then it acknowledges the whole batch with one
    socket write. Rejected payloads (malformed, unknown sensor, wrong key, impossible value) are
    counted by reason and acknowledged, so they are not redelivered; the ingester never stops on
    them. Database errors roll the batch back and retry it after a reconnect, holding the
    acknowledgements. A PUBACK sent after a reconnect names a packet id the broker has resent
    with the same message (ids of unacknowledged messages are not reused), so it is still right.

Why gmqtt (MQTT 5, asyncio): it parses packets from a buffer in the event loop, which keeps the
per-message cost low, and lets the PUBACK wait for the commit. paho-mqtt 2.x (and aiomqtt, built
on it) reads every packet with several small ``recv`` calls and drained less than half as fast
here. The QoS 1 hook replaces one method of gmqtt 0.8's packet handler (checked at start; the
public coroutine path is the fallback): a task and a future per message cost more than the rest
of the ingestion.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psycopg
from gmqtt import Client as MqttClient
from gmqtt.mqtt.constants import MQTTv50
from psycopg import AsyncConnection

from services.clock import Clock, SystemClock
from services.iot import alarms, store
from services.iot.broker import Endpoint
from services.iot.messages import Reading, Rejected, SensorKey, parse
from services.iot.rules import Observation, RuleState, condition, step
from services.iot.settings import MqttSettings, SensorSettings
from services.workflows.hazard_rules import HazardSettings

logger = logging.getLogger("firetwin.iot")

_PUBACK = struct.Struct("!BBHBB")
_STATE_COLS = ("level", "fault", "pending_level", "pending_since", "pending_count",
               "clear_since", "last_observed_at")


@dataclass
class Batch:
    """Messages received while the previous batch was being written, already parsed.

    Payloads are decoded and verified as they arrive, so that the event loop does that work
    while the database is busy with the previous batch's COPY (on the other core), not after.
    """

    messages: int = 0
    readings: list[Reading] = field(default_factory=list)
    unknown: list[tuple[str | None, Any]] = field(default_factory=list)
    unknown_left: list[tuple[str | None, Any]] = field(default_factory=list)
    mids: list[int] = field(default_factory=list)
    done: asyncio.Future[None] | None = None


def decode(topic: str, payload: bytes) -> list[tuple[str | None, Any]]:
    """(topic sensor code, decoded message) pairs of one MQTT payload; raises Rejected.

    >>> decode("firetwin/sensors/S1/reading", b'{"sensor": "S1"}')
    [('S1', {'sensor': 'S1'})]
    >>> len(decode("firetwin/gateways/gw1/readings", b'[{}, {}]'))
    2
    """
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise Rejected("malformed", "payload is not JSON") from None
    parts = topic.split("/")
    if (len(parts) >= 2 and parts[-3:-2] == ["gateways"]) or parts[-1] == "readings":
        if not isinstance(body, list):
            raise Rejected("malformed", "a gateway batch is a JSON array of readings")
        return [(None, m) for m in body]
    code = parts[-2] if len(parts) >= 3 else None
    return [(code, body)]


class RuleEngine:
    """Runs the alarm rules on new readings, with the rule state held in the database.

    ``watch`` caches the sensors whose state is not quiet (refreshed every second from
    ``sensor_rule_state``, so ingesters see each other's alarms); a reading of a quiet sensor
    that calls for no alarm cannot change anything and costs no database work.
    """

    def __init__(self, th: SensorSettings, hazard_settings: HazardSettings) -> None:
        self.th = th
        self.hazard_settings = hazard_settings
        self.watch: set[int] = set()
        self._watch_at = 0.0

    async def refresh_watch(self, conn: AsyncConnection, *, every_s: float = 1.0) -> None:
        if time.monotonic() - self._watch_at < every_s:
            return
        cur = await conn.execute(
            "SELECT sensor_id FROM firetwin.sensor_rule_state WHERE level > 0 OR fault "
            "OR pending_level > 0 OR clear_since IS NOT NULL")
        self.watch = {r[0] for r in await cur.fetchall()}
        self._watch_at = time.monotonic()

    def interesting(self, r: Reading, meta: store.SensorMeta) -> bool:
        if r.sensor_id in self.watch or r.state in ("alarm", "fault", "charging"):
            return True
        if r.value is None:
            return False
        lvl, _ = condition(meta.kind, Observation(r.observed_at, r.value, r.state), self.th,
                           place_kind=meta.place_kind)
        return lvl > 0

    async def apply(self, conn: AsyncConnection, readings: list[Reading],
                    meta: dict[int, store.SensorMeta], *, now: datetime) -> list[int]:
        """Advance the rules by these (new) readings; the alarm ids recorded."""
        ids = sorted({r.sensor_id for r in readings})
        if not ids:
            return []
        await conn.execute(
            "INSERT INTO firetwin.sensor_rule_state (sensor_id) SELECT unnest(%s::integer[]) "
            "ON CONFLICT DO NOTHING", (ids,))
        cur = await conn.execute(
            f"SELECT sensor_id, {', '.join(_STATE_COLS)} FROM firetwin.sensor_rule_state "
            "WHERE sensor_id = ANY(%s) ORDER BY sensor_id FOR UPDATE", (ids,))
        states = {r[0]: RuleState(*r[1:]) for r in await cur.fetchall()}
        before = dict(states)
        events: dict[int, list] = {}
        for r in sorted(readings, key=lambda r: (r.sensor_id, r.observed_at)):
            m = meta[r.sensor_id]
            states[r.sensor_id], ev = step(states[r.sensor_id], m.kind,
                                           Observation(r.observed_at, r.value, r.state), self.th,
                                           place_kind=m.place_kind)
            if ev:
                events.setdefault(r.sensor_id, []).extend(ev)
        changed = [(sid, s) for sid, s in states.items() if s != before[sid]]
        if changed:
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"UPDATE firetwin.sensor_rule_state SET "
                    f"{', '.join(f'{c} = %s' for c in _STATE_COLS)}, updated_at = now() "
                    "WHERE sensor_id = %s",
                    [(*(getattr(s, c) for c in _STATE_COLS), sid) for sid, s in changed])
        alarm_ids: list[int] = []
        for sid, ev in events.items():
            s = states[sid]
            alarm_ids += await alarms.record_events(conn, meta[sid], ev, level=s.level,
                                                    fault=s.fault, now=now,
                                                    settings=self.hazard_settings)
        for sid, s in states.items():
            (self.watch.discard if s.quiet else self.watch.add)(sid)
        return alarm_ids


class Ingester:
    """Subscribe, batch, store, run the rules, acknowledge; see the module docstring."""

    def __init__(self, db_url: str, ep: Endpoint, *, mqtt: MqttSettings | None = None,
                 sensors: SensorSettings | None = None, hazards: HazardSettings | None = None,
                 clock: Clock | None = None, client_id: str | None = None,
                 live_flush_s: float = 1.0, sweep_every_s: float = 10.0,
                 registry_every_s: float = 60.0,
                 on_alarm: Callable[[list[int]], None] | None = None,
                 fast_ack: bool = True) -> None:
        self.db_url = db_url
        self.ep = ep
        self.mqtt = mqtt or MqttSettings()
        self.th = sensors or SensorSettings()
        self.clock = clock or SystemClock()
        self.client_id = client_id or self.mqtt.client_id
        self.rules = RuleEngine(self.th, hazards or HazardSettings())
        self.stats: Counter[str] = Counter()
        self.live_flush_s = live_flush_s
        self.sweep_every_s = sweep_every_s
        self.registry_every_s = registry_every_s
        self.on_alarm = on_alarm
        self.fast_ack = fast_ack
        self._puback: Callable[[int], None] | None = None
        self.keys: dict[str, SensorKey] = {}
        self.meta: dict[int, store.SensorMeta] = {}
        self._registry_at = 0.0
        self._latest: dict[int, tuple[datetime, float | None]] = {}
        self._batch = Batch()
        self._wake = asyncio.Event()
        self._conn: AsyncConnection | None = None
        self._busy = False
        self._client: MqttClient | None = None
        self._tasks: list[asyncio.Task] = []
        self.connected = asyncio.Event()

    # ------------------------------------------------------------------ MQTT side

    async def _on_message(self, client, topic: str, payload: bytes, qos: int,
                          properties: dict) -> int:
        b = self._batch
        if b.done is None:
            b.done = asyncio.get_running_loop().create_future()
        self._take(b, topic, payload)
        self._wake.set()
        await asyncio.shield(b.done)
        return 0

    def _on_qos1(self, mid: int, payload: bytes, topic: str, properties: dict) -> None:
        """gmqtt's QoS 1 PUBLISH hook without a task per message: PUBACK after the commit."""
        b = self._batch
        self._take(b, topic, payload)
        b.mids.append(mid)
        self._wake.set()

    def _ack(self, mids: list[int]) -> None:
        """PUBACK a committed batch in one socket write (the ingester speaks MQTT 5: PUBACK with
        reason 0 and no properties is ``40 04 <id> 00 00``); gmqtt's PUBACK per message while
        the client is still connecting (``self._client`` is set once ``connect`` returns)."""
        conn = getattr(self._client, "_connection", None)
        if getattr(conn, "send_package", None) is None:
            for mid in mids:
                self._puback(mid)
            return
        conn.send_package(b"".join(_PUBACK.pack(0x40, 4, mid, 0, 0) for mid in mids))

    def _topics(self) -> list[str]:
        """Subscribed filters: shared by the group, or plain when the group is empty."""
        group = self.mqtt.share_group
        prefix = f"$share/{group}/" if group else ""
        return [prefix + self.mqtt.topic_readings(), prefix + self.mqtt.topic_batches()]

    def _on_connect(self, client, flags, rc, properties) -> None:
        # Subscribe on every CONNACK, not only the first: Mosquitto 2.0 keeps a persistent
        # session's plain subscriptions over a broker restart but not its shared ones, and an
        # ingester that did not subscribe again would receive nothing after the restart. The
        # same filter again replaces the subscription (MQTT 5 §3.8.4): no double delivery.
        for topic in self._topics():
            client.subscribe(topic, qos=1)
        self.connected.set()
        self.stats["mqtt_connects"] += 1

    def _on_disconnect(self, client, packet, exc=None) -> None:
        self.connected.clear()

    async def start(self) -> None:
        """Connect to the database and the broker, subscribe, start the writer."""
        await self._ensure_conn()
        c = MqttClient(self.client_id, clean_session=False, optimistic_acknowledgement=False,
                       session_expiry_interval=self.mqtt.session_expiry_s,
                       receive_maximum=20_000)
        c.set_config({"reconnect_retries": -1, "reconnect_delay": 1})
        c.on_message = self._on_message
        handler = getattr(c, "_package_handler", None)
        if self.fast_ack and hasattr(handler, "_handle_qos_1_publish_packet") and hasattr(
                handler, "_send_puback"):
            # gmqtt 0.8 internals, checked here: one PUBACK per message once its batch is
            # committed, without a coroutine and a task per message (2-3x the rate).
            handler._handle_qos_1_publish_packet = self._on_qos1
            self._puback = handler._send_puback
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        if self.ep.username:
            c.set_auth_credentials(self.ep.username, self.ep.password)
        self._tasks.append(asyncio.create_task(self._writer(), name="iot-writer"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="iot-housekeeping"))
        # MQTT 5 (the PUBACK bytes of _ack); subscribes on CONNACK
        await c.connect(self.ep.host, self.ep.port, keepalive=30, version=MQTTv50)
        self._client = c

    async def stop(self, *, retire: bool = False) -> None:
        """Disconnect after the batch in hand is stored and acknowledged.

        The persistent session stays with the broker, which keeps queueing this ingester's
        share of the readings until it reconnects with the same client id (a restart loses
        nothing). ``retire=True`` ends the session instead (unsubscribe, drain, session expiry
        0): use it when an ingester is removed for good, or its share waits for it.
        """
        c = self._client
        if c is not None:
            if retire:
                c.unsubscribe(self._topics())
                await asyncio.sleep(0.3)
            deadline = time.monotonic() + 30
            while (self._batch.messages or self._busy) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.05)  # let the last PUBACKs go out
            props = {"session_expiry_interval": 0} if retire else {}
            try:
                await asyncio.wait_for(c.disconnect(**props), 5)
            except (TimeoutError, OSError):
                pass
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: S110 - stopping
                pass
        self._tasks.clear()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ database side

    async def _ensure_conn(self) -> AsyncConnection:
        delay = 0.2
        while self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self.db_url, connect_timeout=5)
                self.stats["db_connects"] += 1
            except psycopg.OperationalError as e:
                logger.warning("database unavailable (%s): retrying in %.1f s", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        return self._conn

    async def _load_registry(self, conn: AsyncConnection, *, force: bool = False) -> None:
        if force or time.monotonic() - self._registry_at > self.registry_every_s:
            self.keys, self.meta = await store.load_registry(conn)
            self._registry_at = time.monotonic()

    def _take(self, b: Batch, topic: str, payload: bytes) -> None:
        """Decode and verify one MQTT payload into the open batch; count what is rejected.

        Readings of sensors the registry does not know (yet) wait in ``b.unknown`` for the
        writer, which reloads the registry and tries them again.
        """
        b.messages += 1
        try:
            msgs = decode(topic, payload)
        except Rejected as e:
            self.stats[f"rejected_{e.reason}"] += 1
            return
        now = self.clock.now()
        skew = self.th.max_clock_skew_s
        for code, m in msgs:
            try:
                b.readings.append(parse(m, self.keys, topic_code=code, now=now,
                                        max_skew_s=skew))
            except Rejected as e:
                if e.reason == "unknown_sensor":
                    b.unknown.append((code, m))
                else:
                    self.stats[f"rejected_{e.reason}"] += 1

    def _retry_unknown(self, unknown: list[tuple[str | None, Any]], now: datetime
                       ) -> tuple[list[Reading], list[tuple[str | None, Any]]]:
        readings: list[Reading] = []
        still: list[tuple[str | None, Any]] = []
        for code, m in unknown:
            try:
                readings.append(parse(m, self.keys, topic_code=code, now=now,
                                      max_skew_s=self.th.max_clock_skew_s))
            except Rejected as e:
                if e.reason == "unknown_sensor":
                    still.append((code, m))
                else:
                    self.stats[f"rejected_{e.reason}"] += 1
        return readings, still

    async def process(self, conn: AsyncConnection, batch: Batch) -> list[int]:
        """Store and evaluate one parsed batch in the current transaction; alarm ids.

        A batch retried after a database error keeps its readings; the sensors still unknown
        after a registry reload are counted once, when the batch commits.
        """
        now = self.clock.now()
        await self._load_registry(conn)
        readings, unknown = list(batch.readings), batch.unknown
        if unknown:  # parsed before the registry was loaded, or a sensor added since
            more, unknown = self._retry_unknown(unknown, now)
            if unknown and time.monotonic() - self._registry_at > 5.0:
                await self._load_registry(conn, force=True)
                more2, unknown = self._retry_unknown(unknown, now)
                more += more2
            readings += more
        batch.unknown_left = unknown
        res = await store.write_readings(conn, readings, received_at=now, meta=self.meta)
        self.stats["stored"] += res.inserted
        self.stats["duplicates"] += res.duplicates
        for r in readings:
            prev = self._latest.get(r.sensor_id)
            if prev is None or r.observed_at >= prev[0]:
                self._latest[r.sensor_id] = (r.observed_at, r.value if r.value is not None
                                             else (prev[1] if prev else None))
        await self.rules.refresh_watch(conn)
        new = [r for r in res.new if self.rules.interesting(r, self.meta[r.sensor_id])]
        new += [r for r in readings if r.value is None and r.state == "fault"]
        return await self.rules.apply(conn, new, self.meta, now=now)

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._batch = self._batch, Batch()
            if not batch.messages:
                continue
            self._busy = True
            delay = 0.2
            while True:
                conn = await self._ensure_conn()
                try:
                    async with conn.transaction():
                        alarm_ids = await self.process(conn, batch)
                    break
                except psycopg.OperationalError as e:
                    self.stats["db_retries"] += 1
                    logger.warning("batch of %d not stored (%s): retrying", batch.messages, e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                except Exception:
                    self.stats["batch_errors"] += 1
                    logger.exception("batch of %d failed: retrying", batch.messages)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            self.stats["messages"] += batch.messages
            self.stats["rejected_unknown_sensor"] += len(batch.unknown_left)
            self.stats["batches"] += 1
            self.stats["alarms"] += len(alarm_ids)
            if alarm_ids and self.on_alarm is not None:
                self.on_alarm(alarm_ids)
            if batch.mids and self._puback is not None:
                self._ack(batch.mids)  # after a reconnect the broker resends these same ids
            if batch.done is not None and not batch.done.done():
                batch.done.set_result(None)
            self._busy = False

    async def _housekeeping(self) -> None:
        """Flush live state every ``live_flush_s``; sweep offline sensors now and then."""
        last_sweep = 0.0
        conn: AsyncConnection | None = None
        while True:
            await asyncio.sleep(self.live_flush_s)
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = await psycopg.AsyncConnection.connect(self.db_url, connect_timeout=5)
                await self.flush(conn)
                if time.monotonic() - last_sweep >= self.sweep_every_s:
                    last_sweep = time.monotonic()
                    await self.sweep(conn)
            except psycopg.Error as e:
                logger.warning("live-state flush failed (%s): retrying", e)

    async def flush(self, conn: AsyncConnection) -> None:
        """Write the live state of the sensors heard since the last flush."""
        latest, self._latest = self._latest, {}
        done: set[int] = set()
        try:
            async with conn.transaction():
                done, back = await store.flush_live_state(conn, latest, now=self.clock.now())
                for b in back:
                    await alarms.log_event(conn, sensor_id=b["sensor_id"], event="online",
                                           observed_at=self.clock.now(), grid_id=b["grid_id"],
                                           unit_id=b["unit_id"])
        except psycopg.Error:
            done = set()
            raise
        finally:
            for sid, v in latest.items():  # not written (locked elsewhere, or an error): retry
                if sid not in done:
                    cur = self._latest.get(sid)
                    if cur is None or v[0] > cur[0]:
                        self._latest[sid] = v

    async def sweep(self, conn: AsyncConnection) -> list[int]:
        """Mark silent sensors offline; the alarm ids of the offline events."""
        async with conn.transaction():
            gone = await store.sweep_offline(conn, now=self.clock.now(),
                                             offline_after_s=self.th.offline_after_s)
            ids = [await alarms.log_event(conn, sensor_id=g["sensor_id"], event="offline",
                                          observed_at=g["last_seen_at"], grid_id=g["grid_id"],
                                          unit_id=g["unit_id"]) for g in gone]
        self.stats["offline"] += len(ids)
        return ids


async def run(ingester: Ingester, stop: asyncio.Event, *,
              report: Callable[[Counter[str]], None] | None = None,
              report_every_s: float = 5.0, retire: bool = False) -> None:
    """Run an ingester until ``stop`` is set, reporting its counters now and then."""
    await ingester.start()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), report_every_s)
            except TimeoutError:
                pass
            if report is not None:
                report(ingester.stats)
    finally:
        await ingester.stop(retire=retire)
