"""IoT settings: the MQTT broker (``FIRETWIN_MQTT_*``) and the alarm rules (``FIRETWIN_SENSOR_*``).

Thresholds are settings with the fire-code figures as defaults (DESIGN.md §4), never literals in
the rule code. Each field's docstring names the clause it rests on, or says that it has none.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.settings import PROJECT_ROOT


class MqttSettings(BaseSettings):
    """Where the MQTT broker is: FireTwin's own Mosquitto by default, or ``FIRETWIN_MQTT_URL``."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_MQTT_", env_file=".env", extra="ignore")

    url: str | None = Field(
        default=None,
        description="mqtt://[user:password@]host:port of an external broker; unset means "
        "FireTwin starts its own Mosquitto under <home>/mosquitto.",
    )
    home: Path = Field(default=PROJECT_ROOT / ".firetwin" / "mosquitto",
                       description="State folder of the embedded broker (config, data, log).")
    port: int = Field(default=18830, description="First port tried for the embedded broker.")
    binary: Path = Path("/usr/sbin/mosquitto")
    os_user: str = Field(default="firetwin",
                         description="Unprivileged OS user that runs the broker when run as root.")
    topic_prefix: str = "firetwin"
    share_group: str = Field(default="firetwin-ingest",
                             description="Shared-subscription group of the ingesters; empty: "
                             "one ingester with a plain subscription, which Mosquitto 2.0 keeps "
                             "over a broker restart (shared ones it does not).")
    client_id: str = Field(default="firetwin-ingest-1",
                           description="Ingester client id: the key of its persistent session.")
    session_expiry_s: int = Field(default=7 * 86_400,
                                  description="How long the broker keeps an absent ingester's "
                                  "session and queued readings.")
    max_queued_messages: int = Field(
        default=2_000_000, description="Readings the broker queues per absent ingester session.")
    ingest_in_api: bool = Field(
        default=False, description="Run one ingester inside the API process (firetwin run).")
    autosave_interval_s: int = Field(
        default=5, description="Seconds between broker persistence saves (also saved on stop).")

    def topic_readings(self) -> str:
        """Single readings: ``firetwin/sensors/{code}/reading``."""
        return f"{self.topic_prefix}/sensors/+/reading"

    def topic_batches(self) -> str:
        """Gateway batches: ``firetwin/gateways/{gateway}/readings``."""
        return f"{self.topic_prefix}/gateways/+/readings"


class SensorSettings(BaseSettings):
    """Alarm thresholds, debounce and liveness of IoT sensors (``FIRETWIN_SENSOR_*``)."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_SENSOR_", env_file=".env",
                                      extra="ignore")

    gas_level1_pct_lel: float = 25.0
    """Combustible gas alarm 1 (% LEL): set at ≤ 25 % LEL (GB/T 50493-2019 §5.5)."""
    gas_level2_pct_lel: float = 50.0
    """Combustible gas alarm 2 (% LEL): set at ≤ 50 % LEL (GB/T 50493-2019 §5.5)."""
    gas_hysteresis_pct_lel: float = 5.0
    """Gas clears only below the alarm level minus this band (no code figure)."""

    residual_current_ma: float = 300.0
    """Residual-current alarm setting (mA): within 300–500 mA (GB 50116-2013 §9.2.3)."""
    residual_current_hysteresis_ma: float = 50.0
    """Residual current clears only below the setting minus this band (no code figure)."""

    smoke_obscuration_pct_per_m: float = 3.0
    """Smoke alarm (obscuration %/m) when the device sends no alarm flag itself. No figure in
    DESIGN.md: the detector's own response threshold (GB 4715) rules, sent as ``state: alarm``;
    3 %/m is the demo's alarm floor."""
    smoke_hysteresis_pct_per_m: float = 1.0

    cable_temperature_level1_c: float = 70.0
    """Cable temperature alarm 1 (°C): temperature-type electrical fire detectors are set
    within 55–140 °C (GB 14287.4-2014); 70 °C is the demo default."""
    cable_temperature_level2_c: float = 90.0
    """Cable temperature alarm 2 (°C): demo default within the same range."""
    cable_temperature_hysteresis_c: float = 5.0

    hydrant_min_pressure_mpa: float = 0.10
    """Hydrant pressure alarm below this (MPa): a municipal hydrant supplies at least 0.10 MPa
    from ground level (GB 50974-2014 §7.2.8)."""
    hydrant_hysteresis_mpa: float = 0.02

    ebike_level1_c: float = 60.0
    """E-bike battery over-temperature alarm 1 while charging (°C). No code figure: demo
    default (lithium cells are charged at ≤ 45–60 °C by common cell datasheets)."""
    ebike_level2_c: float = 80.0
    """E-bike battery over-temperature alarm 2 (°C): thermal-runaway precursor, demo default."""
    ebike_hysteresis_c: float = 5.0
    ebike_forbidden_places: tuple[str, ...] = ("exit", "corridor", "stairwell")
    """Places where charging is an alarm by itself (exits, corridors, stairwells: 公安部
    《关于规范电动车停放充电加强火灾防范的通告》 and the seed 000 example)."""

    debounce_s: float = 5.0
    """An alarm condition must hold this long (or for ``debounce_readings`` readings) before the
    alarm is raised. With ``max_report_interval_s`` it bounds the alarm delay, which must stay
    within 30 s of the condition (GB 31252-2014 §4.3.1)."""
    debounce_readings: int = 3
    """Consecutive readings in alarm that raise the alarm even before ``debounce_s`` (fast
    reporters). A device that flags the alarm itself (``state: alarm``) is not debounced."""
    max_report_interval_s: float = 10.0
    """Devices in an alarm condition report at least this often (device contract)."""
    clear_s: float = 30.0
    """An alarm clears only after the value stayed below the clear level this long."""
    alarm_within_s: float = 30.0
    """Monitoring devices alarm within 30 s of the set condition (GB 31252-2014 §4.3.1)."""

    offline_after_s: float = 900.0
    """A sensor silent this long (no reading, no heartbeat) is marked offline."""
    max_clock_skew_s: float = 300.0
    """Readings stamped further than this in the future are impossible and rejected."""

    @model_validator(mode="after")
    def _check(self) -> SensorSettings:
        if not 300.0 <= self.residual_current_ma <= 500.0:
            msg = ("FIRETWIN_SENSOR_RESIDUAL_CURRENT_MA must be within 300–500 mA "
                   "(GB 50116-2013 §9.2.3)")
            raise ValueError(msg)
        if not 0 < self.gas_level1_pct_lel <= 25.0 or not 0 < self.gas_level2_pct_lel <= 50.0:
            msg = "gas alarm levels must be ≤ 25 % and ≤ 50 % LEL (GB/T 50493-2019 §5.5)"
            raise ValueError(msg)
        if self.gas_level1_pct_lel >= self.gas_level2_pct_lel:
            msg = "gas alarm 1 must be below alarm 2"
            raise ValueError(msg)
        if self.debounce_s + self.max_report_interval_s > self.alarm_within_s:
            msg = ("debounce_s + max_report_interval_s must stay within the 30 s alarm delay "
                   "(GB 31252-2014 §4.3.1)")
            raise ValueError(msg)
        return self
