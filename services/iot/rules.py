"""Alarm rules per sensor kind: pure functions of (state, reading, thresholds).

Nothing here touches the database or the clock; the ingester loads a sensor's ``RuleState``,
calls :func:`step` for each new reading in time order and stores the state it returns (in
``sensor_rule_state``, so several ingesters share it). Thresholds come from ``SensorSettings``.

Levels are 0 (normal), 1 and 2 (gas alarm 1/2, or a second, hotter temperature level).

- **Condition** (:func:`condition`): the level a reading calls for. Entering a level needs its
  threshold; staying in it needs only the threshold minus the hysteresis band (plus for low-is-bad
  hydrant pressure), so a value hovering at the threshold does not flap.
- **Debounce**: a higher level is raised when it has held for ``debounce_s`` or for
  ``debounce_readings`` consecutive readings; a device's own ``state: alarm`` is raised at once.
  A device reporting at least every ``max_report_interval_s`` in an alarm condition is therefore
  alarmed within ``max(debounce_s, max_report_interval_s)`` ≤ 30 s (GB 31252-2014 §4.3.1).
- **Clearing**: a lower level is taken only after the condition stayed lower for ``clear_s``.
- **Fault**: ``state: fault`` puts the sensor in fault until a measurement arrives.
- **Offline**: :func:`is_offline` after ``offline_after_s`` of silence (no reading or heartbeat).

>>> from datetime import datetime, timedelta, UTC
>>> th = SensorSettings()
>>> t0 = datetime(2026, 7, 1, tzinfo=UTC)
>>> s = RuleState()
>>> s, ev = step(s, "gas", Observation(t0, 30.0, None), th)
>>> s.level, ev
(0, [])
>>> s, ev = step(s, "gas", Observation(t0 + timedelta(seconds=6), 31.0, None), th)
>>> s.level, [(e.event, e.level, e.reason) for e in ev]
(1, [('raised', 1, 'gas_level1')])
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.iot.settings import SensorSettings

__all__ = ["HAZARD_FOR", "Event", "Observation", "RuleState", "condition", "hazard_for",
           "is_offline", "step"]


@dataclass(frozen=True, slots=True)
class RuleState:
    """Debounce/hysteresis state of one sensor (a row of ``sensor_rule_state``)."""

    level: int = 0
    fault: bool = False
    pending_level: int = 0
    pending_since: datetime | None = None
    pending_count: int = 0
    clear_since: datetime | None = None
    last_observed_at: datetime | None = None

    @property
    def quiet(self) -> bool:
        """Normal, no fault, nothing pending: a normal reading cannot change anything."""
        return (self.level == 0 and not self.fault and self.pending_level == 0
                and self.clear_since is None)


@dataclass(frozen=True, slots=True)
class Observation:
    """What a rule sees of a reading."""

    at: datetime
    value: float | None
    state: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A change worth telling: raised, escalated, cleared, fault, recovered."""

    event: str
    level: int
    reason: str
    value: float | None
    observed_at: datetime


def _levels(value: float, level: int, l1: float, l2: float | None, band: float) -> int:
    """Level of a high-is-bad value with hysteresis relative to the current level."""
    if l2 is not None and value >= (l2 - band if level >= 2 else l2):
        return 2
    if value >= (l1 - band if level >= 1 else l1):
        return 1
    return 0


def condition(kind: str, obs: Observation, th: SensorSettings, *, level: int = 0,
              place_kind: str | None = None) -> tuple[int, str]:
    """The alarm level this reading calls for, and why (``""`` when normal).

    >>> th = SensorSettings()
    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 7, 1, tzinfo=UTC)
    >>> condition("gas", Observation(t, 24.9), th), condition("gas", Observation(t, 50.0), th)
    ((0, ''), (2, 'gas_level2'))
    >>> condition("gas", Observation(t, 22.0), th, level=1)  # hysteresis: stays in alarm 1
    (1, 'gas_level1')
    >>> condition("hydrant_pressure", Observation(t, 0.08), th)
    (1, 'pressure_low')
    >>> condition("ebike_charging", Observation(t, 30.0, "charging"), th, place_kind="corridor")
    (1, 'charging_forbidden_place')
    """
    v = obs.value
    lvl, why = 0, ""
    if v is not None:
        if kind == "gas":
            lvl = _levels(v, level, th.gas_level1_pct_lel, th.gas_level2_pct_lel,
                          th.gas_hysteresis_pct_lel)
            why = f"gas_level{lvl}" if lvl else ""
        elif kind == "residual_current":
            lvl = _levels(v, level, th.residual_current_ma, None, th.residual_current_hysteresis_ma)
            why = "residual_current" if lvl else ""
        elif kind == "smoke":
            lvl = _levels(v, level, th.smoke_obscuration_pct_per_m, None,
                          th.smoke_hysteresis_pct_per_m)
            why = "smoke" if lvl else ""
        elif kind == "cable_temperature":
            lvl = _levels(v, level, th.cable_temperature_level1_c, th.cable_temperature_level2_c,
                          th.cable_temperature_hysteresis_c)
            why = f"cable_temperature_level{lvl}" if lvl else ""
        elif kind == "hydrant_pressure":
            floor = th.hydrant_min_pressure_mpa + (th.hydrant_hysteresis_mpa if level else 0.0)
            lvl = 1 if v < floor else 0
            why = "pressure_low" if lvl else ""
        elif kind == "ebike_charging":
            lvl = _levels(v, level, th.ebike_level1_c, th.ebike_level2_c, th.ebike_hysteresis_c)
            why = f"battery_over_temperature_level{lvl}" if lvl else ""
    if (kind == "ebike_charging" and obs.state == "charging" and lvl == 0
            and place_kind in th.ebike_forbidden_places):
        lvl, why = 1, "charging_forbidden_place"
    if obs.state == "alarm" and lvl == 0:
        lvl, why = 1, "device_alarm"
    return lvl, why


def step(state: RuleState, kind: str, obs: Observation, th: SensorSettings, *,
         place_kind: str | None = None) -> tuple[RuleState, list[Event]]:
    """Advance a sensor's rule state by one reading; the new state and the events it causes.

    Readings older than the last one seen are ignored (out of order or redelivered); a
    heartbeat changes nothing here (it only proves the sensor is alive).
    """
    if state.last_observed_at is not None and obs.at < state.last_observed_at:
        return state, []
    if obs.state == "heartbeat" or (obs.value is None and obs.state != "fault"):
        return replace(state, last_observed_at=obs.at), []
    events: list[Event] = []
    if obs.state == "fault":
        if not state.fault:
            events.append(Event("fault", state.level, "device_fault", obs.value, obs.at))
        return replace(state, fault=True, pending_level=0, pending_since=None, pending_count=0,
                       last_observed_at=obs.at), events
    if state.fault:
        events.append(Event("recovered", state.level, "measuring_again", obs.value, obs.at))
        state = replace(state, fault=False)
    target, why = condition(kind, obs, th, level=state.level, place_kind=place_kind)
    if target > state.level:
        since = state.pending_since if state.pending_level else obs.at
        count = state.pending_count + 1 if state.pending_level else 1
        held = (obs.at - since).total_seconds()
        if obs.state == "alarm" or count >= th.debounce_readings or held >= th.debounce_s:
            events.append(Event("raised" if state.level == 0 else "escalated", target, why,
                                obs.value, obs.at))
            state = replace(state, level=target, pending_level=0, pending_since=None,
                            pending_count=0, clear_since=None)
        else:
            state = replace(state, pending_level=target, pending_since=since,
                            pending_count=count, clear_since=None)
    elif target == state.level:
        state = replace(state, pending_level=0, pending_since=None, pending_count=0,
                        clear_since=None)
    else:
        since = state.clear_since or obs.at
        if (obs.at - since).total_seconds() >= th.clear_s:
            events.append(Event("cleared", target, why or "back_to_normal", obs.value, obs.at))
            state = replace(state, level=target, clear_since=None, pending_level=0,
                            pending_since=None, pending_count=0)
        else:
            state = replace(state, clear_since=since, pending_level=0, pending_since=None,
                            pending_count=0)
    return replace(state, last_observed_at=obs.at), events


def is_offline(last_seen_at: datetime | None, now: datetime, th: SensorSettings) -> bool:
    """Whether a sensor last heard from at ``last_seen_at`` counts as offline at ``now``.

    >>> from datetime import datetime, timedelta, UTC
    >>> t = datetime(2026, 7, 1, tzinfo=UTC)
    >>> th = SensorSettings()
    >>> is_offline(t, t + timedelta(minutes=16), th), is_offline(None, t, th)
    (True, False)
    """
    return last_seen_at is not None and (now - last_seen_at).total_seconds() > th.offline_after_s


#: Sensor kind → hazard (category, subcategory) of ``gis.vocab.HAZARD_TAXONOMY``. The taxonomy
#: has no smoke/fire class: a smoke alarm opens a red ``fire_facility/alarm_system_off`` hazard
#: ("the automatic fire alarm system reports"), verified on site at once.
HAZARD_FOR: dict[str, tuple[str, str]] = {
    "gas": ("gas", "gas_leak"),
    "residual_current": ("electrical", "overloaded_circuit"),
    "cable_temperature": ("electrical", "aged_cable"),
    "hydrant_pressure": ("fire_facility", "hydrant_broken"),
    "smoke": ("fire_facility", "alarm_system_off"),
    "ebike_charging": ("ebike", "ebike_indoor_charging"),
}

_TIERS: dict[tuple[str, int], str] = {
    ("gas", 1): "orange", ("gas", 2): "red",
    ("residual_current", 1): "yellow", ("residual_current", 2): "orange",
    ("cable_temperature", 1): "yellow", ("cable_temperature", 2): "orange",
    ("hydrant_pressure", 1): "yellow", ("hydrant_pressure", 2): "yellow",
    ("smoke", 1): "red", ("smoke", 2): "red",
    ("ebike_charging", 1): "orange", ("ebike_charging", 2): "red",
}


def hazard_for(kind: str, level: int, reason: str) -> tuple[str, str, str]:
    """(category, subcategory, tier) of the hazard an alarm opens.

    >>> hazard_for("gas", 2, "gas_level2")
    ('gas', 'gas_leak', 'red')
    >>> hazard_for("ebike_charging", 1, "charging_forbidden_place")
    ('ebike', 'ebike_indoor_charging', 'yellow')
    """
    category, sub = HAZARD_FOR[kind]
    if reason == "charging_forbidden_place":
        return category, sub, "yellow"
    return category, sub, _TIERS[(kind, max(1, min(level, 2)))]
