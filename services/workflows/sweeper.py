"""The escalation sweep as a background task of the API (one worker at a time).

Every ``HazardSettings.sweep_interval_s`` a worker takes a PostgreSQL advisory lock, runs
``escalate_overdue`` with the application clock on ``HazardSettings.sweep_connections``
connections and releases the lock; other workers skip that round. ``firetwin hazards
escalate`` runs the same sweep from the command line.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from psycopg_pool import AsyncConnectionPool

from services.clock import Clock
from services.workflows.hazard_rules import HazardSettings
from services.workflows.hazards import SweepResult, escalate_overdue

logger = logging.getLogger("firetwin.sweeper")
LOCK_KEY = 0x46545357  # "FTSW"


async def sweep_once(pool: AsyncConnectionPool, clock: Clock,
                     settings: HazardSettings) -> SweepResult | None:
    """One sweep under the advisory lock; None when another worker holds it.

    The lock's connection sweeps too; ``settings.sweep_connections - 1`` more connections from
    the pool each take their own share of the overdue hazards.
    """
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
            if not (await cur.fetchone())[0]:
                return None
            try:
                async with AsyncExitStack() as stack:
                    conns = [conn]
                    for _ in range(settings.sweep_connections - 1):
                        conns.append(await stack.enter_async_context(pool.connection()))
                    return await escalate_overdue(conns, now=clock.now(), settings=settings)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        finally:
            await conn.set_autocommit(False)


async def run_forever(pool: AsyncConnectionPool, clock: Clock, settings: HazardSettings) -> None:
    while True:
        await asyncio.sleep(settings.sweep_interval_s)
        try:
            r = await sweep_once(pool, clock, settings)
            if r is not None and r.escalated:
                logger.info("escalated %d overdue hazards (%s)", r.escalated, r.by_tier)
        except Exception:  # keep sweeping after a database restart
            logger.warning("escalation sweep failed; retrying next round", exc_info=True)
