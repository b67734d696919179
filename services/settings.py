"""API settings (``FIRETWIN_*`` environment variables)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class APISettings(BaseSettings):
    """How the API is served."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_", env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface to bind; loopback by default.")
    port: int = Field(default=8000, description="HTTP port (FIRETWIN_PORT).")
    public_url: str | None = Field(
        default=None, description="Base URL clients use (links in OGC responses)."
    )
    title: str = "FireTwin"
    cors_origins: list[str] = Field(default_factory=list)
    media_dir: Path | None = Field(
        default=None, description="Where uploaded photos go (default: <FIRETWIN_HOME>/media)."
    )
    media_reserve_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Uploads are refused with 507 when keeping one would leave less than this "
        "free on the media file system (it is often the database's disk too).",
    )
    escalation_sweep: bool = Field(
        default=True, description="Sweep overdue hazards in the background (one worker at a time)."
    )
    clock_at: datetime | None = Field(
        default=None,
        description="Start the workflow clock at this instant (ISO 8601 with zone); real time "
        "by default. `firetwin run` sets it to the demo's reference date for the demo district.",
    )
    demo_seed: int = Field(default=42, description="Seed of the demo district loaded by make run.")
    demo_scale: float = Field(default=1.0, description="Scale of the demo district.")
