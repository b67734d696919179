"""``firetwin simulate sensors``: realistic signed readings for the demo district over MQTT.

Every sensor with a device key reports every ``interval_s`` (staggered) a value around its
kind's normal level (``gis.demo.sensors.VALUES``) following a slow random walk. Now and then
(``alarm_rate`` episodes per sensor-hour) a sensor goes into an alarm episode: its value climbs
into the alarm range (gas above 25 % LEL and sometimes 50 %, residual current above 300 mA,
hydrant pressure below 0.10 MPa, …; an e-bike sensor in a corridor reports ``charging``), and it
reports every ``alarm_interval_s`` for ``episode_s``, then recovers. A few sensors report a fault.
The simulator plays the devices, so it signs with their keys read from the database.

:class:`Publisher` is the QoS 1 publisher the simulator, the tests and the benchmark share: it
keeps at most ``max_outstanding`` messages unacknowledged and resends them after a reconnect.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import psycopg
from gmqtt import Client as MqttClient

from gis.demo.sensors import VALUES
from services.clock import Clock, SystemClock
from services.iot.broker import Endpoint
from services.iot.messages import sign
from services.iot.settings import MqttSettings, SensorSettings


class Publisher:
    """A QoS 1 MQTT publisher with flow control (at most ``max_outstanding`` unacknowledged)."""

    def __init__(self, ep: Endpoint, *, client_id: str | None = None,
                 max_outstanding: int = 5_000) -> None:
        self.ep = ep
        self.client = MqttClient(client_id or f"firetwin-sim-{secrets.token_hex(4)}",
                                 clean_session=False, session_expiry_interval=3600)
        self.client.set_config({"reconnect_retries": -1, "reconnect_delay": 1})
        self.max_outstanding = max_outstanding
        self.sent = 0

    async def __aenter__(self) -> Publisher:
        await self.client.connect(self.ep.host, self.ep.port, keepalive=30)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.drain()
        await self.client.disconnect()

    @property
    def outstanding(self) -> int:
        return len(self.client._persistent_storage._messages)  # gmqtt's unacked QoS 1 queue

    async def publish(self, topic: str, payload: bytes) -> None:
        while self.outstanding >= self.max_outstanding:  # noqa: ASYNC110 - gmqtt has no event
            await asyncio.sleep(0.001)
        self.client.publish(topic, payload, qos=1)
        self.sent += 1

    async def drain(self, timeout_s: float = 120.0) -> None:
        """Wait until the broker has acknowledged everything published."""
        await asyncio.wait_for(self.client._persistent_storage.wait_empty(), timeout_s)


@dataclass
class SimSensor:
    id: int
    code: str
    kind: str
    key: bytes
    place_kind: str | None
    level: float
    seq: int = 0
    next_at: float = 0.0
    episode_until: float = 0.0
    episode_target: float = 0.0
    fault: bool = False


@dataclass
class SimStats:
    readings: int = 0
    alarm_episodes: int = 0
    faults: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def _alarm_target(kind: str, th: SensorSettings, rng: random.Random) -> float:
    if kind == "gas":
        return rng.choice((th.gas_level1_pct_lel + 6, th.gas_level2_pct_lel + 8))
    if kind == "residual_current":
        return th.residual_current_ma + rng.uniform(40, 200)
    if kind == "smoke":
        return th.smoke_obscuration_pct_per_m + rng.uniform(1, 5)
    if kind == "cable_temperature":
        return th.cable_temperature_level1_c + rng.uniform(5, 30)
    if kind == "hydrant_pressure":
        return max(0.0, th.hydrant_min_pressure_mpa - rng.uniform(0.03, 0.08))
    return th.ebike_level1_c + rng.uniform(5, 25)  # e-bike battery over temperature


async def load_sensors(db_url: str, *, limit: int | None = None) -> list[SimSensor]:
    """Sensors with a device key (the demo's keys are SHA-256 of a deterministic secret)."""
    rng = random.Random(7)  # noqa: S311 - simulation
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT id, code, kind, device_key_hash, place_kind FROM firetwin.sensor "
            "WHERE device_key_hash IS NOT NULL ORDER BY id LIMIT %s", (limit,))
        rows = await cur.fetchall()
    return [SimSensor(i, c, k, bytes.fromhex(h), p, level=abs(rng.gauss(VALUES[k][0],
                                                                       VALUES[k][1])))
            for i, c, k, h, p in rows]


def reading(s: SimSensor, at: datetime, run_id: str, *, value: float | None,
            state: str | None = None) -> dict:
    """One signed reading of a simulated sensor (advances its message counter)."""
    s.seq += 1
    m = {"sensor": s.code, "msg_id": f"{run_id}-{s.seq}", "ts": at.isoformat(),
         "value": None if value is None else round(value, 4)}
    if state:
        m["state"] = state
    return sign(m, s.key)


async def simulate(db_url: str, ep: Endpoint, *, duration_s: float, interval_s: float = 10.0,
                   alarm_rate_per_h: float = 0.5, alarm_interval_s: float = 2.0,
                   episode_s: float = 60.0, fault_rate_per_h: float = 0.05,
                   clock: Clock | None = None, seed: int = 1, limit: int | None = None,
                   mqtt: MqttSettings | None = None, th: SensorSettings | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> SimStats:
    """Publish readings for ``duration_s`` seconds; the counts of what was sent."""
    clock = clock or SystemClock()
    mqtt = mqtt or MqttSettings()
    th = th or SensorSettings()
    rng = random.Random(seed)  # noqa: S311 - simulation
    sensors = await load_sensors(db_url, limit=limit)
    if not sensors:
        msg = "no sensors with a device key: load the demo district (firetwin demo)"
        raise RuntimeError(msg)
    run_id = secrets.token_hex(3)
    stats = SimStats()
    t0 = time.monotonic()
    for s in sensors:
        s.next_at = t0 + rng.uniform(0, interval_s)
    p_alarm = alarm_rate_per_h * interval_s / 3600
    p_fault = fault_rate_per_h * interval_s / 3600
    expected = int(len(sensors) * duration_s / interval_s)
    async with Publisher(ep) as pub:
        while (now_m := time.monotonic()) - t0 < duration_s:
            due = [s for s in sensors if s.next_at <= now_m]
            if not due:
                await asyncio.sleep(min(0.05, min(s.next_at for s in sensors) - now_m))
                continue
            at = clock.now()
            for s in due:
                mean, sd = VALUES[s.kind][0], VALUES[s.kind][1]
                if s.episode_until > now_m:  # alarm episode: close in on the target fast
                    s.level += 0.5 * (s.episode_target - s.level)
                    s.next_at = now_m + alarm_interval_s
                else:
                    s.level += 0.2 * (mean - s.level) + rng.gauss(0, sd * 0.3)
                    s.level = max(0.0, s.level)
                    s.next_at = now_m + interval_s
                    if rng.random() < p_alarm:
                        s.episode_until = now_m + episode_s
                        s.episode_target = _alarm_target(s.kind, th, rng)
                        s.next_at = now_m + alarm_interval_s
                        stats.alarm_episodes += 1
                state = None
                if s.fault or rng.random() < p_fault:
                    s.fault = not s.fault if s.fault else True
                    state = "fault" if s.fault else None
                    stats.faults += int(s.fault)
                if (s.kind == "ebike_charging" and s.episode_until > now_m
                        and s.place_kind in th.ebike_forbidden_places):
                    state = state or "charging"
                value = None if state == "fault" else s.level
                if value is not None and not math.isfinite(value):
                    value = mean
                m = reading(s, at, run_id, value=value, state=state)
                await pub.publish(f"{mqtt.topic_prefix}/sensors/{s.code}/reading",
                                  orjson.dumps(m))
                stats.readings += 1
                stats.by_kind[s.kind] = stats.by_kind.get(s.kind, 0) + 1
            if progress is not None:
                progress("readings published", min(stats.readings, expected), expected)
    if progress is not None:
        progress("readings published", expected, expected)
    return stats
