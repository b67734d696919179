"""Cached tiles answered before FastAPI's routing (TileFastPath): same scope, freshness, headers."""

from __future__ import annotations

import psycopg
import pytest

from services.routers.tiles import TileFastPath
from tests.tiles.conftest import MID, NORTH, SOUTH
from tests.tiles.test_cache import HAZARDS, X, Y, Z, centre, ids, insert_hazard
from tiles.cache import _tile_range

pytestmark = pytest.mark.postgis

OGC_HAZARDS = f"/ogc/collections/hazards/tiles/WebMercatorQuad/{Z}/{Y}/{X}"
_x, _, _y, _ = _tile_range((MID, (SOUTH + NORTH) / 2, MID, (SOUTH + NORTH) / 2), 12, 0.0)
BOTH_GRIDS = f"/tiles/hazards/12/{_x}/{_y}.mvt"  # covers grid A (the worker's) and grid B


def _counting_routes(app) -> list[str]:
    """Record the paths that reach the routes behind the fast path."""
    seen: list[str] = []
    stack = app.middleware_stack
    while stack is not None and not isinstance(stack, TileFastPath):
        stack = getattr(stack, "app", None)
    assert stack is not None, "TileFastPath is not installed"
    inner = stack.app

    async def recorder(scope, receive, send):
        if scope["type"] == "http":
            seen.append(scope["path"])
        await inner(scope, receive, send)

    stack.app = recorder
    return seen


async def test_cache_hits_skip_the_routes_and_keep_each_scope(district):
    await district.client.get("/health")  # builds the middleware stack
    routed = _counting_routes(district.app)
    callers = (("admin", district.admin), ("worker", district.worker), ("public", {}))
    first = {who: await district.client.get(BOTH_GRIDS, headers=h) for who, h in callers}
    assert routed.count(BOTH_GRIDS) == 3  # misses: rendered by the route
    again = {who: await district.client.get(BOTH_GRIDS, headers=h) for who, h in callers}
    assert routed.count(BOTH_GRIDS) == 3  # hits: answered by the fast path
    for who in first:
        assert again[who].status_code == first[who].status_code
        assert again[who].content == first[who].content
        for name in ("etag", "cache-control", "vary", "content-type", "content-length"):
            assert again[who].headers.get(name) == first[who].headers.get(name), (who, name)
    admin, worker, public = (ids(again[w]) for w in ("admin", "worker", "public"))
    assert public < admin and worker < admin  # each scope its own cached tile
    assert public and worker
    assert again["public"].headers["cache-control"].startswith("public")
    assert again["admin"].headers["cache-control"].startswith("private")


async def test_fast_path_answers_304_and_sees_changes(district):
    first = await district.client.get(HAZARDS, headers=district.admin)
    etag = first.headers["etag"]
    cached = await district.client.get(HAZARDS, headers={**district.admin,
                                                         "If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag
    with psycopg.connect(district.url) as conn:
        hid = insert_hazard(conn, "TT-FAST-1", centre(dx=0.3))
    changed = await district.client.get(HAZARDS, headers={**district.admin,
                                                          "If-None-Match": etag})
    assert changed.status_code == 200 and hid in ids(changed)
    assert changed.headers["etag"] != etag
    with psycopg.connect(district.url) as conn:
        conn.execute("DELETE FROM firetwin.hazard WHERE id = %s", (hid,))
    assert hid not in ids(await district.client.get(HAZARDS, headers=district.admin))


async def test_ogc_tiles_use_the_fast_path(district):
    await district.client.get("/health")
    routed = _counting_routes(district.app)
    first = await district.client.get(OGC_HAZARDS, headers=district.admin)
    second = await district.client.get(OGC_HAZARDS, headers=district.admin)
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert routed.count(OGC_HAZARDS) <= 1
    slippy = await district.client.get(HAZARDS, headers=district.admin)
    assert slippy.content == first.content  # row = y, column = x


async def test_errors_still_come_from_the_routes(district):
    await district.client.get(HAZARDS)  # cached for the public
    bad = await district.client.get(HAZARDS, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert (await district.client.get(f"/tiles/hazards/{Z}/{1 << Z}/{Y}.mvt")).status_code == 400
    assert (await district.client.get(f"/tiles/nope/{Z}/{X}/{Y}.mvt")).status_code == 404
    # a layer the public may not see does not exist for it, cached for others or not
    await district.client.get(f"/tiles/units/{Z}/{X}/{Y}.mvt", headers=district.admin)
    assert (await district.client.get(f"/tiles/units/{Z}/{X}/{Y}.mvt")).status_code == 404


async def test_tiles_render_on_a_read_only_pool_without_parallel_workers(district):
    await district.client.get(HAZARDS)
    pool = district.app.state.tile_service.render_pool
    assert pool is not None
    async with pool.connection() as conn:
        workers = (await (await conn.execute("SHOW max_parallel_workers_per_gather")).fetchone())
        read_only = (await (await conn.execute("SHOW transaction_read_only")).fetchone())
        assert conn.autocommit
    assert workers == ("0",) and read_only == ("on",)
