"""Database settings.

With no configuration FireTwin runs its own PostgreSQL + PostGIS cluster under the project
folder (``.firetwin/pgdata``), like an embedded database. ``FIRETWIN_DATABASE_URL`` points
everything at another PostGIS instead (docker compose, a managed service, a Citus coordinator).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DatabaseSettings(BaseSettings):
    """Where the database is, read from ``FIRETWIN_*`` environment variables or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostGIS URL; unset means the embedded local cluster."
    )
    test_database_url: str | None = Field(
        default=None, description="PostGIS URL for the test suite; default: <db>_test beside it."
    )
    home: Path = Field(
        default=PROJECT_ROOT / ".firetwin",
        description="State folder of the embedded cluster (data, log, credentials).",
    )
    pg_bindir: Path = Path("/usr/lib/postgresql/15/bin")
    db_port: int = Field(default=5544, description="First port tried for the embedded cluster.")
    db_name: str = "firetwin"
    db_os_user: str = Field(
        default="firetwin",
        description="Unprivileged OS user that owns the embedded cluster when run as root.",
    )
    pool_min_size: int = 1
    pool_max_size: int = 10
    statement_timeout_ms: int = 30_000

    @property
    def embedded(self) -> bool:
        """True when FireTwin manages its own local cluster."""
        return self.database_url is None
