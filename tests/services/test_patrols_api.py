"""Patrol planning endpoint on the PostGIS lattice of test_coverage_api (100 m = 40 s)."""

from __future__ import annotations

import itertools

import pytest

from tests.services import test_coverage_api as lattice

pytestmark = pytest.mark.postgis

# The PostGIS lattice and client fixtures of test_coverage_api (same database).
net_db = lattice.net_db
client = lattice.client
node_xy = lattice.node_xy

# Stops in a deliberately bad order: zig-zagging across the 8 x 8 lattice.
STOP_NODES = [63, 1, 56, 9, 7, 42, 18, 35, 62, 2]


def _stops(nodes):
    return [{"id": f"n{n}", "lon": node_xy(n)[0], "lat": node_xy(n)[1]} for n in nodes]


async def _travel(client, a, b):
    r = await client.get("/api/routing/route", params={
        "from": f"{a[0]},{a[1]}", "to": f"{b[0]},{b[1]}", "profile": "car"})
    assert r.status_code == 200, r.text
    return r.json()["travel_time_s"]


async def test_plan_beats_input_order(client):
    start = list(node_xy(0))
    r = await client.post("/api/routing/patrol-plan",
                          json={"start": start, "stops": _stops(STOP_NODES)})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert sorted(plan["order"]) == sorted(f"n{n}" for n in STOP_NODES)
    assert plan["unreachable"] == []
    [shift] = plan["shifts"]
    assert [leg["stop_id"] for leg in shift["legs"]] == plan["order"]
    assert plan["totals"]["travel_s"] == pytest.approx(
        sum(leg["travel_s"] for leg in shift["legs"]), abs=0.5)
    assert all(leg["geometry"] is None or leg["geometry"]["type"] == "LineString"
               for leg in shift["legs"])
    # The input order, leg by leg through the route endpoint (same car profile).
    points = [tuple(start)] + [node_xy(n) for n in STOP_NODES]
    naive = 0.0
    for a, b in itertools.pairwise(points):
        naive += await _travel(client, a, b)
    assert plan["totals"]["travel_s"] <= naive
    assert plan["totals"]["travel_s"] < 0.8 * naive  # the zig-zag is far from optimal
    # Lower bound: every stop needs at least its nearest lattice neighbour's 40 s.
    assert plan["totals"]["travel_s"] >= 40 * len(STOP_NODES) - 0.5


async def test_priority_and_shifts(client):
    stops = _stops([63, 1, 2])
    stops[0]["priority"] = 0  # the far corner first, whatever it costs
    stops[1]["priority"] = stops[2]["priority"] = 1
    r = await client.post("/api/routing/patrol-plan",
                          json={"start": list(node_xy(0)), "stops": stops})
    assert r.status_code == 200, r.text
    assert r.json()["order"][0] == "n63"
    r = await client.post("/api/routing/patrol-plan", json={
        "start": list(node_xy(0)), "stops": _stops([1, 2, 62, 63]), "max_shift_s": 200})
    body = r.json()
    assert body["totals"]["shifts"] >= 2
    assert sum(len(s["legs"]) for s in body["shifts"]) == 4


async def test_unreachable_stop_is_listed(client):
    stops = [*_stops([1]), {"id": "far", "lon": 0.5, "lat": 0.5}]
    r = await client.post("/api/routing/patrol-plan",
                          json={"start": list(node_xy(0)), "stops": stops})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["order"] == ["n1"]
    assert [u["id"] for u in body["unreachable"]] == ["far"]


@pytest.mark.parametrize("body", [
    {"start": [120.58, 30.08], "stops": []},
    {"start": [120.58, 30.08], "stops": [{"id": i, "lon": 120.58, "lat": 30.08}
                                         for i in range(201)]},
    {"start": [30.08, 200.0], "stops": [{"id": 1, "lon": 120.58, "lat": 30.08}]},
    {"start": [120.58], "stops": [{"id": 1, "lon": 120.58, "lat": 30.08}]},
    {"start": [120.58, 30.08], "stops": [{"id": 1, "lon": 220.58, "lat": 30.08}]},
    {"start": [120.58, 30.08], "stops": [{"id": 1, "lon": 120.58, "lat": 30.08},
                                         {"id": 1, "lon": 120.59, "lat": 30.08}]},
    {"start": [120.58, 30.08], "stops": [{"id": 1, "lon": 120.58, "lat": 30.08}],
     "max_shift_s": 0},
])
async def test_bad_input_is_400(client, body):
    r = await client.post("/api/routing/patrol-plan", json=body)
    assert r.status_code == 400, r.text
