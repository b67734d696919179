"""In-process tile cache, kept fresh across API workers by a change log in the database.

Design
------
**What is cached.** Each API worker process keeps one :class:`TileCache`: an LRU bounded by
bytes (``FIRETWIN_TILES_CACHE_BYTES``) of per-layer MVT tiles keyed by ``(layer id, z, x, y,
scope.cache_key())``, each with its strong ETag (a BLAKE2b hash of the bytes). Multi-layer tiles
are assembled from the per-layer entries, so a change to hazards does not throw away the roads
of the same tile. Empty tiles are cached too (they are the most common answer).

**How changes are recorded.** Migration 0003 puts four statement-level triggers (INSERT,
UPDATE, DELETE with transition tables ``REFERENCING NEW TABLE / OLD TABLE``, and TRUNCATE) on
every ``firetwin`` table a layer view reads (``firetwin.layer_tables()``, from the views'
dependencies: hazard, unit, sensor, facility, station, vehicle, building, road_edge, grid,
region, app_user, incident, hot_work_permit, risk_score, risk_cell). Each statement appends to
``firetwin.tile_change(id bigserial, table_name, min_x, min_y, max_x, max_y)`` the EPSG:4326
boxes of the old and new versions of the rows it changed, one box per H3 r7 cell, so a bulk
COPY of a million rows logs a few hundred boxes while a single-row edit logs one exact box. A
NULL box means "anywhere" (TRUNCATE; tables without geometry, such as vehicle for the
stations' vehicle counts). The log lives in the database, so every worker on every machine sees
every write, whichever process or tool made it (API, importer, psql).

**How a worker catches up** (:class:`ChangeFeed`). Before answering from the cache the worker
reads the log rows it has not seen on a dedicated autocommit connection (one query, two
primary-key scans: ``id > last seen`` and ``id = ANY(gaps)``) and evicts, for each changed box
and each layer whose view reads that table, the cached tiles whose envelope grown by the tile
buffer intersects the box (the tiles covering the box are enumerated per cached zoom, or the
layer's entries scanned when the box covers more tiles than are cached). Concurrent requests
share one read: a request waits for a read that *started after it arrived*, so a change
committed before a request is always seen by that request (read-your-writes, on every worker),
yet under load one read serves a whole batch of requests. ``FIRETWIN_TILES_CHANGE_POLL_MS`` > 0
trades this for at most one read per interval.

Ids are taken at INSERT time but become visible at COMMIT, so they can appear out of order: an
id below the highest one seen that is still missing is a *gap*, remembered with the ``xmax`` of
the snapshot in which it was first noticed. Its transaction was running then (or had aborted),
so once a later snapshot's ``xmin`` reaches that ``xmax`` the transaction has ended: if it
committed, the row was read; if still missing, it aborted and the gap is dropped. Because one
long transaction anywhere in the cluster holds ``xmin`` back, a second test settles gaps sooner:
a writer holds ``RowExclusiveLock`` on the log from before it takes an id until it ends, so if
no other session holds one just before a read, every gap noticed by an earlier read belongs to
a finished transaction. No change is lost to commit order, and rows are never read twice.

**Races with rendering.** A tile rendered from a snapshot older than a change that the feed
processes before the tile is stored would be stale; :meth:`TileCache.put` therefore refuses a
tile when a change processed since its render began touches it (the cache keeps a short history
of processed changes for this check).

**Housekeeping.** Each worker prunes log rows older than ``FIRETWIN_TILES_CHANGE_RETENTION_S``
about once a minute; a worker that has not read the log for half that time clears its cache
instead of trusting the log. If the log or the triggers are missing (database not migrated),
tiles are served uncached, and layers whose views read an untracked table are never cached.

**Cost.** A cached answer costs one shared log read (a few hundred microseconds, amortised over
the concurrent requests) and a dictionary lookup; see ``bench/tiles.py`` for figures.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import AsyncConnection

logger = logging.getLogger("firetwin.tiles")

__all__ = ["Certificate", "Change", "ChangeFeed", "ChangeHistory", "TileCache", "TileEntry",
           "etag_for"]

#: Bookkeeping bytes charged per cache entry on top of the tile bytes.
ENTRY_OVERHEAD = 200

Box = tuple[float, float, float, float]  # west, south, east, north (EPSG:4326)
Key = tuple[str, int, int, int, str]  # layer id, z, x, y, scope key


def etag_for(data: bytes) -> str:
    """A strong ETag of the bytes."""
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class TileEntry:
    """A cached tile and its ETag."""

    data: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class Change:
    """Rows of ``table`` changed inside ``box`` (None: anywhere); ``id`` in the change log."""

    table: str
    box: Box | None
    id: int = 0


def _tile_range(box: Box, z: int, margin: float) -> tuple[int, int, int, int]:
    """Tiles at zoom z (x0, x1, y0, y1 inclusive) whose envelope grown by margin meets box."""
    n = 1 << z
    west, south, east, north = box

    def tx(lon: float) -> float:
        return (lon + 180.0) / 360.0 * n

    def ty(lat: float) -> float:
        lat = max(min(lat, 85.0511287798066), -85.0511287798066)
        return (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n

    x0 = max(0, math.floor(tx(west) - margin))
    x1 = min(n - 1, math.floor(tx(east) + margin))
    y0 = max(0, math.floor(ty(north) - margin))
    y1 = min(n - 1, math.floor(ty(south) + margin))
    return x0, x1, y0, y1


class TileCache:
    """LRU of per-layer tiles bounded by bytes, with spatial eviction (see module docstring).

    Not thread-safe: it lives in one event loop and no method awaits.
    """

    def __init__(self, max_bytes: int, *, margin: float, history: int = 4096) -> None:
        self.max_bytes = max_bytes
        self.margin = margin  # tile buffer as a fraction of the tile width
        self.bytes = 0
        self.generation = 0  # number of changes processed so far
        self.hits = 0
        self.misses = 0
        self._lru: OrderedDict[Key, TileEntry] = OrderedDict()
        # (layer, z) -> (x, y) -> scope keys cached there: eviction without a full scan
        self._index: dict[tuple[str, int], dict[tuple[int, int], set[str]]] = {}
        self._history: deque[tuple[int, frozenset[str] | None, Box | None]] = deque(
            maxlen=history
        )

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, key: Key) -> TileEntry | None:
        entry = self._lru.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._lru.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: Key, data: bytes, *, since: int) -> TileEntry:
        """Store a tile rendered when ``generation`` was ``since``; return its entry.

        The tile is not stored if a change processed after ``since`` touches it.
        """
        entry = TileEntry(data, etag_for(data))
        size = len(data) + ENTRY_OVERHEAD
        if size > self.max_bytes or self._touched_since(key, since):
            return entry
        old = self._lru.pop(key, None)
        if old is not None:
            self.bytes -= len(old.data) + ENTRY_OVERHEAD
        self._lru[key] = entry
        self.bytes += size
        layer, z, x, y, scope_key = key
        self._index.setdefault((layer, z), {}).setdefault((x, y), set()).add(scope_key)
        while self.bytes > self.max_bytes and self._lru:
            self._drop(next(iter(self._lru)))
        return entry

    def clear(self) -> None:
        self._lru.clear()
        self._index.clear()
        self.bytes = 0
        self.generation += 1
        self._history.append((self.generation, None, None))

    def invalidate(self, layer_ids: Iterable[str] | None, box: Box | None) -> int:
        """Evict tiles of these layers (None: all) meeting ``box`` (None: anywhere)."""
        layers = None if layer_ids is None else frozenset(layer_ids)
        self.generation += 1
        self._history.append((self.generation, layers, box))
        dropped = 0
        for (layer, z), cells in list(self._index.items()):
            if layers is not None and layer not in layers:
                continue
            if box is None:
                doomed = list(cells)
            else:
                x0, x1, y0, y1 = _tile_range(box, z, self.margin)
                count = (x1 - x0 + 1) * (y1 - y0 + 1)
                if count <= len(cells):
                    doomed = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)
                              if (x, y) in cells]
                else:
                    doomed = [(x, y) for (x, y) in cells if x0 <= x <= x1 and y0 <= y <= y1]
            for x, y in doomed:
                for scope_key in list(cells.get((x, y), ())):
                    self._drop((layer, z, x, y, scope_key))
                    dropped += 1
        return dropped

    def _touched_since(self, key: Key, since: int) -> bool:
        if since == self.generation:
            return False
        if not self._history or self._history[0][0] > since + 1:
            return True  # history too short to tell: do not cache
        layer, z, x, y, _ = key
        for gen, layers, box in reversed(self._history):
            if gen <= since:
                break
            if layers is not None and layer not in layers:
                continue
            if box is None:
                return True
            x0, x1, y0, y1 = _tile_range(box, z, self.margin)
            if x0 <= x <= x1 and y0 <= y <= y1:
                return True
        return False

    def _drop(self, key: Key) -> None:
        entry = self._lru.pop(key, None)
        if entry is None:
            return
        self.bytes -= len(entry.data) + ENTRY_OVERHEAD
        layer, z, x, y, scope_key = key
        cells = self._index.get((layer, z))
        if cells is not None:
            scopes = cells.get((x, y))
            if scopes is not None:
                scopes.discard(scope_key)
                if not scopes:
                    del cells[(x, y)]
            if not cells:
                del self._index[(layer, z)]


@dataclass(frozen=True, slots=True)
class Certificate:
    """The change-log ids a feed had read: all up to ``max_seen`` except ``gaps``."""

    max_seen: int
    gaps: frozenset[int] = frozenset()

    def covers(self, change_id: int) -> bool:
        return change_id <= self.max_seen and change_id not in self.gaps


class ChangeHistory:
    """The changes one worker's feed processed, by log id, to vouch for a shared tile.

    A tile another worker rendered carries the :class:`Certificate` of that worker's feed
    when its render began: it reflects every change the certificate covers. It is current here
    if no change this worker processed *outside* the certificate touches it — provided none
    such was forgotten: the history keeps the last ``size`` changes, and ``floor`` is the
    highest id it cannot speak for (forgotten, or before this worker's feed started).
    Layers are resolved by the caller (``layers_of`` maps a table to its layer ids).
    """

    def __init__(self, *, margin: float, size: int = 8192) -> None:
        self.margin = margin
        self.floor = 0
        self._changes: deque[Change] = deque()
        self._size = size

    def record(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self._changes.append(change)
            if len(self._changes) > self._size:
                self.floor = max(self.floor, self._changes.popleft().id)

    def reset(self, floor: int) -> None:
        """Forget everything up to ``floor`` (the feed restarted or gave up on its gaps)."""
        self._changes.clear()
        self.floor = max(self.floor, floor)

    def current(self, cert: Certificate, layer: str, z: int, x: int, y: int,
                layers_of: Callable[[str], Iterable[str]]) -> bool:
        """Whether a tile of ``layer`` rendered under ``cert`` is current for this worker."""
        if min(cert.gaps, default=cert.max_seen + 1) <= self.floor:
            return False
        for change in self._changes:
            if cert.covers(change.id) or layer not in layers_of(change.table):
                continue
            if change.box is None:
                return False
            x0, x1, y0, y1 = _tile_range(change.box, z, self.margin)
            if x0 <= x <= x1 and y0 <= y <= y1:
                return False
        return True


_POLL_SQL = """
SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,
       c.id, c.table_name, c.min_x, c.min_y, c.max_x, c.max_y
FROM pg_current_snapshot() AS s
LEFT JOIN LATERAL (
    SELECT id, table_name, min_x, min_y, max_x, max_y FROM firetwin.tile_change
    WHERE id > %(after)s
    UNION ALL
    SELECT id, table_name, min_x, min_y, max_x, max_y FROM firetwin.tile_change
    WHERE id = ANY(%(gaps)s::bigint[]) AND id <= %(after)s
) AS c ON true
"""
# Writers of the log hold RowExclusiveLock on it from before they take an id until they end.
_WRITERS_SQL = """
SELECT NOT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'relation' AND relation = 'firetwin.tile_change'::regclass
      AND mode = 'RowExclusiveLock' AND pid IS DISTINCT FROM pg_backend_pid()
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
"""
_START_SQL = """
SELECT coalesce(max(id), 0) FROM firetwin.tile_change
"""
_RECENT_SQL = "SELECT id FROM firetwin.tile_change WHERE id > %s AND id <= %s"
_DEPS_SQL = "SELECT view_name::text, table_name::text FROM firetwin.layer_tables()"
_TRACKED_SQL = """
SELECT DISTINCT c.relname::text FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'firetwin' AND t.tgname = 'trg_tile_change_ins'
"""
# Names this change log among every database a shared tile store may serve (tiles.shared).
_IDENTITY_SQL = """
SELECT (SELECT system_identifier FROM pg_control_system()),
       (SELECT oid FROM pg_database WHERE datname = current_database()),
       'firetwin.tile_change'::regclass::oid
"""
_PRUNE_SQL = "DELETE FROM firetwin.tile_change WHERE changed_at < now() - make_interval(secs => %s)"
#: At start-up, ids this far below the newest are checked for transactions still in flight.
_START_WINDOW = 1000
_MAX_GAPS = 100_000
_PRUNE_EVERY_S = 60.0


class FeedUnavailable(Exception):
    """The database has no change log (not migrated to 0003): serve tiles uncached."""


class ChangeFeed:
    """Reads ``firetwin.tile_change`` and reports new changes (see module docstring).

    ``on_changes`` receives each batch of changes; ``on_reset`` is called when the feed cannot
    vouch for what it missed (a long outage), so the caller drops everything it cached.
    """

    def __init__(
        self,
        url: str,
        *,
        on_changes: Callable[[list[Change]], None],
        on_reset: Callable[[], None],
        poll_ms: float = 0.0,
        retention_s: int = 900,
    ) -> None:
        self.url = url
        self.on_changes = on_changes
        self.on_reset = on_reset
        self.poll_s = poll_ms / 1000.0
        self.retention_s = retention_s
        self.view_tables: dict[str, set[str]] = {}
        self.tracked: set[str] = set()
        self.reads = 0
        self.started_at_id = 0
        self.identity = ""
        self._conn: AsyncConnection | None = None
        self._started = False
        self._max_seen = 0
        self._polls = 0
        self._gaps: dict[int, tuple[int, int]] = {}  # id -> (snapshot xmax, poll) when noticed
        self._last_ok = 0.0
        self._last_start = -math.inf
        self._last_prune = 0.0
        self._running: asyncio.Future[None] | None = None
        self._queued: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def certificate(self) -> Certificate:
        """What the feed has read: every change id up to the highest seen except the gaps.

        A tile rendered after this call reflects every change the certificate covers; a
        reader holding it checks only the changes outside it (:class:`ChangeHistory`).
        """
        return Certificate(self._max_seen, frozenset(self._gaps))

    async def sync(self) -> None:
        """Return once every change committed before this call has been reported."""
        if self.poll_s and time.monotonic() - self._last_start < self.poll_s:
            return
        loop = asyncio.get_running_loop()
        if self._running is None:
            fut = self._new_future(loop)
            self._running = fut
            self._task = loop.create_task(self._drive(fut))
        else:
            if self._queued is None:
                self._queued = self._new_future(loop)
            fut = self._queued
        await asyncio.shield(fut)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except (TimeoutError, Exception):
                self._task.cancel()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @staticmethod
    def _new_future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = loop.create_future()
        # Mark failures as retrieved even when every waiter went away (client disconnects).
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        return fut

    async def _drive(self, fut: asyncio.Future[None]) -> None:
        while True:
            self._last_start = time.monotonic()
            try:
                await self._read()
            except Exception as e:  # reported to the waiting requests
                if not fut.done():
                    fut.set_exception(e)
            else:
                if not fut.done():
                    fut.set_result(None)
            nxt, self._queued = self._queued, None
            if nxt is None:
                self._running = None
                return
            self._running = fut = nxt

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, application_name="firetwin-tile-feed"
            )
        return self._conn

    async def _start(self, conn: AsyncConnection) -> None:
        try:
            deps = await (await conn.execute(_DEPS_SQL)).fetchall()
            tracked = await (await conn.execute(_TRACKED_SQL)).fetchall()
            newest = (await (await conn.execute(_START_SQL)).fetchone() or (0,))[0]
            snap = await (await conn.execute(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            )).fetchone()
            recent = await (await conn.execute(
                _RECENT_SQL, (max(0, newest - _START_WINDOW), newest)
            )).fetchall()
            ident = await (await conn.execute(_IDENTITY_SQL)).fetchone()
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction) as e:
            raise FeedUnavailable(str(e)) from e
        self.view_tables = {}
        for view, table in deps:
            self.view_tables.setdefault(view, set()).add(table)
        self.tracked = {r[0] for r in tracked}
        # Ids below the newest that are not visible yet may belong to running transactions.
        present = {r[0] for r in recent}
        xmax = snap[0] if snap else 0
        self._gaps = {i: (xmax, self._polls)
                      for i in range(max(1, newest - _START_WINDOW + 1), newest)
                      if i not in present}
        self.identity = ".".join(map(str, ident or ()))
        self._max_seen = newest
        self.started_at_id = newest  # changes up to here were never reported to this worker
        self._last_ok = self._last_prune = time.monotonic()
        self._started = True

    async def _read(self) -> None:
        try:
            conn = await self._connection()
            if not self._started:
                await self._start(conn)
                return
            now = time.monotonic()
            if now - self._last_ok > self.retention_s / 2:
                logger.warning("tile change log not read for %.0f s: clearing the tile cache",
                               now - self._last_ok)
                self._started = False
                await self._start(conn)
                self.on_reset()
                return
            writers_done = False
            if self._gaps:  # checked before the snapshot below is taken
                row = await (await conn.execute(_WRITERS_SQL, prepare=True)).fetchone()
                writers_done = bool(row and row[0])
            gaps = "{" + ",".join(map(str, self._gaps)) + "}"
            cur = await conn.execute(
                _POLL_SQL, {"after": self._max_seen, "gaps": gaps}, prepare=True
            )
            rows = await cur.fetchall()
        except psycopg.OperationalError:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
            raise
        self.reads += 1
        self._last_ok = time.monotonic()
        if not rows:
            return
        snap_xmin, snap_xmax = rows[0][0], rows[0][1]
        changes: list[Change] = []
        ids: list[int] = []
        for _, _, cid, table, x0, y0, x1, y1 in rows:
            if cid is None:
                continue
            ids.append(cid)
            box = None if x0 is None else (x0, y0, x1, y1)
            changes.append(Change(table, box, cid))
        self._account(ids, snap_xmin, snap_xmax, writers_done=writers_done)
        if changes:
            self.on_changes(changes)
        if self._last_ok - self._last_prune > _PRUNE_EVERY_S:
            self._last_prune = self._last_ok
            try:
                await conn.execute(_PRUNE_SQL, (self.retention_s,))
            except psycopg.Error as e:  # a read-only role cannot prune: not fatal
                logger.info("cannot prune firetwin.tile_change: %s", e)

    def _account(
        self, ids: list[int], snap_xmin: int, snap_xmax: int, *, writers_done: bool = False
    ) -> None:
        """Update the highest id seen and the gaps below it (see module docstring).

        ``writers_done``: no other transaction held a write lock on the log just before this
        read's snapshot, so every gap noticed by an earlier read belongs to a finished
        transaction and, still missing now, to an aborted one.
        """
        self._polls += 1
        for cid in ids:
            self._gaps.pop(cid, None)
        top = max(ids, default=self._max_seen)
        if top > self._max_seen:
            fresh = set(ids)
            for missing in range(self._max_seen + 1, top):
                if missing not in fresh:
                    self._gaps[missing] = (snap_xmax, self._polls)
            self._max_seen = top
        if self._gaps:
            self._gaps = {
                g: (x, seen) for g, (x, seen) in self._gaps.items()
                if snap_xmin < x and not (writers_done and seen < self._polls)
            }
        if len(self._gaps) > _MAX_GAPS:  # pathological: give up tracking, start over
            logger.warning("too many gaps in the tile change log: clearing the tile cache")
            self._gaps.clear()
            self.started_at_id = self._max_seen
            self.on_reset()
