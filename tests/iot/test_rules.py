"""Alarm rules as pure functions: thresholds, debounce, hysteresis, 30 s alarm delay, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.iot.rules import Observation, RuleState, condition, hazard_for, is_offline, step
from services.iot.settings import SensorSettings

T0 = datetime(2026, 7, 1, tzinfo=UTC)
TH = SensorSettings()


def run(kind, values, *, every_s=1.0, state=RuleState(), place_kind=None, th=TH, states=None):
    """Feed readings ``every_s`` apart; the final state and all events with their times."""
    events = []
    for i, v in enumerate(values):
        s = (states or {}).get(i)
        state, ev = step(state, kind, Observation(T0 + timedelta(seconds=i * every_s), v, s), th,
                         place_kind=place_kind)
        events += [(i, e.event, e.level, e.reason) for e in ev]
    return state, events


def test_gas_thresholds_are_the_codes_figures():
    assert condition("gas", Observation(T0, 24.99), TH) == (0, "")
    assert condition("gas", Observation(T0, 25.0), TH) == (1, "gas_level1")
    assert condition("gas", Observation(T0, 49.99), TH) == (1, "gas_level1")
    assert condition("gas", Observation(T0, 50.0), TH) == (2, "gas_level2")


def test_debounce_by_readings_then_escalation_and_clearing_with_hysteresis():
    # 3 readings at 1 s raise alarm 1; 50 %+ escalates; 22 % (inside the band) holds alarm 1;
    # below 20 % for clear_s (30 s) clears
    values = [30, 30, 30, 55, 55, 55, 22, 22] + [10] * 32
    state, events = run("gas", values)
    assert events == [(2, "raised", 1, "gas_level1"), (5, "escalated", 2, "gas_level2"),
                      (36, "cleared", 0, "back_to_normal")]
    assert state.level == 0 and state.quiet


def test_a_single_spike_raises_nothing():
    _, events = run("gas", [40, 3, 3, 40, 3, 3])
    assert events == []


def test_slow_reporter_is_alarmed_at_its_second_reading_within_30_s():
    for every in (1.0, 2.0, 5.0, 10.0):
        _, events = run("residual_current", [350, 350, 350], every_s=every)
        first = events[0][0] * every
        assert events[0][1] == "raised"
        assert first <= TH.alarm_within_s, (every, first)


def test_device_alarm_flag_is_raised_at_once():
    _, events = run("smoke", [0.1], states={0: "alarm"})
    assert events == [(0, "raised", 1, "device_alarm")]


def test_hydrant_pressure_below_0_10_mpa():
    assert condition("hydrant_pressure", Observation(T0, 0.10), TH) == (0, "")
    assert condition("hydrant_pressure", Observation(T0, 0.099), TH) == (1, "pressure_low")
    # hysteresis: once low, 0.11 is still low (must reach 0.12)
    assert condition("hydrant_pressure", Observation(T0, 0.11), TH, level=1)[0] == 1


def test_ebike_charging_in_a_forbidden_place_and_over_temperature():
    charging = Observation(T0, 30.0, "charging")
    assert condition("ebike_charging", charging, TH, place_kind="stairwell")[0] == 1
    assert condition("ebike_charging", charging, TH, place_kind="charging_shed")[0] == 0
    assert condition("ebike_charging", Observation(T0, 85.0), TH) == (
        2, "battery_over_temperature_level2")


def test_fault_and_recovery_and_out_of_order_readings():
    state, events = run("gas", [None, 1.0], states={0: "fault"})
    assert [e[1] for e in events] == ["fault", "recovered"] and not state.fault
    late, ev = step(state, "gas", Observation(T0 - timedelta(hours=1), 90.0), TH)
    assert late == state and ev == []


def test_offline_after_silence():
    assert not is_offline(T0, T0 + timedelta(seconds=TH.offline_after_s), TH)
    assert is_offline(T0, T0 + timedelta(seconds=TH.offline_after_s + 1), TH)


def test_settings_refuse_figures_outside_the_codes():
    with pytest.raises(ValidationError, match="300–500"):
        SensorSettings(residual_current_ma=600)
    with pytest.raises(ValidationError, match="25 %"):
        SensorSettings(gas_level1_pct_lel=30)
    with pytest.raises(ValidationError, match="30 s"):
        SensorSettings(debounce_s=25, max_report_interval_s=10)


@pytest.mark.parametrize(("kind", "level", "expected"), [
    ("gas", 1, ("gas", "gas_leak", "orange")),
    ("residual_current", 1, ("electrical", "overloaded_circuit", "yellow")),
    ("hydrant_pressure", 1, ("fire_facility", "hydrant_broken", "yellow")),
    ("smoke", 1, ("fire_facility", "alarm_system_off", "red")),
    ("ebike_charging", 2, ("ebike", "ebike_indoor_charging", "red")),
])
def test_hazard_taxonomy(kind, level, expected):
    from gis.vocab import HAZARD_TAXONOMY

    cat, sub, tier = hazard_for(kind, level, "x")
    assert (cat, sub, tier) == expected and sub in HAZARD_TAXONOMY[cat]
