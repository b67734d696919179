"""Sensor reading messages: the payload format, its signature, parsing and rejection reasons.

A reading is a JSON object (MQTT topic ``firetwin/sensors/{code}/reading``; a gateway sends a
JSON array of them on ``firetwin/gateways/{gateway}/readings`` or to
``POST /api/sensors/readings``)::

    {"sensor": "SN…GAS00012", "msg_id": "42-000017", "ts": "2026-07-01T08:00:00+08:00",
     "value": 3.2, "state": "normal", "sig": "<64 hex>"}

- ``msg_id``: 1–64 printable characters, unique per sensor (a counter or a UUID); with
  ``sensor`` it is the de-duplication key, so a message delivered twice is stored once.
- ``ts``: ISO 8601 with a zone; ``value``: a finite number in the sensor kind's unit
  (``gis.vocab.SENSOR_UNITS``); it may be left out only for ``state`` ``heartbeat`` or ``fault``.
- ``state`` (optional): ``normal``, ``alarm`` (the device's own alarm), ``fault``,
  ``heartbeat`` (alive, nothing measured) or ``charging`` (e-bike charging under way).
- ``sig``: HMAC-SHA256, hex, of ``canonical(...)`` under the device key
  ``K = SHA-256(device secret)``, which is what ``sensor.device_key_hash`` holds (hex).

Why HMAC: every reading is authenticated end to end (through gateways, MQTT or HTTP) at about a
microsecond per message; argon2 is built to cost tens of milliseconds per check, which caps a core
at a few dozen readings a second. The price of a symmetric MAC is that the stored key can sign:
``device_key_hash`` is a secret (the database never returns it), and the device secret itself is
never stored. ``msg_id`` and ``ts`` are under the signature, so a replayed message is a duplicate
and an old one cannot be re-dated.

>>> key = device_key("demo-secret")
>>> m = sign({"sensor": "S1", "msg_id": "1", "ts": "2026-07-01T00:00:00Z", "value": 3.5}, key)
>>> verify(m, key)
True
>>> verify(m | {"value": 35.0}, key)
False
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STATES = frozenset({"normal", "alarm", "fault", "heartbeat", "charging"})

#: Rejection reasons, counted by the ingester and named in HTTP 4xx answers.
REASONS = ("malformed", "unknown_sensor", "bad_signature", "impossible_value", "bad_timestamp",
           "topic_mismatch")

#: Physically possible values per sensor kind; outside them a reading is impossible.
PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "smoke": (0.0, 100.0),  # obscuration %/m
    "gas": (0.0, 100.0),  # % LEL
    "residual_current": (0.0, 10_000.0),  # mA
    "cable_temperature": (-40.0, 250.0),  # °C
    "hydrant_pressure": (0.0, 2.5),  # MPa
    "ebike_charging": (-40.0, 200.0),  # °C
}


class Rejected(ValueError):
    """A message that is not stored; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Reading:
    """A verified reading, ready to store."""

    sensor_id: int
    message_id: str
    observed_at: datetime
    value: float | None
    state: str | None


def device_key(secret: str) -> bytes:
    """The HMAC key of a device: SHA-256 of its secret (``sensor.device_key_hash`` in hex)."""
    return hashlib.sha256(secret.encode()).digest()


def canonical(m: dict[str, Any]) -> bytes:
    """The signed bytes: sensor, msg_id, ts, value (printf ``%.6g``) and state, one per line.

    >>> canonical({"sensor": "S1", "msg_id": "7", "ts": "2026-07-01T00:00:00Z", "value": 0.1})
    b'S1\\n7\\n2026-07-01T00:00:00Z\\n0.1\\n'
    """
    v = m.get("value")
    value = "" if v is None else format(float(v), ".6g")
    return f"{m['sensor']}\n{m['msg_id']}\n{m['ts']}\n{value}\n{m.get('state') or ''}".encode()


def sign(m: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The message with its ``sig`` (devices, gateways, the simulator and tests use this)."""
    return m | {"sig": hmac.digest(key, canonical(m), "sha256").hex()}


def verify(m: dict[str, Any], key: bytes) -> bool:
    """Whether ``m["sig"]`` is the HMAC of the message under ``key`` (constant time)."""
    sig = m.get("sig")
    if not isinstance(sig, str):
        return False
    return hmac.compare_digest(hmac.digest(key, canonical(m), "sha256").hex(), sig)


@dataclass(frozen=True, slots=True)
class SensorKey:
    """What the ingester needs to know of a sensor to accept its readings."""

    id: int
    kind: str
    key: bytes


def parse(m: Any, sensors: dict[str, SensorKey], *, topic_code: str | None = None,
          now: datetime, max_skew_s: float) -> Reading:
    """Check one decoded message and return the reading; raise Rejected with the reason.

    ``topic_code`` is the code in the MQTT topic, which must match ``sensor``.
    """
    if not isinstance(m, dict):
        raise Rejected("malformed", "a reading is a JSON object")
    code, msg_id, ts, value, state = (m.get("sensor"), m.get("msg_id"), m.get("ts"),
                                      m.get("value"), m.get("state"))
    if not isinstance(code, str) or not isinstance(msg_id, str) or not isinstance(ts, str):
        raise Rejected("malformed", "sensor, msg_id and ts must be strings")
    if not (1 <= len(msg_id) <= 64) or not msg_id.isprintable():
        raise Rejected("malformed", "msg_id must be 1–64 printable characters")
    if state is not None and state not in STATES:
        raise Rejected("malformed", f"state must be one of {', '.join(sorted(STATES))}")
    if value is None:
        if state not in ("heartbeat", "fault"):
            raise Rejected("malformed", "value is required (except for heartbeat and fault)")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected("malformed", "value must be a number")
    if topic_code is not None and topic_code != code:
        raise Rejected("topic_mismatch", f"topic names {topic_code}, payload {code}")
    s = sensors.get(code)
    if s is None:
        raise Rejected("unknown_sensor", f"no sensor {code}")
    if not verify(m, s.key):
        raise Rejected("bad_signature", f"signature of {code}/{msg_id} does not verify")
    try:
        at = datetime.fromisoformat(ts)
    except ValueError:
        raise Rejected("bad_timestamp", f"ts {ts!r} is not ISO 8601") from None
    if at.tzinfo is None:
        raise Rejected("bad_timestamp", "ts needs a zone (Z or +08:00)")
    if (at - now).total_seconds() > max_skew_s:
        raise Rejected("bad_timestamp", f"ts {ts} is in the future")
    if at.year < 2000:
        raise Rejected("bad_timestamp", f"ts {ts} is before 2000 (device clock unset)")
    if value is not None:
        value = float(value)
        lo, hi = PHYSICAL_RANGE[s.kind]
        if not math.isfinite(value) or not lo <= value <= hi:
            raise Rejected("impossible_value",
                           f"{value} is outside {lo}–{hi} for a {s.kind} sensor")
    return Reading(s.id, msg_id, at, value, state)
