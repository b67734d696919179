"""Settings of the fire-risk model, the double-random inspection list and the indices."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RiskSettings(BaseSettings):
    """Fire-risk model (``FIRETWIN_RISK_*``)."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_RISK_", env_file=".env",
                                      extra="ignore")

    timezone: str = Field(default="Asia/Shanghai",
                          description="Zone of the as-of days: data up to the end of the day.")
    models_dir: Path | None = Field(default=None,
                                    description="Model files (default <FIRETWIN_HOME>/models).")
    horizon_months: int = Field(default=12, ge=1, le=36, description="Label: a fire within this.")
    snapshot_step_months: int = Field(default=6, ge=1, le=12,
                                      description="Training snapshots every this many months.")
    min_history_days: int = Field(default=180, ge=0,
                                  description="Earliest snapshot: this long after the history "
                                  "starts.")
    top_factors: int = Field(default=3, ge=1, le=10, description="Factors kept per unit.")
    tier_medium: float = 50.0
    tier_high: float = 80.0
    tier_very_high: float = 95.0
    num_threads: int = Field(default=0, description="LightGBM threads (0: all cores).")
    seed: int = 7


class DoubleRandomSettings(BaseSettings):
    """The monthly double-random (双随机) inspection list (``FIRETWIN_DOUBLE_RANDOM_*``)."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_DOUBLE_RANDOM_", env_file=".env",
                                      extra="ignore")

    sample_share: float = Field(default=0.05, gt=0, le=1,
                                description="Share of the units drawn each month.")
    high_risk_share: float = Field(default=0.5, ge=0, le=1,
                                   description="Share of the list drawn from high-risk units.")
    high_risk_tiers: list[str] = Field(default=["high", "very_high"])
    weight_floor: float = Field(default=10.0, gt=0,
                                description="Draw weight = floor + score: every unit can be "
                                "drawn, riskier ones more often.")
    inspector_role: str = "inspector"


class IndexSettings(BaseSettings):
    """Community safety, rescue capability and unit management indices (``FIRETWIN_INDEX_*``)."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_INDEX_", env_file=".env",
                                      extra="ignore")

    # Community safety index (seed 002): weights of the six indicators (sum to 1).
    w_density: float = 0.2
    w_rectification: float = 0.2
    w_timeliness: float = 0.15
    w_recurrence: float = 0.15
    w_public: float = 0.15
    w_sensor: float = 0.15
    # A sub-score falls linearly from 100 to 0 as the indicator rises from 0 to this bad value.
    density_bad_per_100_units: float = Field(default=20.0, gt=0,
                                             description="Hazards per 100 units in a month.")
    recurrence_bad: float = Field(default=0.2, gt=0, description="Recurrence rate (target 5 %).")
    public_bad_per_100_units: float = Field(default=5.0, gt=0)
    sensor_alarms_bad_per_100_units: float = Field(default=5.0, gt=0)
    recurrence_days: int = 90
    red_below: float = Field(default=60.0, description="Community index below this: red.")
    yellow_below: float = Field(default=80.0, description="Below this (and not red): yellow.")
    # Rescue capability per street.
    response_standard_s: float = 300.0
    turnout_s: float = 60.0
    vehicles_per_10k_good: float = Field(default=1.0, gt=0)
    staff_per_10k_good: float = Field(default=6.0, gt=0)
    # Unit management index, over the months before the month's end.
    unit_window_days: int = 90
    self_checks_good: int = Field(default=3, gt=0,
                                  description="Self-checks/drills in the window for full marks.")


def models_dir(settings: RiskSettings, home: Path) -> Path:
    """Where model files go."""
    return settings.models_dir or (home / "models")
