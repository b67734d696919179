"""Tiles as a service: render through the cache, keep it fresh, report data bounds.

One :class:`TileService` per API worker, created at start-up with the connection pool and the
database URL; the HTTP layer only validates, calls :meth:`TileService.tile` (or
:meth:`TileService.cached`, which never queries the tables) and sets headers.

Tiles are rendered on the service's own small pool (:meth:`TileService.open`), with session
settings for many short read-only queries on a few cores: autocommit (no BEGIN/COMMIT round
trips), read-only, and no parallel workers (``FIRETWIN_TILES_PARALLEL_WORKERS``; launching two
workers per tile cost about 12 % of throughput at 8 concurrent tiles on two cores). The API's
own pool keeps its settings and is not drained by a burst of map panning.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from layers.catalogue import CATALOGUE, Layer
from layers.scope import Scope, row_filter
from tiles.cache import (
    Certificate,
    Change,
    ChangeFeed,
    ChangeHistory,
    FeedUnavailable,
    TileCache,
    TileEntry,
    etag_for,
)
from tiles.mvt import check_tile, get_tiles, in_zoom
from tiles.settings import MVTSettings

logger = logging.getLogger("firetwin.tiles")

__all__ = ["TileResult", "TileService"]

Bounds = tuple[float, float, float, float]
WORLD: Bounds = (-180.0, -85.0511287798066, 180.0, 85.0511287798066)


@dataclass(frozen=True, slots=True)
class TileResult:
    """A tile (one or several layers concatenated) and its strong ETag."""

    data: bytes
    etag: str


class TileService:
    """Renders tiles with get_tiles, caches them and evicts what the change log touches."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        database_url: str,
        settings: MVTSettings | None = None,
        *,
        catalogue: Sequence[Layer] = CATALOGUE,
    ) -> None:
        self.pool = pool
        self.settings = settings or MVTSettings()
        self.catalogue = tuple(catalogue)
        self.cache = TileCache(
            self.settings.cache_bytes, margin=self.settings.buffer / self.settings.extent
        )
        self.caching = self.settings.cache_bytes > 0
        self.feed = ChangeFeed(
            database_url,
            on_changes=self._on_changes,
            on_reset=self._on_reset,
            poll_ms=self.settings.change_poll_ms,
            retention_s=self.settings.change_retention_s,
        )
        # The second level shared by the workers (tiles/shared.py), vouched for by the history.
        self.history = ChangeHistory(margin=self.cache.margin)
        self.shared = None
        if self.caching and self.settings.shared_cache_url:
            from tiles.shared import SharedTileStore

            self.shared = SharedTileStore(self.settings.shared_cache_url,
                                          ttl_s=self.settings.shared_cache_ttl_s)
        self._layers_of_table: dict[str, set[str]] = {}
        self._cacheable: set[str] = set()
        self._bounds: dict[tuple[str, str], tuple[float, asyncio.Task[Bounds]]] = {}
        self.render_pool: AsyncConnectionPool | None = None
        self._empty = TileEntry(b"", etag_for(b""))

    async def open(self) -> None:
        """Open the rendering pool (same server and options as ``pool``, tile session settings)."""
        if self.render_pool is not None:
            return
        kwargs = dict(self.pool.kwargs or {})
        options = " ".join(filter(None, [
            str(kwargs.get("options", "")),
            f"-c max_parallel_workers_per_gather={self.settings.parallel_workers}",
            "-c default_transaction_read_only=on",
        ]))
        kwargs.update(autocommit=True, options=options, application_name="firetwin-tiles")
        pool = AsyncConnectionPool(
            self.pool.conninfo,
            min_size=1,
            max_size=self.settings.pool_max_size or self.pool.max_size,
            kwargs=kwargs,
            timeout=self.pool.timeout,  # the API pool's waits: 503 soon while the database is down
            reconnect_timeout=self.pool.reconnect_timeout,
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="firetwin-tiles",
        )
        await pool.open(wait=False)
        self.render_pool = pool

    async def close(self) -> None:
        await self.feed.close()
        if self.shared is not None:
            await self.shared.close()
        for _, task in self._bounds.values():
            task.cancel()
        if self.render_pool is not None:
            await self.render_pool.close()
            self.render_pool = None

    # ------------------------------------------------------------------ tiles

    async def tiles(
        self, layers: Sequence[Layer], z: int, x: int, y: int, *, scope: Scope
    ) -> list[TileEntry]:
        """Per-layer tiles of z/x/y for ``scope``, from the cache when it is current."""
        check_tile(z, x, y, max_zoom=self.settings.max_zoom)
        drawn = [layer for layer in layers if in_zoom(layer, z)]
        found: dict[str, TileEntry] = {}
        since = 0
        cert: Certificate | None = None
        scope_key = scope.cache_key()
        if self.caching and drawn:
            await self._sync()
            since = self.cache.generation
            cert = self.feed.certificate()  # with `since`: no await between them
            for layer in drawn:
                if layer.id in self._cacheable:
                    entry = self.cache.get((layer.id, z, x, y, scope_key))
                    if entry is not None:
                        found[layer.id] = entry
            await self._from_shared(drawn, z, x, y, scope_key, found, since)
        missing = [layer for layer in drawn if layer.id not in found]
        if missing:
            async with (self.render_pool or self.pool).connection() as conn:
                rendered = await get_tiles(
                    conn, missing, z, x, y, scope=scope, settings=self.settings
                )
            share = []
            for layer in missing:
                data = rendered[layer.id]
                if self.caching and layer.id in self._cacheable:
                    key = (layer.id, z, x, y, scope_key)
                    found[layer.id] = self.cache.put(key, data, since=since)
                    if cert is not None:
                        share.append((key, cert, data))
                else:
                    found[layer.id] = TileEntry(data, etag_for(data))
            if self.shared is not None and share:
                await self.shared.put_many(share)
        return [found.get(layer.id, self._empty) for layer in layers]

    async def _from_shared(self, drawn: Sequence[Layer], z: int, x: int, y: int,
                           scope_key: str, found: dict[str, TileEntry], since: int) -> None:
        """Fill ``found`` from the shared store where its tiles are current for this worker."""
        if self.shared is None:
            return
        wanted = [layer for layer in drawn
                  if layer.id in self._cacheable and layer.id not in found]
        if not wanted:
            return
        keys = [(layer.id, z, x, y, scope_key) for layer in wanted]
        entries = await self.shared.get_many(keys)
        for layer, key, got in zip(wanted, keys, entries, strict=True):
            if got is None:
                continue
            cert, data = got
            if self.history.current(cert, layer.id, z, x, y, self._layers_of):
                found[layer.id] = self.cache.put(key, data, since=since)

    async def tile(
        self, layers: Sequence[Layer], z: int, x: int, y: int, *, scope: Scope
    ) -> TileResult:
        """The layers' tiles concatenated (MVT layers concatenate), with a strong ETag."""
        return self._join(await self.tiles(layers, z, x, y, scope=scope))

    async def cached(
        self, layers: Sequence[Layer], z: int, x: int, y: int, *, scope: Scope
    ) -> TileResult | None:
        """The tile if the cache holds every part once it has caught up with the change log.

        None when any part must be rendered (always, with caching off): then call
        :meth:`tile`. Never queries the layer tables, so it is the HTTP fast path's first try.
        Raises InvalidInputError for a tile outside the grid.
        """
        check_tile(z, x, y, max_zoom=self.settings.max_zoom)
        drawn = [layer for layer in layers if in_zoom(layer, z)]
        if not drawn:  # outside every layer's zoom range: empty, nothing to read
            return self._join([self._empty] * len(layers))
        if not self.caching:
            return None
        await self._sync()
        scope_key = scope.cache_key()
        found: dict[str, TileEntry] = {}
        for layer in drawn:
            if layer.id not in self._cacheable:
                return None
            entry = self.cache.get((layer.id, z, x, y, scope_key))
            if entry is None:
                return None
            found[layer.id] = entry
        return self._join([found.get(layer.id, self._empty) for layer in layers])

    @staticmethod
    def _join(parts: Sequence[TileEntry]) -> TileResult:
        if len(parts) == 1:
            return TileResult(parts[0].data, parts[0].etag)
        data = b"".join(p.data for p in parts)
        if not data:
            return TileResult(b"", etag_for(b""))
        # The parts' strong validators identify the concatenation as well as hashing it would.
        tag = hashlib.blake2b("".join(p.etag for p in parts).encode(), digest_size=16)
        return TileResult(data, '"' + tag.hexdigest() + '"')

    async def _sync(self) -> None:
        try:
            await self.feed.sync()
        except FeedUnavailable as e:
            logger.warning("tile cache disabled: no change log in the database (%s)", e)
            self.caching = False
            self.cache.clear()
            return
        if not self._layers_of_table and self.feed.view_tables:
            self._learn_dependencies()
        if self.feed.started_at_id > self.history.floor:  # the feed (re)started
            self.history.reset(self.feed.started_at_id)
        if self.shared is not None and self.shared.namespace is None and self.feed.identity:
            self.shared.namespace = self.feed.identity

    def _learn_dependencies(self) -> None:
        by_view = {layer.view: layer for layer in self.catalogue}
        self._layers_of_table = {}
        self._cacheable = set()
        for view, tables in self.feed.view_tables.items():
            layer = by_view.get(view)
            if layer is None:
                continue
            for table in tables:
                self._layers_of_table.setdefault(table, set()).add(layer.id)
            untracked = tables - self.feed.tracked
            if untracked:
                logger.warning("layer %s reads untracked tables %s: served uncached",
                               layer.id, sorted(untracked))
            else:
                self._cacheable.add(layer.id)

    def _on_changes(self, changes: list[Change]) -> None:
        for change in changes:
            layers = self._layers_of_table.get(change.table)
            if layers:
                self.cache.invalidate(layers, change.box)
        self.history.record(changes)

    def _on_reset(self) -> None:
        self.cache.clear()
        self.history.reset(self.feed.started_at_id)

    def _layers_of(self, table: str) -> set[str]:
        return self._layers_of_table.get(table, set())

    # ------------------------------------------------------------------ metadata

    async def bounds(self, layers: Sequence[Layer], *, scope: Scope) -> Bounds:
        """The data extent of the layers in the scope (EPSG:4326), reused for a while."""
        boxes = await asyncio.gather(*(self._layer_bounds(layer, scope) for layer in layers))
        real = [b for b in boxes if b is not None]
        if not real:
            return WORLD
        return (min(b[0] for b in real), min(b[1] for b in real),
                max(b[2] for b in real), max(b[3] for b in real))

    async def _layer_bounds(self, layer: Layer, scope: Scope) -> Bounds | None:
        key = (layer.id, scope.cache_key())
        now = time.monotonic()
        hit = self._bounds.get(key)
        if hit is not None and now - hit[0] < self.settings.metadata_ttl_s:
            task = hit[1]
            if not task.done() or task.exception() is None:
                return await asyncio.shield(task)
        task = asyncio.get_running_loop().create_task(self._query_bounds(layer, scope))
        self._bounds[key] = (now, task)
        return await asyncio.shield(task)

    async def _query_bounds(self, layer: Layer, scope: Scope) -> Bounds | None:
        query = sql.SQL(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
            "SELECT ST_Extent(t.geom) AS e FROM {} AS t WHERE {}) s"
        ).format(sql.Identifier(layer.schema, layer.view), row_filter(layer, scope, alias="t"))
        async with self.pool.connection() as conn:
            row = await (await conn.execute(query)).fetchone()
        if row is None or row[0] is None:
            return None
        return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
