"""PostgreSQL restarts under a live API: 503 while it is down, recovery by itself, no lost write.

A real ``uvicorn services.main:app`` process serves the private cluster of ``pg``. Writers report
hazards (each with its own ``Idempotency-Key``) and post gateway batches of signed readings
without pause; a prober reads hazards, a tile, OGC items, routing and /health. Mid-run the
cluster is stopped (``pg_ctl -m fast``: sessions cut, open transactions rolled back), kept down
for a few seconds, and started again. The writers behave like a well-made client: on 503 they
send the same request again (same key, same message ids); a 409 "already received" means an
earlier attempt was stored although its answer was lost.

Held: every answer during the outage is a 503 with a JSON ``detail`` and ``Retry-After``, none
is a 500, none takes longer than the pool timeout plus a margin; the API answers 2xx again soon
after the database is back, with no restart of its own; every write answered 2xx (or 409
already-received) is in the database exactly once, and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from services.iot.messages import sign
from tests.conftest import live_server_process
from tests.faults.conftest import SECRET
from tests.iot.conftest import key_of
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis

OUTAGE_S = 6.0
POOL_TIMEOUT_S = 3.0
HAZARD_WRITERS = 3
READING_BATCH = 25
PROBES = [
    "/health",
    "/api/hazards?limit=20",
    "/tiles/hazards/14/13676/6757.mvt",
    "/ogc/collections/hazards/items?f=json&limit=20",
    "/api/routing/nearest-stations?lon=120.52&lat=30.05&k=2",
]


@dataclass
class Log:
    """Every answer: (sent at, seconds, method path, status, has JSON detail, Retry-After)."""

    rows: list[tuple[float, float, str, int, bool, str | None]] = field(default_factory=list)
    acked_hazards: dict[str, int | None] = field(default_factory=dict)
    acked_readings: set[str] = field(default_factory=set)

    async def send(self, client: httpx.AsyncClient, method: str, path: str,
                   **kw) -> httpx.Response:
        t0 = time.monotonic()
        r = await client.request(method, path, **kw)
        detail = False
        if r.headers.get("content-type", "").startswith("application/json"):
            try:
                body = r.json()
                detail = bool(body.get("detail") or body.get("description"))
            except ValueError:
                pass
        self.rows.append((t0, time.monotonic() - t0, f"{method} {path.split('?')[0]}",
                          r.status_code, detail, r.headers.get("retry-after")))
        return r


async def hazard_writer(c: httpx.AsyncClient, log: Log, w: int, stop: asyncio.Event) -> None:
    headers = sd.token(SECRET, "grid_worker")
    for i in range(10_000):
        if stop.is_set():
            return
        key = f"h9-w{w}-{i:05d}"
        body = {"lon": sd.IN_G1_OPEN[0] + 0.00001 * (i % 90), "lat": sd.IN_G1_OPEN[1],
                "category": "ebike", "subcategory": "ebike_corridor_parking",
                "title": f"fault {key}"}
        while True:  # the same request until it is acknowledged
            r = await log.send(c, "POST", "/api/hazards", json=body,
                               headers={**headers, "Idempotency-Key": key})
            if r.status_code == 201:
                log.acked_hazards[key] = r.json()["id"]
                break
            if r.status_code == 409 and "already received" in r.text:
                log.acked_hazards[key] = None  # stored by an attempt whose answer was lost
                break
            assert r.status_code == 503, r.text
            await asyncio.sleep(0.2)  # Retry-After says 5 s; the test is impatient


async def reading_writer(c: httpx.AsyncClient, log: Log, stop: asyncio.Event) -> None:
    key = key_of("CBT-G1")
    for b in range(10_000):
        if stop.is_set():
            return
        now = datetime.now(UTC)
        batch = [sign({"sensor": "CBT-G1", "msg_id": f"h9-{b}-{j}",
                       "ts": (now - timedelta(seconds=READING_BATCH - j)).isoformat(),
                       "value": 30.0 + j % 5}, key) for j in range(READING_BATCH)]
        content = orjson.dumps(batch)
        while True:
            r = await log.send(c, "POST", "/api/sensors/readings", content=content,
                               headers={"Content-Type": "application/json"})
            if r.status_code == 200:
                log.acked_readings.update(m["msg_id"] for m in batch)
                break
            assert r.status_code == 503, r.text
            await asyncio.sleep(0.2)


async def prober(c: httpx.AsyncClient, log: Log, path: str, stop: asyncio.Event) -> None:
    headers = sd.token(SECRET, "admin")
    while not stop.is_set():
        await log.send(c, "GET", path, headers=headers)
        await asyncio.sleep(0.1)


async def test_api_answers_503_while_postgres_restarts_and_loses_no_acknowledged_write(
        pg, tmp_path):
    env = {"FIRETWIN_MEDIA_DIR": str(tmp_path), "FIRETWIN_POOL_TIMEOUT_S": str(POOL_TIMEOUT_S),
           "FIRETWIN_ESCALATION_SWEEP": "1"}
    with live_server_process(pg.url, SECRET, env=env) as base:
        log = Log()
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            tasks = [asyncio.create_task(hazard_writer(c, log, w, stop))
                     for w in range(HAZARD_WRITERS)]
            tasks += [asyncio.create_task(reading_writer(c, log, stop))]
            tasks += [asyncio.create_task(prober(c, log, p, stop)) for p in PROBES]
            await asyncio.sleep(3.0)
            acked_before = len(log.acked_hazards)
            down_at = time.monotonic()
            await asyncio.to_thread(pg.stop)
            stopped_at = time.monotonic()
            await asyncio.sleep(OUTAGE_S)
            restart_at = time.monotonic()
            await asyncio.to_thread(pg.start)
            up_at = time.monotonic()
            while not any(t0 > up_at and s == 201 for t0, _, p, s, _, _ in log.rows
                          if p == "POST /api/hazards"):
                assert time.monotonic() - up_at < 30, "no write succeeded 30 s after the restart"
                assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
                await asyncio.sleep(0.1)
            recovered_s = time.monotonic() - up_at
            await asyncio.sleep(3.0)
            stop.set()
            await asyncio.gather(*tasks)

    statuses = Counter((p, s) for _, _, p, s, _, _ in log.rows)
    print(f"\nstatuses: {dict(statuses)}\nhazards acknowledged: {len(log.acked_hazards)} "
          f"({acked_before} before the stop); readings: {len(log.acked_readings)}; "
          f"stop took {stopped_at - down_at:.1f} s, first 2xx write {recovered_s:.2f} s after "
          f"the cluster was up")

    # No 500 and no hang, ever.
    assert not [r for r in log.rows if r[3] >= 500 and r[3] != 503], statuses
    assert max(r[1] for r in log.rows) < POOL_TIMEOUT_S + 5
    # While the cluster is down every answer is a 503 with a JSON detail and Retry-After.
    outage = [r for r in log.rows if stopped_at + 0.5 < r[0] and r[0] + r[1] < restart_at]
    assert {r[2] for r in outage} >= {"POST /api/hazards", "POST /api/sensors/readings",
                                      *(f"GET {p.split('?')[0]}" for p in PROBES)}
    assert all(r[3] == 503 and r[4] and r[5] for r in outage), \
        Counter((r[2], r[3], r[4], r[5]) for r in outage)
    # Recovery by itself: every probe answers as it did before the stop (routing: 422, the
    # small district's stations are off its one road; tiles: 204, empty).
    before = {(r[2], r[3]) for r in log.rows if r[0] + r[1] < down_at}
    after = {(r[2], r[3]) for r in log.rows if r[0] > up_at + recovered_s + 1}
    assert before == after, (before, after)
    assert acked_before > 0 and len(log.acked_hazards) > acked_before

    # No acknowledged write lost, nothing stored twice.
    rows = dict(pg.rows("SELECT title, count(*) FROM firetwin.hazard "
                        "WHERE title LIKE 'fault h9-%%' GROUP BY title"))
    assert {f"fault {k}" for k in log.acked_hazards} <= set(rows)
    assert set(rows.values()) == {1}
    stored = dict(pg.rows("SELECT title, id FROM firetwin.hazard WHERE title LIKE 'fault h9-%%'"))
    assert all(stored[f"fault {k}"] == hid for k, hid in log.acked_hazards.items() if hid)
    msgs = dict(pg.rows("SELECT message_id, count(*) FROM firetwin.sensor_reading "
                        "WHERE message_id LIKE 'h9-%%' GROUP BY message_id"))
    assert log.acked_readings <= set(msgs)
    assert set(msgs.values()) == {1}
