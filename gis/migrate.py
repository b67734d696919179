"""Run the Alembic migrations programmatically (``firetwin db migrate``, app start, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for the database at ``url`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Migrate the database at ``url`` to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def is_current(url: str) -> bool:
    """Whether the database at ``url`` is migrated to every head of the scripts."""
    import psycopg
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    with psycopg.connect(url) as conn:
        try:
            have = {r[0] for r in conn.execute("SELECT version_num FROM firetwin.alembic_version")}
        except psycopg.errors.UndefinedTable:
            return False
    return have == heads
