"""Vector tile settings (``FIRETWIN_TILES_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MVTSettings(BaseSettings):
    """How tiles are built, cached and served."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_TILES_", env_file=".env", extra="ignore")

    extent: int = Field(default=4096, gt=0, description="Tile coordinate extent (MVT units).")
    buffer: int = Field(default=64, ge=0, description="Buffer around the tile, in MVT units.")
    max_features: int = Field(
        default=10_000, gt=0, description="Most features per layer per tile (lowest ids first)."
    )
    max_zoom: int = Field(default=24, ge=0, le=30, description="Highest zoom the URLs accept.")
    simplify_px: float = Field(
        default=1.0,
        ge=0,
        description="Simplification tolerance for layers with simplify=True, in screen pixels of "
        "a 256-pixel tile (0: only ST_AsMVTGeom's snapping to the tile grid).",
    )
    pool_max_size: int = Field(
        default=0,
        ge=0,
        description="Connections of the rendering pool per worker (0: as many as the API pool).",
    )
    parallel_workers: int = Field(
        default=0,
        ge=0,
        description="max_parallel_workers_per_gather of tile queries. 0 suits many concurrent "
        "tiles on few cores; parallel workers only help a lone, very large tile.",
    )
    cache_bytes: int = Field(
        default=128 * 1024 * 1024, ge=0, description="In-process tile cache size (0: no cache)."
    )
    shared_cache_url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:port/db) of a tile store shared by all API workers "
        "under their own caches (tiles/shared.py); unset: each worker caches alone. An "
        "unreachable Redis is skipped, never required.",
    )
    shared_cache_ttl_s: int = Field(
        default=3600, gt=0, description="Shared tiles expire after this long."
    )
    change_poll_ms: float = Field(
        default=0.0,
        ge=0,
        description="Read the change log at most this often. 0: before every cached answer "
        "(concurrent requests share one read), so a committed change shows in the next request.",
    )
    change_retention_s: int = Field(
        default=900, gt=0, description="Change-log rows older than this are pruned."
    )
    public_max_age_s: int = Field(
        default=60, ge=0, description="Cache-Control max-age of tiles served to the public."
    )
    metadata_ttl_s: float = Field(
        default=60.0, ge=0, description="How long TileJSON bounds are reused."
    )
