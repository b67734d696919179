"""Database settings.

With no configuration FireTwin runs its own PostgreSQL + PostGIS cluster under the project
folder (``.firetwin/pgdata``), like an embedded database. ``FIRETWIN_DATABASE_URL`` points
everything at another PostGIS instead (docker compose, a managed service, a Citus coordinator).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
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
    statement_timeout_ms: int = Field(
        default=30_000,
        description="A statement running longer is cancelled; the API answers 503 (Retry-After).",
    )
    pool_timeout_s: float = Field(
        default=5.0,
        description="How long a request waits for a pooled connection before the API answers "
        "503 (database down, or every connection busy).",
    )
    connect_timeout_s: int = Field(
        default=5, description="Give up opening one database connection after this long."
    )
    pool_reconnect_timeout_s: float = Field(
        default=3.0,
        description="While the database is down the pool retries a connection with back-off for "
        "this long, then waits for the next request: it reconnects within about a second of "
        "the database coming back.",
    )
    pgbouncer_transaction_mode: bool = Field(
        default=False,
        description="FIRETWIN_DATABASE_URL is PgBouncer in transaction mode: pooled connections "
        "prepare no statements (psycopg prepare_threshold=None), and what needs a session "
        "(LISTEN, the tile change feed, the sweep's advisory lock) uses "
        "FIRETWIN_DATABASE_DIRECT_URL.",
    )
    database_direct_url: str | None = Field(
        default=None,
        description="The server itself (or a PgBouncer pool in session mode), for session "
        "features; required with pgbouncer_transaction_mode.",
    )

    @model_validator(mode="after")
    def _direct_url_with_pgbouncer(self) -> DatabaseSettings:
        if self.pgbouncer_transaction_mode and not self.database_direct_url:
            msg = ("FIRETWIN_PGBOUNCER_TRANSACTION_MODE needs FIRETWIN_DATABASE_DIRECT_URL (the "
                   "server or a session-mode pool) for LISTEN, the tile change feed and the "
                   "escalation sweep's advisory lock")
            raise ValueError(msg)
        return self

    @property
    def session_url(self) -> str | None:
        """Where session features connect: the direct URL, else the database URL."""
        return self.database_direct_url or self.database_url

    @property
    def embedded(self) -> bool:
        """True when FireTwin manages its own local cluster."""
        return self.database_url is None
