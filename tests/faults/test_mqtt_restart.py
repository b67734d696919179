"""The broker restarts and PostgreSQL restarts while sensors publish: ingestion resumes by itself.

Everything is a real process: FireTwin's own Mosquitto (``mqtt``), the private PostgreSQL cluster
(``pg``), and ``firetwin ingest`` as its own process, as production runs it. A publisher sends
signed readings with QoS 1.

1. One ingester with a plain subscription (``FIRETWIN_MQTT_SHARE_GROUP=""``), publishing at a
   steady pace throughout: mid-run the broker is stopped for two seconds (the publisher keeps
   publishing: gmqtt holds the unacknowledged messages and sends them again once it is back)
   and started again; later the PostgreSQL cluster is stopped for two seconds (the ingester
   keeps the batch, does not acknowledge it, and retries). Held: every reading is stored
   exactly once (count and distinct message ids), the ingester never exits, it reconnected to
   both.
2. The default shared subscription: Mosquitto 2.0 does not restore a session's shared
   subscriptions after a restart (its plain ones it does), so readings published while no
   ingester has subscribed again are lost at the broker; the ingester now subscribes again on
   every reconnect (before this test it received nothing more after a broker restart). Held:
   the readings published before the restart, and all those published once the ingester is
   back, are stored exactly once.

(``tests/iot/test_ingest.py`` covers a restart with the ingester in the test's event loop and
the database "restarted" by terminating its sessions; here both restarts are real.)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from services.iot import broker
from services.iot.messages import sign
from services.iot.simulate import Publisher
from tests.iot.conftest import key_of

pytestmark = pytest.mark.postgis

N = 6_000
RATE = 400  # readings/s: 15 s of publishing
SENSOR = "RCD-G1"
FIRETWIN = str(Path(sys.executable).parent / "firetwin")


def stored(pg) -> tuple[int, int]:
    return pg.rows(
        "SELECT count(*), count(DISTINCT message_id) FROM firetwin.sensor_reading r "
        "JOIN firetwin.sensor s ON s.id = r.sensor_id "
        "WHERE s.code = %s AND message_id LIKE 'mq-h9-%%'", SENSOR)[0]  # not the warm-up


async def wait_for(pred, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(pred):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def restarts(settings, ep, pg) -> None:
    """Broker down 2 s at a quarter of the run, the database down 2 s past the half."""
    run_s = N / RATE
    await asyncio.sleep(run_s / 4)
    assert await asyncio.to_thread(broker.stop, settings)
    await asyncio.sleep(2.0)
    assert (await asyncio.to_thread(broker.ensure_running, settings)).port == ep.port
    await asyncio.sleep(run_s * 5 / 8 - run_s / 4 - 2.0)
    await asyncio.to_thread(pg.stop)
    await asyncio.sleep(2.0)
    await asyncio.to_thread(pg.start)


@contextmanager
def ingester_process(pg, ep, tmp_path, **env: str) -> Iterator[Callable[[], dict]]:
    """``firetwin ingest`` in its own process; yields a function returning its last counters."""
    path = tmp_path / "ingest.log"
    with path.open("w") as log:
        proc = subprocess.Popen(
            [FIRETWIN, "ingest", "--client-id", "faults-h9-ingest", "--retire"],
            env=dict(os.environ, FIRETWIN_DATABASE_URL=pg.url, FIRETWIN_MQTT_URL=ep.url,
                     PYTHONUNBUFFERED="1", COLUMNS="500", **env),
            stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def last_counters(tmp_path) -> dict:
    """The ingester's last counters line (printed every 10 s and when it stops)."""
    out = (tmp_path / "ingest.log").read_text()
    return orjson.loads([line for line in out.splitlines() if line.startswith("{")][-1])


async def warm_up(pub: Publisher, pg, proc, key: bytes, t0: datetime) -> None:
    """Send one reading (the same message id) until it is stored: the ingester subscribed.

    Readings sent before an ingester's first subscription are queued for no one.
    """
    mid = f"mq-h9w-{secrets.token_hex(4)}"
    warmup = orjson.dumps(sign({"sensor": SENSOR, "msg_id": mid, "ts": t0.isoformat(),
                                "value": 20.0}, key))
    deadline = time.monotonic() + 45
    while pg.rows("SELECT count(*) FROM firetwin.sensor_reading WHERE message_id = %s",
                  mid)[0][0] == 0:
        assert proc.poll() is None and time.monotonic() < deadline
        await pub.publish(f"firetwin/sensors/{SENSOR}/reading", warmup)
        await asyncio.sleep(0.5)


def payloads(key: bytes, t0: datetime, first: int, n: int) -> list[bytes]:
    return [orjson.dumps(sign({"sensor": SENSOR, "msg_id": f"mq-h9-{i:06d}",
                               "ts": (t0 + timedelta(milliseconds=100 * i)).isoformat(),
                               "value": 20.0 + i % 40}, key)) for i in range(first, first + n)]


async def publish_paced(pub: Publisher, batch: list[bytes], rate: float) -> None:
    start = time.monotonic()
    for i, p in enumerate(batch):
        await pub.publish(f"firetwin/sensors/{SENSOR}/reading", p)
        ahead = (i + 1) / rate - (time.monotonic() - start)
        if ahead > 0:
            await asyncio.sleep(ahead)


async def test_one_ingester_loses_nothing_over_broker_and_database_restarts(
        pg, mqtt, tmp_path):
    """A plain subscription (share group ""), publishing on through both restarts: all N."""
    settings, ep = mqtt
    key = key_of(SENSOR)
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    with ingester_process(pg, ep, tmp_path, FIRETWIN_MQTT_SHARE_GROUP="") as proc:
        async with Publisher(ep, client_id="faults-h9-pub", max_outstanding=2_000) as pub:
            await warm_up(pub, pg, proc, key, t0)
            faults = asyncio.create_task(restarts(settings, ep, pg))
            await publish_paced(pub, payloads(key, t0, 0, N), RATE)
            await faults
            await pub.drain(timeout_s=60)
        await wait_for(lambda: stored(pg)[0] >= N, 40, f"{N} readings stored")
        await asyncio.sleep(2.0)  # a late redelivery must not add a row
        assert stored(pg) == (N, N)
        assert proc.poll() is None, "the ingester exited"
    last = last_counters(tmp_path)
    print(f"\ningester: {last}")
    assert last["mqtt_connects"] >= 2
    assert last["db_connects"] + last["db_retries"] >= 2
    assert last.get("batch_errors", 0) == 0


async def test_shared_ingesters_resume_after_a_broker_restart(pg, mqtt, tmp_path):
    """The default shared subscription: what was published before the restart, and everything
    published once the ingester is back, is stored once; ingestion resumes by itself."""
    settings, ep = mqtt
    key = key_of(SENSOR)
    t0 = datetime.now(UTC) - timedelta(minutes=20)
    base = stored(pg)[0]
    with ingester_process(pg, ep, tmp_path) as proc:
        async with Publisher(ep, client_id="faults-h9-pub2", max_outstanding=2_000) as pub:
            await warm_up(pub, pg, proc, key, t0)
            await publish_paced(pub, payloads(key, t0, N, 2_000), 2 * RATE)
            await pub.drain(timeout_s=30)
            assert await asyncio.to_thread(broker.stop, settings)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(broker.ensure_running, settings)
            await asyncio.sleep(3.0)  # the ingester is back and has subscribed again
            await publish_paced(pub, payloads(key, t0, N + 2_000, 2_000), 2 * RATE)
            await pub.drain(timeout_s=30)
        await wait_for(lambda: stored(pg)[0] >= base + 4_000, 30, "4,000 more readings")
        await asyncio.sleep(1.0)
        assert stored(pg) == (base + 4_000, base + 4_000)
        assert proc.poll() is None, "the ingester exited"
    assert last_counters(tmp_path)["mqtt_connects"] >= 2
