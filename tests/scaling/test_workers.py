"""Stateless API workers: 2 gunicorn/uvicorn workers behind real PgBouncer (transaction mode)
with a real Redis as their shared tile store.

What one worker learns through a write, the other serves at once: a fire lane closed through
worker A reroutes worker B; a road edge changed in the database rebuilds both graphs; a tile
made stale through worker A is not served stale by worker B, neither from B's own cache nor
from the shared store.
"""

from __future__ import annotations

import mapbox_vector_tile
import psycopg
import pytest
import redis

from gis.bulk import copy_frame
from routing import lattice_edges
from services.auth import mint_token
from tests.conftest import fresh_sibling_database
from tests.scaling.processes import clients_per_worker, gunicorn, pgbouncer, redis_server
from tests.tiles.conftest import ADMIN, WORKER_A, fill
from tiles.mvt import tile_bounds_4326

pytestmark = pytest.mark.postgis

SECRET = "scaling-test-secret-of-32-bytes-at-least"  # noqa: S105 - a test signing key
ORIGIN = (113.31, 23.13)  # the lattice's north-west corner, in grid A of the tile district
ROWS = COLS = 6
Z, X, Y = 16, 53397, 28441  # a tile of grid A away from the lattice


@pytest.fixture(scope="module")
def stack(db_url):
    """The database, PgBouncer, Redis and gunicorn with 2 workers; (base URL, db URL, redis)."""
    url = fresh_sibling_database(db_url, "_workers")
    edges = lattice_edges(ROWS, COLS, origin=ORIGIN)
    with psycopg.connect(url) as conn:
        fill(conn)
        conn.execute("DELETE FROM firetwin.road_edge")
        copy_frame(conn, "road_edge", edges.assign(road_class="residential",
                                                   oneway=edges.reverse_cost < 0))
    with pgbouncer(url) as pooled, redis_server() as redis_url:
        env = {"FIRETWIN_DATABASE_URL": pooled, "FIRETWIN_PGBOUNCER_TRANSACTION_MODE": "1",
               "FIRETWIN_DATABASE_DIRECT_URL": url, "FIRETWIN_TILES_SHARED_CACHE_URL": redis_url,
               "FIRETWIN_SECRET_KEY": SECRET, "FIRETWIN_POOL_MAX_SIZE": "4"}
        with gunicorn(env, workers=2) as base:
            yield base, url, redis_url, edges


def _auth(user_id: int, role: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(SECRET, user_id=user_id, role=role)}


ADMIN_H = _auth(ADMIN, "admin")
WORKER_H = _auth(WORKER_A, "grid_worker")


def _node(edges, n: int) -> str:
    row = edges[edges.source == n].iloc[0] if (edges.source == n).any() else \
        edges[edges.target == n].iloc[0]
    x, y = row.geometry.coords[0] if row.source == n else row.geometry.coords[-1]
    return f"{x},{y}"


def _ids(response) -> set[int]:
    if response.status_code == 204:
        return set()
    assert response.status_code == 200, response.text
    tile = mapbox_vector_tile.decode(response.content)
    return {f["id"] for f in tile.get("hazards", {}).get("features", [])}


async def test_a_fire_lane_closed_on_one_worker_reroutes_the_other(stack):
    base, url, _, edges = stack
    route = {"from": _node(edges, 0), "to": _node(edges, COLS - 1)}  # along the northern row
    workers = await clients_per_worker(base, 2)
    a, b = workers.values()
    try:
        before = {}
        for pid, c in workers.items():
            r = await c.get("/api/routing/route", params=route)
            assert r.status_code == 200, r.text
            before[pid] = r.json()
        assert len({round(v["travel_time_s"], 1) for v in before.values()}) == 1
        edge = edges[(edges.source == 1) & (edges.target == 2)].iloc[0]  # on the straight path
        mid = edge.geometry.interpolate(0.5, normalized=True)
        r = await a.post("/api/hazards", headers=WORKER_H, json={
            "lon": mid.x, "lat": mid.y, "category": "fire_passage",
            "subcategory": "fire_lane_blocked", "tier": "yellow", "title": "消防通道被占"})
        assert r.status_code == 201, r.text
        r = await b.get("/api/routing/route", params=route)
        assert r.status_code == 200, r.text
        after = r.json()
        assert after["closed_edges"] == [int(edge.id)]
        assert after["travel_time_s"] > next(iter(before.values()))["travel_time_s"] + 1
        # Closing the hazard reopens the lane on both workers.
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE firetwin.hazard SET status = 'closed' "
                         "WHERE road_edge_id = %s", (int(edge.id),))
        for c in (a, b):
            r = await c.get("/api/routing/route", params=route)
            assert r.json()["closed_edges"] == []
    finally:
        for c in workers.values():
            await c.aclose()


async def test_a_road_change_rebuilds_the_graph_of_every_worker(stack):
    base, url, _, edges = stack
    route = {"from": _node(edges, 0), "to": _node(edges, COLS - 1)}
    workers = await clients_per_worker(base, 2)
    try:
        times = [(await c.get("/api/routing/route", params=route)).json()["travel_time_s"]
                 for c in workers.values()]
        edge = edges[(edges.source == 2) & (edges.target == 3)].iloc[0]
        with psycopg.connect(url) as conn:  # a narrowed lane (an importer, psql, another API)
            conn.execute("UPDATE firetwin.road_edge SET width_m = 3.0, truck_ok = false "
                         "WHERE id = %s", (int(edge.id),))
        try:
            for c, t in zip(workers.values(), times, strict=True):
                r = await c.get("/api/routing/route", params=route)
                assert r.json()["travel_time_s"] > t + 1, "the worker kept its old graph"
        finally:
            with psycopg.connect(url) as conn:
                conn.execute("UPDATE firetwin.road_edge SET width_m = 7.0, truck_ok = true "
                             "WHERE id = %s", (int(edge.id),))
    finally:
        for c in workers.values():
            await c.aclose()


async def test_a_tile_made_stale_on_one_worker_is_fresh_on_the_other(stack):
    base, _, redis_url, _ = stack
    workers = await clients_per_worker(base, 2)
    a, b = workers.values()
    here = f"/tiles/hazards/{Z}/{X}/{Y}.mvt"
    parent = f"/tiles/hazards/{Z - 1}/{X >> 1}/{Y >> 1}.mvt"  # drawn by worker A only
    try:
        seen = [_ids(await c.get(here, headers=ADMIN_H)) for c in (a, b)]
        assert seen[0] == seen[1]
        before_parent = _ids(await a.get(parent, headers=ADMIN_H))
        store = redis.Redis.from_url(redis_url)
        assert store.keys("firetwin:tile:*:hazards:15:*"), "worker A shared its tile"
        w, s, e, n = tile_bounds_4326(Z, X, Y)
        r = await a.post("/api/hazards", headers=WORKER_H, json={
            "lon": (w + e) / 2, "lat": (s + n) / 2, "category": "ebike",
            "subcategory": "ebike_indoor_charging", "tier": "blue", "title": "楼道充电"})
        assert r.status_code == 201, r.text
        new = r.json()["id"]
        assert new in _ids(await b.get(here, headers=ADMIN_H)), "B served its stale tile"
        # B never drew the parent tile: Redis holds A's copy from before the write.
        assert new in _ids(await b.get(parent, headers=ADMIN_H)), "B served Redis's stale tile"
        assert _ids(await b.get(parent, headers=ADMIN_H)) == before_parent | {new}
        assert new in _ids(await a.get(here, headers=ADMIN_H))
    finally:
        for c in workers.values():
            await c.aclose()


async def test_pooled_connections_survive_transaction_mode(stack):
    """Many requests per worker reuse statements: with psycopg's default (prepare after 5
    runs) PgBouncer in transaction mode would answer 'prepared statement does not exist'."""
    base, _, _, _ = stack
    workers = await clients_per_worker(base, 2)
    try:
        for c in workers.values():
            for _ in range(12):
                r = await c.get("/api/hazards", headers=ADMIN_H, params={"limit": 5})
                assert r.status_code == 200, r.text
    finally:
        for c in workers.values():
            await c.aclose()


def test_default_prepared_statements_break_behind_transaction_mode(stack):
    """Why the setting exists: the same statement six times through PgBouncer, psycopg's
    default prepares it and a later run lands on a server connection that lacks it."""
    _, url, _, _ = stack
    with pgbouncer(url) as pooled:
        conns = [psycopg.connect(pooled, autocommit=True) for _ in range(4)]
        try:
            with pytest.raises((psycopg.errors.InvalidSqlStatementName,
                                psycopg.errors.DuplicatePreparedStatement)):
                for _ in range(10):
                    for c in conns:  # interleaved, so server connections change hands
                        c.execute("SELECT count(*) FROM firetwin.grid WHERE id > %s", (0,))
            safe = psycopg.connect(pooled, autocommit=True, prepare_threshold=None)
            for _ in range(20):
                safe.execute("SELECT count(*) FROM firetwin.grid WHERE id > %s", (0,))
            safe.close()
        finally:
            for c in conns:
                c.close()
