"""The users of ``bench/load.py``, run by locust in its own process (gevent stays out of bench).

``FIRETWIN_LOAD_PLAN`` names the JSON plan ``bench.load`` wrote: tokens of real demo users,
points, tiles, the patrollers' units and the sensors' device keys. Three kinds of user:

* **dispatcher** (one-map): vector tiles, hazard items (REST list and OGC API Features with a
  bbox), nearest stations with routes, a route between two points; 1–3 s between actions;
* **patroller** (phone): today's routed patrol list once, then a GPS check-in at one of its
  units every 5–15 s;
* **gateway**: a batch of ``BATCH`` signed readings of its sensors every ``1 / GATEWAY_RATE``
  seconds (10 gateways × 2 batches/s × 50 = 1,000 readings/s by default).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from datetime import UTC, datetime

import orjson
from locust import FastHttpUser, between, constant_throughput, task

from services.iot.messages import sign

with open(os.environ["FIRETWIN_LOAD_PLAN"], encoding="utf-8") as _fh:
    PLAN = json.load(_fh)
BATCH = int(PLAN["batch"])
_patrollers = itertools.count()
_gateways = itertools.count()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}


class Dispatcher(FastHttpUser):
    fixed_count = int(PLAN["users"]["dispatcher"])
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.rng = random.Random()  # noqa: S311 - load shape, not security
        self.headers = _auth(self.rng.choice(PLAN["dispatchers"]))

    @task(5)
    def tile(self) -> None:
        layer, z, x, y = self.rng.choice(PLAN["tiles"])
        self.client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers=self.headers,
                        name="GET /tiles/{layer}/{z}/{x}/{y}.mvt")

    @task(2)
    def ogc_items(self) -> None:
        lon, lat = self.rng.choice(PLAN["points"])
        bbox = f"{lon - 0.01:.5f},{lat - 0.008:.5f},{lon + 0.01:.5f},{lat + 0.008:.5f}"
        self.client.get(f"/ogc/collections/hazards/items?f=json&limit=100&bbox={bbox}",
                        headers=self.headers, name="GET /ogc/collections/hazards/items")

    @task(2)
    def hazards(self) -> None:
        lon, lat = self.rng.choice(PLAN["points"])
        bbox = f"{lon - 0.02:.5f},{lat - 0.015:.5f},{lon + 0.02:.5f},{lat + 0.015:.5f}"
        self.client.get(f"/api/hazards?limit=50&bbox={bbox}&status=reported&status=verified",
                        headers=self.headers, name="GET /api/hazards")

    @task(2)
    def nearest_stations(self) -> None:
        lon, lat = self.rng.choice(PLAN["points"])
        self.client.get(f"/api/routing/nearest-stations?lon={lon}&lat={lat}&k=3",
                        headers=self.headers, name="GET /api/routing/nearest-stations")

    @task(1)
    def route(self) -> None:
        (a, b), (c, d) = self.rng.sample(PLAN["points"], 2)
        self.client.get(f"/api/routing/route?from={a},{b}&to={c},{d}&profile=truck",
                        headers=self.headers, name="GET /api/routing/route")


class Patroller(FastHttpUser):
    fixed_count = int(PLAN["users"]["patroller"])
    wait_time = between(5, 15)

    def on_start(self) -> None:
        self.rng = random.Random()  # noqa: S311
        p = PLAN["patrollers"][next(_patrollers) % len(PLAN["patrollers"])]
        self.headers = _auth(p["token"])
        self.units = p["units"]
        lon, lat = self.units[0][1:]
        self.client.get(f"/api/patrols/today?start={lon},{lat}", headers=self.headers,
                        name="GET /api/patrols/today")

    @task
    def check_in(self) -> None:
        uid, lon, lat = self.rng.choice(self.units)
        self.client.post("/api/patrols/check-in", headers=self.headers,
                         json={"unit_id": uid, "lon": lon + self.rng.uniform(-2e-4, 2e-4),
                               "lat": lat + self.rng.uniform(-2e-4, 2e-4), "result": "pass"},
                         name="POST /api/patrols/check-in")


class Gateway(FastHttpUser):
    fixed_count = int(PLAN["users"]["gateway"])
    wait_time = constant_throughput(float(PLAN["gateway_rate"]))

    def on_start(self) -> None:
        self.rng = random.Random()  # noqa: S311
        g = next(_gateways)
        n = int(PLAN["users"]["gateway"])
        self.prefix = f"load-{os.getpid()}-{g}"
        self.sensors = PLAN["sensors"][g % n::n]  # each gateway its own share of the sensors
        self.n = 0

    @task
    def readings(self) -> None:
        now = datetime.now(UTC).isoformat()
        batch = []
        for s in self.rng.sample(self.sensors, min(BATCH, len(self.sensors))):
            self.n += 1
            mean, sd = s["normal"]
            batch.append(sign({"sensor": s["code"], "msg_id": f"{self.prefix}-{self.n}",
                               "ts": now, "value": round(max(0.0, self.rng.gauss(mean, sd)), 3)},
                              bytes.fromhex(s["key"])))
        self.client.post("/api/sensors/readings", data=orjson.dumps(batch),
                         headers={"Content-Type": "application/json",
                                  "Accept-Encoding": "identity"},
                         name="POST /api/sensors/readings")
