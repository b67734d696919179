"""Fan-out of live alarms in one API worker: LISTEN firetwin_alarm → subscribers in scope.

Every API worker runs one :class:`AlarmHub`. It holds a dedicated connection that LISTENs on
``firetwin_alarm``; any ingester (or the HTTP batch endpoint) notifies the alarm id at commit, so
every worker learns of every alarm whichever process raised it. For each id the hub builds the
message once (``alarms.alarm_message``: sensor, hazard, nearest stations, hot work nearby) on a
pooled connection and puts it on the queue of each subscriber whose scope allows the alarm's
grid and unit. A lost LISTEN connection is re-opened; alarms raised meanwhile are replayed from
``sensor_alarm`` (ids after the last one seen), so no subscriber misses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from layers.scope import Scope
from services.iot.alarms import CHANNEL, alarm_message

logger = logging.getLogger("firetwin.iot")


@dataclass(eq=False)
class Subscriber:
    """One live stream: its scope and the queue of messages waiting to be sent."""

    scope: Scope
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(1000))
    dropped: int = 0


class AlarmHub:
    """LISTEN/NOTIFY → per-subscriber queues, filtered by scope (see the module docstring)."""

    def __init__(self, url: str, pool: AsyncConnectionPool, road_graph) -> None:
        self.url = url
        self.pool = pool
        self.road_graph = road_graph
        self.subscribers: set[Subscriber] = set()
        self.last_id: int | None = None
        self.listening = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sem = asyncio.Semaphore(8)
        self._pending: set[asyncio.Task] = set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="alarm-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for t in list(self._pending):
            t.cancel()

    def subscribe(self, scope: Scope) -> Subscriber:
        self.start()
        s = Subscriber(scope)
        self.subscribers.add(s)
        return s

    def unsubscribe(self, s: Subscriber) -> None:
        self.subscribers.discard(s)

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True, connect_timeout=5) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.last_id is None:
                        cur = await conn.execute(
                            "SELECT coalesce(max(id), 0) FROM firetwin.sensor_alarm")
                        self.last_id = (await cur.fetchone())[0]
                    else:  # re-opened: replay what was raised while we were away
                        cur = await conn.execute(
                            "SELECT id FROM firetwin.sensor_alarm WHERE id > %s ORDER BY id",
                            (self.last_id,))
                        for (aid,) in await cur.fetchall():
                            self._dispatch(aid)
                    self.listening.set()
                    delay = 0.2
                    async for n in conn.notifies():
                        try:
                            self._dispatch(int(n.payload))
                        except ValueError:
                            continue
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.listening.clear()
                logger.warning("alarm LISTEN lost (%s): reconnecting in %.1f s", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _dispatch(self, alarm_id: int) -> None:
        if self.last_id is None or alarm_id > self.last_id:
            self.last_id = alarm_id
        if not self.subscribers:
            return
        t = asyncio.create_task(self._fan_out(alarm_id, time.monotonic()))
        self._pending.add(t)
        t.add_done_callback(self._pending.discard)

    async def _fan_out(self, alarm_id: int, t0: float) -> None:
        async with self._sem:
            try:
                async with self.pool.connection(timeout=10) as conn:
                    msg = await alarm_message(conn, alarm_id, road_graph=self.road_graph)
            except Exception:
                logger.exception("alarm %s: message not built", alarm_id)
                return
        if msg is None:
            return
        msg["push_delay_ms"] = round((time.monotonic() - t0) * 1000, 1)
        for s in list(self.subscribers):
            if s.scope.allows(grid_id=msg["grid_id"], unit_id=msg["unit_id"]):
                try:
                    s.queue.put_nowait(msg)
                except asyncio.QueueFull:
                    s.dropped += 1
