"""MQTT ingestion end to end: real Mosquitto, real PostGIS, the real ingester.

Also the reliability test: the broker is restarted and the ingester's database connections are
terminated (``pg_terminate_backend``: the database "restarts" for the ingester without stopping
the cluster other tests share) while readings flow; every reading is stored exactly once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import psycopg
import pytest

from services.clock import FixedClock
from services.iot import broker
from services.iot.ingest import Ingester
from services.iot.messages import sign
from services.iot.simulate import Publisher
from tests.iot.conftest import SENSORS, T0, key_of

pytestmark = pytest.mark.postgis


def msg(code, i, value, *, at=None, state=None, key=None):
    m = {"sensor": code, "msg_id": f"m-{i}", "ts": (at or T0 + timedelta(seconds=i)).isoformat(),
         "value": value}
    if state:
        m["state"] = state
    return orjson.dumps(sign(m, key or key_of(code)))


def count(url, sql, *args):
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchone()[0]


async def wait_for(pred, timeout=30.0):  # noqa: ASYNC109
    """Poll a (blocking) predicate in a thread, so the ingester's event loop keeps running."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(pred):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


@pytest.fixture
async def ingester(iot_url, mqtt):
    settings, ep = mqtt
    clock = FixedClock(T0 + timedelta(hours=1))
    ing = Ingester(iot_url, ep, mqtt=settings, clock=clock, client_id="test-ingest",
                   live_flush_s=0.2, sweep_every_s=3600)
    await ing.start()
    await asyncio.wait_for(ing.connected.wait(), 10)
    await asyncio.sleep(0.2)  # subscriptions acknowledged
    yield ing
    await ing.stop(retire=True)


async def test_readings_are_stored_once_and_bad_messages_counted(ingester, iot_url, mqtt):
    _, ep = mqtt
    base = count(iot_url, "SELECT count(*) FROM firetwin.sensor_reading")
    async with Publisher(ep) as pub:
        for i in range(200):
            await pub.publish("firetwin/sensors/RCD-G1/reading",
                              msg("RCD-G1", 1000 + i, 60.0, at=T0))
        for i in range(50):  # redelivered / resent: duplicates
            await pub.publish("firetwin/sensors/RCD-G1/reading",
                              msg("RCD-G1", 1000 + i, 60.0, at=T0))
        bad = {
            "malformed": [b"not json", b'{"sensor": 1}', b"[1,2]"],
            "unknown_sensor": [msg("NOPE", 1, 1.0, key=key_of("NOPE"))],
            "bad_signature": [msg("RCD-G1", 5000, 60.0, at=T0, key=key_of("GAS-G1"))],
            "impossible_value": [msg("GAS-G1", 5001, 140.0, at=T0)],
            "bad_timestamp": [msg("GAS-G1", 5002, 1.0, at=T0 + timedelta(days=3))],
            "topic_mismatch": [msg("GAS-G1", 5003, 1.0, at=T0)],
        }
        for reason, payloads in bad.items():
            topic = ("firetwin/sensors/RCD-G1/reading" if reason == "topic_mismatch"
                     else "firetwin/sensors/X/reading" if reason == "malformed"
                     else f"firetwin/sensors/{orjson.loads(payloads[0])['sensor']}/reading")
            for p in payloads:
                await pub.publish(topic, p)
        await pub.publish("firetwin/gateways/gw1/readings", b"[" + b",".join(
            msg("GAS-G1", 6000 + i, 2.0, at=T0) for i in range(20)) + b"]")
    await wait_for(lambda: ingester.stats["messages"] >= 200 + 50 + 8 + 1)
    assert count(iot_url, "SELECT count(*) FROM firetwin.sensor_reading") - base == 220
    assert count(iot_url, "SELECT count(*) FROM firetwin.sensor_reading r JOIN firetwin.sensor s "
                 "ON s.id = r.sensor_id WHERE r.home_unit_id IS DISTINCT FROM s.home_unit_id") == 0
    s = ingester.stats
    assert s["rejected_malformed"] == 3 and s["rejected_unknown_sensor"] == 1
    assert s["rejected_bad_signature"] == 1 and s["rejected_impossible_value"] == 1
    assert s["rejected_bad_timestamp"] == 1 and s["rejected_topic_mismatch"] == 1
    assert s["duplicates"] >= 50 and s["batch_errors"] == 0
    await wait_for(lambda: count(iot_url, "SELECT count(*) FROM firetwin.sensor WHERE "
                                 "code = 'RCD-G1' AND last_value = 60.0") == 1)


async def test_gas_alarm_opens_a_hazard_escalation_joins_it(ingester, iot_url, mqtt):
    _, ep = mqtt
    sid = count(iot_url, "SELECT id FROM firetwin.sensor WHERE code = 'GAS-G1'")
    t = T0 + timedelta(minutes=10)
    async with Publisher(ep) as pub:
        for i, v in enumerate([30.0, 31.0, 32.0]):  # alarm 1 after 3 readings (debounce)
            await pub.publish("firetwin/sensors/GAS-G1/reading",
                              msg("GAS-G1", 100 + i, v, at=t + timedelta(seconds=i)))
    await wait_for(lambda: count(iot_url, "SELECT count(*) FROM firetwin.hazard "
                                 "WHERE sensor_id = %s", sid) == 1)
    h = None
    with psycopg.connect(iot_url) as c:
        h = c.execute("SELECT category, subcategory, tier, source, grid_id, unit_id, status, "
                      "ST_X(geom), ST_Y(geom) FROM firetwin.hazard WHERE sensor_id = %s",
                      (sid,)).fetchone()
    assert h[:7] == ("gas", "gas_leak", "orange", "sensor", 1, 1, "reported")
    assert (round(h[7], 4), round(h[8], 4)) == (SENSORS["GAS-G1"][1], SENSORS["GAS-G1"][2])
    assert count(iot_url, "SELECT status FROM firetwin.sensor WHERE id = %s", sid) == "alarm"
    async with Publisher(ep) as pub:
        for i, v in enumerate([60.0, 61.0, 62.0]):  # alarm 2: joins the open hazard
            await pub.publish("firetwin/sensors/GAS-G1/reading",
                              msg("GAS-G1", 200 + i, v, at=t + timedelta(seconds=10 + i)))
    await wait_for(lambda: count(iot_url, "SELECT count(*) FROM firetwin.sensor_alarm "
                                 "WHERE sensor_id = %s AND event = 'escalated'", sid) == 1)
    assert count(iot_url, "SELECT count(*) FROM firetwin.hazard WHERE sensor_id = %s", sid) == 1
    assert count(iot_url, "SELECT bool_and(hazard_joined) FROM firetwin.sensor_alarm "
                 "WHERE sensor_id = %s AND event = 'escalated'", sid)
    # redelivering the same messages changes nothing
    async with Publisher(ep) as pub:
        await pub.publish("firetwin/sensors/GAS-G1/reading",
                          msg("GAS-G1", 202, 62.0, at=t + timedelta(seconds=12)))
    await asyncio.sleep(0.5)
    assert count(iot_url, "SELECT count(*) FROM firetwin.sensor_alarm WHERE sensor_id = %s",
                 sid) == 2


async def test_broker_restart_and_database_loss_lose_nothing_duplicate_nothing(
        iot_url, mqtt):
    settings, ep = mqtt
    n = 20_000
    clock = FixedClock(T0 + timedelta(hours=1))
    ing = Ingester(iot_url, ep, mqtt=settings, clock=clock, client_id="test-restart")
    await ing.start()
    await asyncio.wait_for(ing.connected.wait(), 10)
    await asyncio.sleep(0.2)
    with psycopg.connect(iot_url) as c:
        c.execute("DELETE FROM firetwin.sensor_reading WHERE sensor_id = "
                  "(SELECT id FROM firetwin.sensor WHERE code = 'CBT-G1')")
    payloads = [msg("CBT-G1", 100_000 + i, 30.0 + (i % 7), at=T0) for i in range(n)]

    async def publish_all():
        async with Publisher(ep, client_id="test-restart-pub", max_outstanding=2000) as pub:
            for p in payloads:
                await pub.publish("firetwin/sensors/CBT-G1/reading", p)
            await pub.drain(timeout_s=180)

    stored = lambda: count(iot_url, "SELECT count(*) FROM firetwin.sensor_reading r JOIN "  # noqa: E731
                           "firetwin.sensor s ON s.id = r.sensor_id WHERE s.code = 'CBT-G1'")
    pub_task = asyncio.create_task(publish_all())
    try:
        await wait_for(lambda: stored() > n // 5, timeout=120)
        # 1. the ingester's database connections die mid-stream (DB restart as seen by it)
        with psycopg.connect(iot_url, autocommit=True) as c:
            killed = c.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert killed >= 1
        await wait_for(lambda: stored() > n // 2, timeout=120)
        # 2. the broker is restarted (clean stop: it saves its persistence file)
        assert await asyncio.to_thread(broker.stop, settings)
        await asyncio.sleep(1.0)
        ep2 = await asyncio.to_thread(broker.ensure_running, settings)
        assert ep2.port == ep.port
        await asyncio.wait_for(pub_task, 240)
        await wait_for(lambda: stored() >= n, timeout=180)
        await asyncio.sleep(2.0)  # anything redelivered late must not add rows
    finally:
        pub_task.cancel()
        await ing.stop(retire=True)
    assert await asyncio.to_thread(stored) == n
    assert count(iot_url, "SELECT count(DISTINCT message_id) FROM firetwin.sensor_reading r "
                 "JOIN firetwin.sensor s ON s.id = r.sensor_id WHERE s.code = 'CBT-G1'") == n
    assert ing.stats["db_retries"] + ing.stats["db_connects"] >= 2
    assert ing.stats["mqtt_connects"] >= 2


async def test_silent_sensors_go_offline_and_come_back(ingester, iot_url, mqtt):
    _, ep = mqtt
    with psycopg.connect(iot_url) as c:
        c.execute("UPDATE firetwin.sensor SET last_seen_at = %s, status = 'online' "
                  "WHERE code = 'HYP-G3'", (T0 - timedelta(hours=2),))
    async with await psycopg.AsyncConnection.connect(iot_url) as conn:
        for _ in range(20):  # the ingester's own sweep may hold the sweeper lock a moment
            if await ingester.sweep(conn):
                break
            await asyncio.sleep(0.1)
    assert count(iot_url, "SELECT status FROM firetwin.sensor WHERE code = 'HYP-G3'") == "offline"
    async with Publisher(ep) as pub:
        await pub.publish("firetwin/sensors/HYP-G3/reading", msg("HYP-G3", 1, 0.3))
    await wait_for(lambda: count(iot_url, "SELECT status FROM firetwin.sensor "
                                 "WHERE code = 'HYP-G3'") == "online")
    assert count(iot_url, "SELECT array_agg(event ORDER BY a.id)::text FROM firetwin.sensor_alarm "
                 "a JOIN firetwin.sensor s ON s.id = a.sensor_id WHERE s.code = 'HYP-G3'") == \
        "{offline,online}"
