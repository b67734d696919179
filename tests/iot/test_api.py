"""Sensors over HTTP: gateway batches (all or nothing), readings history, live alarms (SSE)."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import httpx
import psycopg
import pytest

from services.clock import FixedClock
from services.iot.messages import sign
from services.main import create_app
from services.settings import APISettings
from tests.conftest import app_client, live_server_process
from tests.iot.conftest import T0, key_of
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis

NOW = T0 + timedelta(hours=1)


def reading(code, i, value, *, at=None, state=None, key=None):
    m = {"sensor": code, "msg_id": f"h-{i}", "ts": (at or T0 + timedelta(seconds=i)).isoformat(),
         "value": value}
    if state:
        m["state"] = state
    return sign(m, key or key_of(code))


@pytest.fixture
async def api(iot_url, tmp_path):
    app = create_app(APISettings(media_dir=tmp_path, escalation_sweep=False),
                     database_url_override=iot_url)
    app.state.clock = FixedClock(NOW)
    async with app_client(app) as c:
        c.as_ = lambda who: sd.token(app.state.secret_key, who)  # type: ignore[attr-defined]
        yield c


def _count(url, sql, *args):
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchone()[0]


async def test_gateway_batch_is_stored_once_and_bad_batches_are_refused(api, iot_url):
    body = [reading("RCD-G1", i, 50.0 + i) for i in range(100)]
    r = await api.post("/api/sensors/readings", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 100
    r = await api.post("/api/sensors/readings", json=body[:10])  # resent: duplicates
    assert r.json() == {"accepted": 0, "duplicates": 10, "alarms": []}
    before = _count(iot_url, "SELECT count(*) FROM firetwin.sensor_reading")
    bad = [reading("RCD-G1", 500, 1.0), reading("RCD-G1", 501, 1.0, key=key_of("x")),
           reading("NOPE", 502, 1.0), reading("GAS-G1", 503, 101.0), {"sensor": "GAS-G1"}]
    r = await api.post("/api/sensors/readings", json=bad)
    assert r.status_code == 422
    d = r.json()["detail"]
    for what in ("#1 bad_signature", "#2 unknown_sensor", "#3 impossible_value", "#4 malformed"):
        assert what in d
    assert _count(iot_url, "SELECT count(*) FROM firetwin.sensor_reading") == before
    assert (await api.post("/api/sensors/readings", json=[])).status_code == 400
    assert (await api.post("/api/sensors/readings", content=b"{")).status_code == 422


async def test_readings_history_buckets_and_scope(api):
    body = [reading("CBT-G1", 10_000 + i, 40.0 + (i % 10), at=T0 + timedelta(seconds=30 * i))
            for i in range(40)]  # 20 minutes, every 30 s
    assert (await api.post("/api/sensors/readings", json=body)).status_code == 200
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(minutes=20)).isoformat(), "bucket": "5m"}
    r = await api.get("/api/sensors/6/readings", params=q, headers=api.as_("grid_worker"))
    assert r.status_code == 200, r.text
    buckets = r.json()["buckets"]
    assert [b["n"] for b in buckets] == [10, 10, 10, 10]
    assert buckets[0]["min"] == 40.0 and buckets[0]["max"] == 49.0
    raw = await api.get("/api/sensors/6/readings",
                        params={k: v for k, v in q.items() if k != "bucket"},
                        headers=api.as_("admin"))
    assert len(raw.json()["readings"]) == 40
    assert (await api.get("/api/sensors/6/readings", params=q)).status_code == 401
    assert (await api.get("/api/sensors/6/readings", params=q,
                          headers=api.as_("grid_worker_g2"))).status_code == 404
    assert (await api.get("/api/sensors/6/readings", params=q | {"bucket": "5x"},
                          headers=api.as_("admin"))).status_code == 400
    live = (await api.get("/api/sensors/6", headers=api.as_("unit_manager"))).json()
    assert live["last_value"] is not None and live["status"] in ("online", "alarm")


def _listen(base, headers, got, ready, stop):
    with httpx.stream("GET", f"{base}/api/live/alarms", headers=headers, timeout=60) as r:
        got.append(("status", r.status_code))
        if r.status_code != 200:
            ready.set()
            return
        ready.set()
        for line in r.iter_lines():
            if line.startswith("data: "):
                got.append(("alarm", json.loads(line[6:])))
            if stop.is_set():
                return


async def test_live_alarms_reach_signed_in_callers_in_scope(iot_url):
    secret = "test-secret-key-for-live-alarms-0123456789"  # noqa: S105
    with live_server_process(iot_url, secret,
                             env={"FIRETWIN_CLOCK_AT": NOW.isoformat()}) as base:
        streams = {}
        for who in ("grid_worker", "grid_worker_g2", "dispatcher", "public"):
            got, ready, stop = [], threading.Event(), threading.Event()
            t = threading.Thread(target=_listen, args=(base, sd.token(secret, who), got, ready,
                                                       stop), daemon=True)
            t.start()
            assert ready.wait(30)
            streams[who] = (got, stop)
        await asyncio.sleep(1.0)  # LISTEN established
        t = NOW - timedelta(seconds=30)
        body = [reading("SMK-G2", 20_000, 0.1, at=t, state="alarm"),
                reading("GAS-G1", 20_001, 55.0, at=t, state="alarm")]
        r = httpx.post(f"{base}/api/sensors/readings", json=body, timeout=30)  # noqa: ASYNC210
        assert r.status_code == 200, r.text
        assert len(r.json()["alarms"]) == 2
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            if len([g for g in streams["dispatcher"][0] if g[0] == "alarm"]) >= 2:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        for _, stop in streams.values():
            stop.set()
    alarms = {who: [g[1] for g in got if g[0] == "alarm"] for who, (got, _) in streams.items()}
    assert streams["public"][0] == [("status", 401)]
    assert {a["sensor_code"] for a in alarms["dispatcher"]} == {"SMK-G2", "GAS-G1"}
    assert [a["sensor_code"] for a in alarms["grid_worker"]] == ["GAS-G1"]
    assert [a["sensor_code"] for a in alarms["grid_worker_g2"]] == ["SMK-G2"]
    gas = alarms["grid_worker"][0]
    assert gas["event"] == "raised" and gas["hazard_tier"] == "red"
    assert gas["hazard_category"] == "gas" and gas["hazard_subcategory"] == "gas_leak"
    assert gas["nearest_stations"]["stations"][0]["code"] in ("ST1", "ST2")
    assert [p["id"] for p in gas["hot_work_nearby"]] == [1]
