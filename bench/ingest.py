"""MQTT → PostGIS sensor ingestion rate and alarm-to-live-push latency (`python -m bench.ingest`).

In database ``firetwin_bench_iot`` (fresh): the small test district, 5,000 signed sensors in it,
FireTwin's own Mosquitto in ``.firetwin/mosquitto-bench``. Measured, each on the same rows:

* ``bare_copy_rows_per_s``: the floor's reference, one psycopg ``COPY`` of the readings (already
  encoded) straight into ``sensor_reading`` in batches of 5,000, nothing else;
* ``drain_rows_per_s``: one ingester process draining N readings queued by the broker on its
  persistent session while it was away (the ingester alone is measured);
* ``live_rows_per_s`` (1 and 2 ingester processes, shared subscription): a publisher process
  sends N readings as fast as the broker takes them while the ingesters store them; the rate is
  N / (first publish → last row committed): publisher, Mosquitto, ingesters and PostgreSQL all
  share the machine's cores;
* ``live_gateway``: the same with gateways' uploads, 100 readings (each signed by its sensor)
  per MQTT message on ``firetwin/gateways/<id>/readings``: the per-message cost of MQTT is
  shared by 100 readings;
* ``alarms_at_10k``: the publisher paced at 10,000 readings/s (1 ingester) while alarm readings
  (``state: alarm`` of 200 other sensors, 20 per second) are published; the time from publish
  to the event arriving on a dispatcher's ``GET /api/live/alarms`` stream (an API server
  process: LISTEN/NOTIFY, the hazard created, nearest stations and hot work looked up).

Wrap it in ``flock /tmp/firetwin-bench.lock`` on a shared machine.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import httpx
import orjson
import psycopg
from shapely.geometry import Point

from bench.common import bench_database, free_port, write_result
from gis.bulk import copy_frame
from gis.settings import PROJECT_ROOT
from services.iot import broker
from services.iot.messages import Reading, device_key, sign
from services.iot.settings import MqttSettings
from services.iot.store import SensorMeta, _copy_text

N_SENSORS = 5_000
N_ALARM_SENSORS = 200
N = int(os.environ.get("FIRETWIN_BENCH_INGEST_N", "200000"))
GATEWAY_BATCH = 100  # readings per gateway message (a LoRa/NB-IoT gateway's upload)
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
SECRET = "bench-secret-key-for-the-live-stream-0123456789"  # noqa: S105 - bench only


def _key(code: str) -> bytes:
    return device_key(f"bench-{code}")


def setup(url: str) -> None:
    from tests.services import small_district as sd

    sd.build(url)
    rng = random.Random(3)  # noqa: S311 - placement, not security
    codes = [f"B{i:05d}" for i in range(N_SENSORS + N_ALARM_SENSORS)]
    kinds = ["residual_current"] * N_SENSORS + ["smoke"] * N_ALARM_SENSORS
    pts = [Point(rng.uniform(120.501, 120.699), rng.uniform(30.001, 30.099)) for _ in codes]
    with psycopg.connect(url) as conn:
        copy_frame(conn, "sensor", gpd.GeoDataFrame(
            {"id": range(1, len(codes) + 1), "code": codes, "kind": kinds,
             "device_key_hash": [_key(c).hex() for c in codes]}, geometry=pts, crs=4326))
        copy_frame(conn, "station", gpd.GeoDataFrame(
            {"id": [1, 2], "code": ["ST1", "ST2"], "name": ["一号站", "二号站"],
             "kind": ["level1", "micro"]},
            geometry=[Point(120.53, 30.06), Point(120.66, 30.04)], crs=4326))


def _signed(i: int, offset: int) -> dict:
    code = f"B{(offset + i) % N_SENSORS:05d}"
    m = {"sensor": code, "msg_id": f"{offset + i}", "value": 40.0 + (i % 50),
         "ts": (T0 + timedelta(milliseconds=i)).isoformat()}
    return sign(m, _key(code))


def payloads(n: int, offset: int, per_message: int = 1) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs: one signed reading per message on the sensor's own topic, or
    ``per_message`` of them as a gateway's JSON array (each still signed by its sensor)."""
    if per_message == 1:
        return [(f"firetwin/sensors/{m['sensor']}/reading", orjson.dumps(m))
                for m in (_signed(i, offset) for i in range(n))]
    return [(f"firetwin/gateways/gw{j % 50}/readings",
             orjson.dumps([_signed(i, offset) for i in range(j, min(n, j + per_message))]))
            for j in range(0, n, per_message)]


# ----------------------------------------------------------------------- worker processes


def _ingester_proc(url: str, home: str, client_id: str, stop_path: str,
                   retire: bool = True) -> None:
    from services.iot.ingest import Ingester

    async def main() -> None:
        s = MqttSettings(home=home)
        ing = Ingester(url, broker.endpoint(s, start=False), mqtt=s, client_id=client_id)
        await ing.start()
        while not os.path.exists(stop_path):  # noqa: ASYNC110, ASYNC240 - a file from another process
            await asyncio.sleep(0.1)
        await ing.stop(retire=retire)  # retire: no session left to take a share of later runs

    asyncio.run(main())


def _publisher_proc(home: str, n: int, offset: int, done_path: str,
                    rate: float | None = None, per_message: int = 1) -> None:
    from services.iot.simulate import Publisher

    data = payloads(n, offset, per_message)

    async def main() -> None:
        s = MqttSettings(home=home)
        async with Publisher(broker.endpoint(s, start=False), max_outstanding=10_000) as pub:
            t0 = time.time()
            with open(done_path + ".start", "w") as f:  # noqa: ASYNC230
                f.write(str(t0))
            for i, (topic, p) in enumerate(data):
                if rate and i % 500 == 0 and (
                        ahead := t0 + i * per_message / rate - time.time()) > 0:
                    await asyncio.sleep(ahead)
                await pub.publish(topic, p)
        with open(done_path, "w") as f:  # noqa: ASYNC230
            f.write(str(time.time()))

    asyncio.run(main())


def _count(url: str) -> int:
    """Readings of the bulk sensors (the alarm sensors' readings are not counted)."""
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM firetwin.sensor_reading WHERE sensor_id <= %s",
                         (N_SENSORS,)).fetchone()[0]


def _wait_rows(url: str, target: int, timeout_s: float = 600) -> float:
    deadline = time.time() + timeout_s
    while (n := _count(url)) < target:
        if time.time() > deadline:
            msg = f"only {n} of {target} readings stored"
            raise RuntimeError(msg)
        time.sleep(0.05)
    return time.time()


def bare_copy(url: str, n: int) -> float:
    rows = [Reading(1 + i % N_SENSORS, f"copy-{i}", T0 + timedelta(milliseconds=i),
                    40.0 + i % 50, None) for i in range(n)]
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        meta = {sid: SensorMeta(sid, "", "", None, home) for sid, home in conn.execute(
            "SELECT id, home_unit_id FROM firetwin.sensor").fetchall()}
        chunks = [_copy_text(rows[i:i + 5000], now, meta) for i in range(0, n, 5000)]
        t = time.perf_counter()
        for data in chunks:
            with conn.cursor().copy("COPY firetwin.sensor_reading (sensor_id, observed_at, value, "
                                    "message_id, state, received_at, home_unit_id) FROM STDIN"
                                    ) as cp:
                cp.write(data)
            conn.commit()
        dt = time.perf_counter() - t
        conn.execute("TRUNCATE firetwin.sensor_reading")
    return n / dt


# ----------------------------------------------------------------------------- live stream


def _sse(base: str, token: str, got: dict, ready: threading.Event, stop: threading.Event):
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", f"{base}/api/live/alarms", headers=headers, timeout=None) as r:  # noqa: S113 - a stream
        ready.set()
        for line in r.iter_lines():
            if line.startswith("data: "):
                m = json.loads(line[6:])
                got.setdefault(m["sensor_code"], time.time())
            if stop.is_set():
                return


async def _alarm_injector(ep, stop: threading.Event, sent: dict) -> None:
    from services.iot.simulate import Publisher

    async with Publisher(ep, client_id="bench-alarms") as pub:
        for i in range(N_ALARM_SENSORS):
            if stop.is_set():
                break
            code = f"B{N_SENSORS + i:05d}"
            m = {"sensor": code, "msg_id": f"alarm-{i}", "value": 0.2, "state": "alarm",
                 "ts": datetime.now(UTC).isoformat()}
            sent[code] = time.time()
            await pub.publish(f"firetwin/sensors/{code}/reading", orjson.dumps(sign(m, _key(code))))
            await asyncio.sleep(0.05)  # 20 alarms/s: spread over the 10 s of load


def live_run(url: str, settings: MqttSettings, n_ingesters: int, offset: int, *,
             base: str | None = None, token: str | None = None,
             rate: float | None = None, per_message: int = 1) -> dict:
    ctx = mp.get_context("spawn")
    tmp = settings.home / "run"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    stop_path = str(tmp / "stop")
    before = _count(url)
    ings = [ctx.Process(target=_ingester_proc,
                        args=(url, str(settings.home), f"bench-live-{offset}-{k}", stop_path))
            for k in range(n_ingesters)]
    for p in ings:
        p.start()
    time.sleep(3.0)
    got: dict = {}
    sent: dict = {}
    stop_sse = threading.Event()
    alarm_thread = None
    if base is not None:
        ready = threading.Event()
        threading.Thread(target=_sse, args=(base, token, got, ready, stop_sse),
                         daemon=True).start()
        ready.wait(30)
        time.sleep(1.0)
        ep = broker.endpoint(settings, start=False)
        alarm_thread = threading.Thread(
            target=lambda: asyncio.run(_alarm_injector(ep, stop_sse, sent)), daemon=True)
    done_path = str(tmp / "published")
    pub = ctx.Process(target=_publisher_proc,
                      args=(str(settings.home), N, offset, done_path, rate, per_message))
    pub.start()
    while not os.path.exists(done_path + ".start"):
        time.sleep(0.01)
    t_start = float(open(done_path + ".start").read())
    if alarm_thread is not None:
        alarm_thread.start()
    t_end = _wait_rows(url, before + N)
    pub.join()
    t_pub = float(open(done_path).read())
    if alarm_thread is not None:
        alarm_thread.join(120)
        deadline = time.time() + 30
        while len(got) < len(sent) and time.time() < deadline:
            time.sleep(0.1)
        stop_sse.set()
    open(stop_path, "w").close()
    for p in ings:
        p.join(60)
    out = {"ingesters": n_ingesters, "readings": N, "readings_per_message": per_message,
           "offered_rows_per_s": rate or "max",
           "live_rows_per_s": round(N / (t_end - t_start)),
           "publish_rows_per_s": round(N / (t_pub - t_start))}
    if base is not None:
        lat = sorted((got[c] - sent[c]) * 1000 for c in sent if c in got)
        out["alarms_sent"] = len(sent)
        out["alarms_pushed"] = len(lat)
        if lat:
            out["alarm_push_ms_p50"] = round(statistics.median(lat), 1)
            out["alarm_push_ms_p99"] = round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1)
            out["alarm_push_ms_max"] = round(lat[-1], 1)
    return out


def drain_run(url: str, settings: MqttSettings) -> dict:
    ctx = mp.get_context("spawn")
    tmp = settings.home / "drain"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    stop_path = str(tmp / "stop")
    cid = "bench-drain"
    p = ctx.Process(target=_ingester_proc,
                    args=(url, str(settings.home), cid, stop_path, False))
    p.start()
    time.sleep(3.0)
    open(stop_path, "w").close()  # leaves a persistent session: the broker queues for it
    p.join(60)
    before = _count(url)
    pub = ctx.Process(target=_publisher_proc,
                      args=(str(settings.home), N, 10_000_000, str(tmp / "published")))
    pub.start()
    pub.join()
    os.remove(stop_path)
    p = ctx.Process(target=_ingester_proc, args=(url, str(settings.home), cid, stop_path))
    t0 = time.time()
    p.start()
    t_end = _wait_rows(url, before + N)
    open(stop_path, "w").close()
    p.join(60)
    return {"readings": N, "drain_rows_per_s": round(N / (t_end - t0)),
            "note": "includes the ingester process start-up (~1-2 s)"}


def _server(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, FIRETWIN_DATABASE_URL=url, FIRETWIN_SECRET_KEY=SECRET,
               FIRETWIN_PORT=str(port))
    env.pop("FIRETWIN_MQTT_INGEST_IN_API", None)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "services.main:app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    msg = "API server did not start"
    raise RuntimeError(msg)


def main() -> None:
    from services.auth import mint_token

    url = bench_database("firetwin_bench_iot", fresh=True)
    setup(url)
    home = PROJECT_ROOT / ".firetwin" / "mosquitto-bench"
    settings = MqttSettings(home=home, port=18950)
    broker.stop(settings)
    shutil.rmtree(home, ignore_errors=True)
    broker.ensure_running(settings)
    result: dict = {"sensors": N_SENSORS, "readings_per_run": N, "payload": "one JSON reading "
                    "per MQTT message (live_gateway: a JSON array of 100 per message), each "
                    "HMAC-SHA256 signed by its sensor, QoS 1, ack after commit"}
    try:
        result["bare_copy_rows_per_s"] = round(bare_copy(url, N))
        print("bare COPY", result["bare_copy_rows_per_s"], flush=True)
        result["drain"] = drain_run(url, settings)
        print("drain", result["drain"], flush=True)
        proc, base = _server(url)
        try:
            token = mint_token(SECRET, user_id=2, role="dispatcher")
            result["live_1"] = live_run(url, settings, 1, 20_000_000)
            print("live 1", result["live_1"], flush=True)
            result["alarms_at_10k"] = live_run(url, settings, 1, 40_000_000, base=base,
                                               token=token, rate=10_000)
            print("alarms at 10k/s", result["alarms_at_10k"], flush=True)
        finally:
            proc.terminate()
            proc.wait(20)
        result["live_2"] = live_run(url, settings, 2, 30_000_000)
        print("live 2", result["live_2"], flush=True)
        result["live_gateway"] = live_run(url, settings, 1, 60_000_000,
                                          per_message=GATEWAY_BATCH)
        print("live gateway", result["live_gateway"], flush=True)
    finally:
        broker.stop(settings)
    best = max(result["live_1"]["live_rows_per_s"], result["live_2"]["live_rows_per_s"])
    result["best_live_rows_per_s"] = best
    result["live_vs_bare_copy"] = round(best / result["bare_copy_rows_per_s"], 3)
    result["drain_vs_bare_copy"] = round(result["drain"]["drain_rows_per_s"]
                                         / result["bare_copy_rows_per_s"], 3)
    gw = result["live_gateway"]["live_rows_per_s"]
    result["gateway_vs_bare_copy"] = round(gw / result["bare_copy_rows_per_s"], 3)
    result["summary"] = (
        f"live {best:,}/s (goal 10,000), drain {result['drain']['drain_rows_per_s']:,}/s, bare "
        f"COPY {result['bare_copy_rows_per_s']:,}/s (live/COPY {result['live_vs_bare_copy']}); "
        f"gateways ({GATEWAY_BATCH} readings a message) {gw:,}/s "
        f"({result['gateway_vs_bare_copy']} of COPY); "
        f"alarm push p99 {result['alarms_at_10k'].get('alarm_push_ms_p99')} ms at an offered "
        f"10,000/s (stored {result['alarms_at_10k']['live_rows_per_s']:,}/s)")
    result["command"] = "flock /tmp/firetwin-bench.lock .venv/bin/python -m bench.ingest"
    write_result("ingest", result)
    print(result["summary"])


if __name__ == "__main__":
    main()
