"""A slow database: statements past the statement timeout, and every pooled connection busy.

"Slow" is made real, not mocked: another session holds ``LOCK TABLE firetwin.hazard IN ACCESS
EXCLUSIVE MODE``, so every statement touching hazards waits on it, as behind a long migration
or a stuck batch job. The app runs with a 300 ms statement timeout
(``FIRETWIN_STATEMENT_TIMEOUT_MS``), which the REST pool, the tile pool and the OGC API
(pygeoapi's engine) all carry.

Held: REST, tiles and OGC answer 503 with a message naming the cause and ``Retry-After``
within about a second, never 500 and never a hang; a report cancelled by the timeout stores
nothing (not even its idempotency key: the same key succeeds afterwards); with every pooled
connection taken by slow requests, the next request gets 503 after the pool timeout; once the
lock goes, everything answers 2xx again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import psycopg
import pytest

from gis.settings import DatabaseSettings
from services.main import create_app
from services.settings import APISettings
from tests.conftest import app_client, fresh_sibling_database
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis

REPORT = {"lon": sd.IN_G1_OPEN[0], "lat": sd.IN_G1_OPEN[1], "category": "ebike",
          "subcategory": "ebike_corridor_parking", "title": "slow-db report"}
TILE = "/tiles/hazards/14/13676/6757.mvt"
OGC = "/ogc/collections/hazards/items?f=json&limit=5"


@pytest.fixture(scope="module")
def slow_url(db_url: str) -> str:
    url = fresh_sibling_database(db_url, "_h9")
    sd.build(url)
    return url


@asynccontextmanager
async def api(url: str, tmp_path, **db: object) -> AsyncIterator:
    settings = DatabaseSettings(**db)
    app = create_app(APISettings(media_dir=tmp_path, escalation_sweep=False), settings,
                     database_url_override=url)
    async with app_client(app) as c:
        c.as_ = lambda who: sd.token(app.state.secret_key, who)  # type: ignore[attr-defined]
        yield c


@contextmanager
def hazards_locked(url: str) -> Iterator[None]:
    with psycopg.connect(url) as c:
        c.execute("LOCK TABLE firetwin.hazard IN ACCESS EXCLUSIVE MODE")
        yield
        c.rollback()


def count(url: str, query: str, *args: object) -> int:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchone()[0]


async def timed(coro):
    t0 = time.monotonic()
    r = await coro
    return r, time.monotonic() - t0


async def test_statement_timeout_answers_503_with_the_reason_and_stores_nothing(
        slow_url, tmp_path):
    async with api(slow_url, tmp_path, statement_timeout_ms=300) as c:
        admin = c.as_("admin")
        worker = c.as_("grid_worker") | {"Idempotency-Key": "slow-1"}
        before = count(slow_url, "SELECT count(*) FROM firetwin.hazard")
        keys = count(slow_url, "SELECT count(*) FROM firetwin.idempotency_key")
        with hazards_locked(slow_url):
            answers = {
                "list": await timed(c.get("/api/hazards", headers=admin)),
                "report": await timed(c.post("/api/hazards", json=REPORT, headers=worker)),
                "tile": await timed(c.get(TILE, headers=admin)),
                "ogc": await timed(c.get(OGC, headers=admin)),
            }
        for name, (r, seconds) in answers.items():
            assert r.status_code == 503, (name, r.status_code, r.text)
            assert r.headers["retry-after"] == "5", name
            assert seconds < 3, (name, seconds)
            body = r.json()
            text = body.get("detail") or body.get("description")
            assert "too slow" in text or "statement timeout (0.3 s)" in text, (name, text)
        assert count(slow_url, "SELECT count(*) FROM firetwin.hazard") == before
        assert count(slow_url, "SELECT count(*) FROM firetwin.idempotency_key") == keys
        # The lock is gone: the same request (same key) is stored once, reads answer again.
        r = await c.post("/api/hazards", json=REPORT, headers=worker)
        assert r.status_code == 201, r.text
        assert (await c.get("/api/hazards", headers=admin)).status_code == 200
        assert (await c.get(TILE, headers=admin)).status_code in (200, 204)
        assert (await c.get(OGC, headers=admin)).status_code == 200
        assert count(slow_url, "SELECT count(*) FROM firetwin.hazard") == before + 1


async def test_all_connections_busy_answers_503_after_the_pool_timeout(slow_url, tmp_path):
    async with api(slow_url, tmp_path, statement_timeout_ms=20_000, pool_min_size=2,
                   pool_max_size=2, pool_timeout_s=0.5) as c:
        admin = c.as_("admin")
        assert (await c.get("/api/hazards", headers=admin)).status_code == 200
        with hazards_locked(slow_url):
            slow = [asyncio.create_task(c.get("/api/hazards", headers=admin)) for _ in range(2)]
            await asyncio.sleep(0.5)  # both pooled connections now wait on the lock
            r, seconds = await timed(c.get("/api/units/1", headers=admin))
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5"
            assert "retry" in r.json()["detail"]
            assert seconds < 2
            assert not any(t.done() for t in slow)
        # The lock is released: the slow requests finish, new ones are served again.
        assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
        assert (await c.get("/api/units/1", headers=admin)).status_code == 200
