"""A tile store shared by the API workers (Redis), second level under each worker's cache.

Each worker keeps its own in-process :class:`tiles.cache.TileCache`; with
``FIRETWIN_TILES_SHARED_CACHE_URL`` set (``redis://host:port/db``) a tile rendered by one worker
is also put in Redis, and a worker that misses its own cache reads Redis before rendering. So N
workers render a tile once, not N times, and a restarted worker starts warm.

**Nothing is ever invalidated in Redis.** Every entry carries the :class:`~tiles.cache.
Certificate` of the writer's change feed when its render began (the change-log ids it had
read); a reader, whose own feed has caught up with every change committed before the request,
uses the entry only if no change it processed outside that certificate touches the tile
(:class:`~tiles.cache.ChangeHistory`). A stale entry is thus never served, whatever the order in
which workers render, write and read; it is replaced by the next render. Entries expire after
``shared_ttl_s`` and Redis evicts by its own ``maxmemory-policy`` (``allkeys-lru`` advised).

Keys live under a namespace naming the database (its OID and that of ``tile_change``, so a
recreated database never meets an old certificate) and the scope of the tile. Value layout:
``max_seen`` (8 bytes), number of gaps (4 bytes), the gaps (8 bytes each), then the MVT bytes.

**Degrading.** Redis unreachable or failing: the worker logs once, serves from its own cache
and rendering, and tries Redis again after ``retry_s``. Redis is never required.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Sequence

from tiles.cache import Certificate

logger = logging.getLogger("firetwin.tiles")

__all__ = ["SharedTileStore", "decode", "encode"]

Key = tuple[str, int, int, int, str]  # layer id, z, x, y, scope key
_HEAD = struct.Struct("<qI")


def encode(cert: Certificate, data: bytes) -> bytes:
    """The stored value: certificate, then the tile."""
    gaps = sorted(cert.gaps)
    return _HEAD.pack(cert.max_seen, len(gaps)) + struct.pack(f"<{len(gaps)}q", *gaps) + data


def decode(value: bytes) -> tuple[Certificate, bytes]:
    """Inverse of :func:`encode`."""
    max_seen, n = _HEAD.unpack_from(value)
    gaps = struct.unpack_from(f"<{n}q", value, _HEAD.size)
    return Certificate(max_seen, frozenset(gaps)), value[_HEAD.size + 8 * n:]


class SharedTileStore:
    """Tiles with their certificates in Redis (see the module docstring)."""

    def __init__(self, url: str, *, ttl_s: int = 3600, timeout_s: float = 0.25,
                 retry_s: float = 30.0) -> None:
        import redis.asyncio as aioredis  # optional until a shared cache is configured

        self.url = url
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.namespace: str | None = None
        self.hits = 0
        self.misses = 0
        self.puts = 0
        self._down_until = 0.0
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            health_check_interval=30)

    @property
    def available(self) -> bool:
        return self.namespace is not None and time.monotonic() >= self._down_until

    def _key(self, key: Key) -> str:
        layer, z, x, y, scope = key
        return f"firetwin:tile:{self.namespace}:{layer}:{z}:{x}:{y}:{scope}"

    def _failed(self, e: Exception) -> None:
        if time.monotonic() >= self._down_until:
            logger.warning("shared tile cache %s unavailable (%s): tiles from this worker's own "
                           "cache for %.0f s", self.url, e, self.retry_s)
        self._down_until = time.monotonic() + self.retry_s

    async def get_many(self, keys: Sequence[Key]) -> list[tuple[Certificate, bytes] | None]:
        """The stored entries of ``keys`` (None where absent, or all None if Redis fails)."""
        if not keys or not self.available:
            return [None] * len(keys)
        try:
            values = await self._client.mget([self._key(k) for k in keys])
        except Exception as e:  # redis errors, timeouts, refused connections
            self._failed(e)
            return [None] * len(keys)
        out: list[tuple[Certificate, bytes] | None] = []
        for v in values:
            if v is None:
                self.misses += 1
                out.append(None)
            else:
                self.hits += 1
                out.append(decode(v))
        return out

    async def put_many(self, items: Sequence[tuple[Key, Certificate, bytes]]) -> None:
        if not items or not self.available:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, cert, data in items:
                    pipe.set(self._key(key), encode(cert, data), ex=self.ttl_s)
                await pipe.execute()
            self.puts += len(items)
        except Exception as e:
            self._failed(e)

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception as e:  # closing a dead connection is not an error worth raising
            logger.debug("closing the shared tile cache: %s", e)
