"""The tile cache: LRU by bytes, spatial eviction, freshness across workers via the change log."""

from __future__ import annotations

import asyncio

import mapbox_vector_tile
import psycopg
import pytest
from shapely.geometry import Point

from gis.indexing import index_geometry
from services.main import create_app
from tiles.cache import ENTRY_OVERHEAD, ChangeFeed, TileCache
from tiles.mvt import tile_bounds_4326

Z, X, Y = 15, 26698, 14219  # a tile inside the test district
HAZARDS = f"/tiles/hazards/{Z}/{X}/{Y}.mvt"


def centre(z: int = Z, x: int = X, y: int = Y, dx: float = 0.0) -> Point:
    w, s, e, n = tile_bounds_4326(z, x, y)
    return Point((w + e) / 2 + dx * (e - w), (s + n) / 2)


def ids(response, layer: str = "hazards") -> set[int]:
    if response.status_code == 204:
        return set()
    assert response.status_code == 200, response.text
    tile = mapbox_vector_tile.decode(response.content)
    return {f["id"] for f in tile.get(layer, {}).get("features", [])}


def insert_hazard(conn: psycopg.Connection, code: str, point: Point, *, status: str = "reported",
                  published: bool = False) -> int:
    h3 = index_geometry(point)
    row = conn.execute(
        "INSERT INTO firetwin.hazard (code, category, subcategory, tier, source, title, status, "
        "published, h3_r7, h3_r9, h3_r11, geom) VALUES (%s, 'gas', 'gas_leak', 'red', 'public', "
        "'test', %s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
        (code, status, published, h3["h3_r7"], h3["h3_r9"], h3["h3_r11"], point.x, point.y),
    ).fetchone()
    return row[0]


# ----------------------------------------------------------------------------- unit tests


def test_lru_is_bounded_by_bytes():
    cache = TileCache(3 * (100 + ENTRY_OVERHEAD), margin=0.0)
    for i in range(5):
        cache.put(("hazards", 14, i, 0, "all"), b"x" * 100, since=0)
    assert len(cache) == 3
    assert cache.bytes <= cache.max_bytes
    assert cache.get(("hazards", 14, 0, 0, "all")) is None
    assert cache.get(("hazards", 14, 4, 0, "all")).data == b"x" * 100
    cache.get(("hazards", 14, 2, 0, "all"))  # now most recently used
    cache.put(("hazards", 14, 9, 0, "all"), b"y" * 100, since=0)
    assert cache.get(("hazards", 14, 2, 0, "all")) is not None
    assert cache.get(("hazards", 14, 3, 0, "all")) is None
    big = cache.put(("hazards", 14, 5, 5, "all"), b"z" * 10_000, since=0)
    assert big.data == b"z" * 10_000 and cache.get(("hazards", 14, 5, 5, "all")) is None


def test_invalidate_evicts_only_tiles_meeting_the_box():
    cache = TileCache(10**7, margin=64 / 4096)
    for x in range(X - 2, X + 3):
        for scope in ("all", "public"):
            cache.put(("hazards", Z, x, Y, scope), b"t", since=0)
            cache.put(("roads", Z, x, Y, scope), b"t", since=0)
    cache.put(("hazards", 12, X >> 3, Y >> 3, "all"), b"t", since=0)
    p = centre()
    dropped = cache.invalidate({"hazards"}, (p.x, p.y, p.x, p.y))
    assert dropped == 3  # the tile at z15 for both scopes, and its z12 parent
    assert cache.get(("hazards", Z, X, Y, "all")) is None
    assert cache.get(("hazards", Z, X + 1, Y, "all")) is not None
    assert cache.get(("roads", Z, X, Y, "all")) is not None
    # a point in the buffer of the next tile evicts that tile too
    w, _, e, _ = tile_bounds_4326(Z, X, Y)
    edge = e - (e - w) * 0.001
    cache.invalidate({"hazards"}, (edge, p.y, edge, p.y))
    assert cache.get(("hazards", Z, X + 1, Y, "all")) is None
    assert cache.get(("hazards", Z, X + 2, Y, "all")) is not None
    cache.invalidate({"roads"}, None)
    assert all(cache.get(("roads", Z, x, Y, "all")) is None for x in range(X - 2, X + 3))
    # a box larger than the cached tiles falls back to scanning them
    cache.invalidate(None, (-180, -85, 180, 85))
    assert len(cache) == 0 and cache.bytes == 0


def test_a_tile_rendered_before_a_change_is_not_stored():
    cache = TileCache(10**7, margin=0.0)
    since = cache.generation
    p = centre()
    cache.invalidate({"hazards"}, (p.x, p.y, p.x, p.y))  # processed while the tile rendered
    cache.put(("hazards", Z, X, Y, "all"), b"stale", since=since)
    assert cache.get(("hazards", Z, X, Y, "all")) is None
    cache.put(("hazards", Z, X + 5, Y, "all"), b"fine", since=since)  # elsewhere: stored
    assert cache.get(("hazards", Z, X + 5, Y, "all")) is not None
    cache.put(("roads", Z, X, Y, "all"), b"fine", since=since)  # other layer: stored
    assert cache.get(("roads", Z, X, Y, "all")) is not None


def test_gaps_wait_for_running_transactions():
    resets = []
    feed = ChangeFeed("postgresql://unused", on_changes=lambda c: None,
                      on_reset=lambda: resets.append(1))
    feed._max_seen = 10
    feed._account([11, 13], snap_xmin=500, snap_xmax=510)  # 12 not visible yet
    assert set(feed._gaps) == {12}
    feed._account([], snap_xmin=505, snap_xmax=520)  # its transaction may still run
    assert set(feed._gaps) == {12}
    feed._account([12], snap_xmin=506, snap_xmax=520)  # committed: read, gap closed
    assert feed._gaps == {}
    feed._account([15], snap_xmin=530, snap_xmax=540)
    assert set(feed._gaps) == {14}
    feed._account([], snap_xmin=540, snap_xmax=541)  # everything then running has ended
    assert feed._gaps == {}  # 14 rolled back
    assert feed._max_seen == 15 and not resets


def test_gaps_close_when_no_one_writes_the_log():
    """A long transaction elsewhere holds xmin back; the write-lock test still settles gaps."""
    feed = ChangeFeed("postgresql://unused", on_changes=lambda c: None, on_reset=lambda: None)
    feed._max_seen = 10
    feed._account([12], snap_xmin=100, snap_xmax=510, writers_done=True)
    assert set(feed._gaps) == {11}  # noticed by this read: its writer may have just begun
    feed._account([], snap_xmin=100, snap_xmax=520)
    assert set(feed._gaps) == {11}  # someone was writing: wait
    feed._account([], snap_xmin=100, snap_xmax=530, writers_done=True)
    assert feed._gaps == {}


# ----------------------------------------------------------------------------- with the database




@pytest.mark.postgis
async def test_cached_tiles_are_served_from_memory(district):
    service = district.app.state.tile_service
    first = await district.client.get(HAZARDS, headers=district.admin)
    hits = service.cache.hits
    second = await district.client.get(HAZARDS, headers=district.admin)
    assert service.cache.hits == hits + 1
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]


@pytest.mark.postgis
async def test_new_and_deleted_hazards_show_in_the_next_request(district):
    before = ids(await district.client.get(HAZARDS, headers=district.admin))
    await district.client.get(HAZARDS, headers=district.admin)  # cached now
    with psycopg.connect(district.url) as conn:
        new_id = insert_hazard(conn, "TT-NEW-1", centre())
    after = ids(await district.client.get(HAZARDS, headers=district.admin))
    assert after == before | {new_id}
    with psycopg.connect(district.url) as conn:
        conn.execute("DELETE FROM firetwin.hazard WHERE id = %s", (new_id,))
    assert ids(await district.client.get(HAZARDS, headers=district.admin)) == before


@pytest.mark.postgis
async def test_closing_a_published_hazard_shows_it_to_the_public(district):
    public_before = ids(await district.client.get(HAZARDS))
    with psycopg.connect(district.url) as conn:
        hid = insert_hazard(conn, "TT-NEW-2", centre(dx=0.2), status="rectifying", published=True)
    assert ids(await district.client.get(HAZARDS)) == public_before  # not rectified yet
    assert hid in ids(await district.client.get(HAZARDS, headers=district.admin))
    with psycopg.connect(district.url) as conn:
        conn.execute("UPDATE firetwin.hazard SET status = 'closed', closed_at = now() "
                     "WHERE id = %s", (hid,))
    assert ids(await district.client.get(HAZARDS)) == public_before | {hid}
    with psycopg.connect(district.url) as conn:  # moving it away empties this tile
        conn.execute("UPDATE firetwin.hazard SET geom = ST_Translate(geom, 0.5, 0) "
                     "WHERE id = %s", (hid,))
    assert ids(await district.client.get(HAZARDS)) == public_before
    with psycopg.connect(district.url) as conn:
        conn.execute("DELETE FROM firetwin.hazard WHERE id = %s", (hid,))


@pytest.mark.postgis
async def test_every_worker_sees_a_change(district):
    """Two apps stand for two API worker processes: each has its own cache and feed."""
    other = create_app(database_url_override=district.url)
    async with other.router.lifespan_context(other):
        import httpx

        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as second:
            clients = (district.client, second)
            before = [ids(await c.get(HAZARDS, headers=district.admin)) for c in clients]
            assert before[0] == before[1]
            with psycopg.connect(district.url) as conn:
                hid = insert_hazard(conn, "TT-NEW-3", centre(dx=-0.2))
            for c in clients:
                assert hid in ids(await c.get(HAZARDS, headers=district.admin))
            with psycopg.connect(district.url) as conn:
                conn.execute("DELETE FROM firetwin.hazard WHERE id = %s", (hid,))
            for c in clients:
                assert hid not in ids(await c.get(HAZARDS, headers=district.admin))


@pytest.mark.postgis
async def test_changes_committed_out_of_order_are_not_lost(district):
    """A takes a change-log id first but commits after B: the feed must still see A."""
    base = ids(await district.client.get(HAZARDS, headers=district.admin))
    with psycopg.connect(district.url) as a, psycopg.connect(district.url) as b:
        ha = insert_hazard(a, "TT-SLOW", centre(dx=0.1))  # trigger ran: id taken, not committed
        hb = insert_hazard(b, "TT-FAST", centre(dx=-0.1))
        b.commit()
        seen = ids(await district.client.get(HAZARDS, headers=district.admin))
        assert seen == base | {hb}
        assert ids(await district.client.get(HAZARDS, headers=district.admin)) == seen  # cached
        a.commit()
    assert ids(await district.client.get(HAZARDS, headers=district.admin)) == base | {ha, hb}
    with psycopg.connect(district.url) as conn:
        conn.execute("DELETE FROM firetwin.hazard WHERE id = ANY(%s)", ([ha, hb],))
    assert ids(await district.client.get(HAZARDS, headers=district.admin)) == base


@pytest.mark.postgis
async def test_rolled_back_changes_do_not_block_the_feed(district):
    feed = district.app.state.tile_service.feed
    with psycopg.connect(district.url) as conn:
        insert_hazard(conn, "TT-ROLLBACK", centre())
        conn.rollback()
    with psycopg.connect(district.url) as conn:
        hid = insert_hazard(conn, "TT-AFTER", centre())
    assert hid in ids(await district.client.get(HAZARDS, headers=district.admin))
    # The rolled-back id is a gap until the feed knows its writer ended (unit-tested above);
    # a gap must never hide a committed row.
    for _ in range(20):
        await district.client.get(HAZARDS, headers=district.admin)
        if not feed._gaps:
            break
        await asyncio.sleep(0.1)
    with psycopg.connect(district.url) as conn:
        visible = conn.execute("SELECT count(*) FROM firetwin.tile_change WHERE id = ANY(%s)",
                               (list(feed._gaps),)).fetchone()[0]
        conn.execute("DELETE FROM firetwin.hazard WHERE id = %s", (hid,))
    assert visible == 0
    assert feed._gaps == {}


@pytest.mark.postgis
async def test_a_table_without_geometry_invalidates_its_layer(district):
    """stations.vehicles counts rows of vehicle, which has no geometry: evict every station tile."""
    with psycopg.connect(district.url) as conn:
        sid, lon, lat = conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM firetwin.station WHERE code = 'ST-1'"
        ).fetchone()
    from tiles.cache import _tile_range

    x, _, y, _ = _tile_range((lon, lat, lon, lat), 14, 0.0)
    path = f"/tiles/stations/14/{x}/{y}.mvt"

    def vehicles(response) -> int:
        tile = mapbox_vector_tile.decode(response.content)
        return next(f["properties"]["vehicles"] for f in tile["stations"]["features"]
                    if f["id"] == sid)

    count = vehicles(await district.client.get(path, headers=district.admin))
    with psycopg.connect(district.url) as conn:
        conn.execute("INSERT INTO firetwin.vehicle (station_id, call_sign, kind) "
                     "VALUES (%s, 'TV-extra', 'ladder')", (sid,))
    assert vehicles(await district.client.get(path, headers=district.admin)) == count + 1
    with psycopg.connect(district.url) as conn:
        conn.execute("DELETE FROM firetwin.vehicle WHERE call_sign = 'TV-extra'")
    assert vehicles(await district.client.get(path, headers=district.admin)) == count


@pytest.mark.postgis
async def test_bulk_writes_log_one_box_per_h3_cell(district):
    with psycopg.connect(district.url) as conn:
        top = conn.execute("SELECT coalesce(max(id), 0) FROM firetwin.tile_change").fetchone()[0]
        conn.execute("UPDATE firetwin.hazard SET supervised = NOT supervised")
        rows, cells, hazards = conn.execute(
            "SELECT (SELECT count(*) FROM firetwin.tile_change WHERE id > %s),"
            " (SELECT count(DISTINCT h3_r7) FROM firetwin.hazard),"
            " (SELECT count(*) FROM firetwin.hazard)", (top,)
        ).fetchone()
        conn.execute("UPDATE firetwin.hazard SET supervised = NOT supervised")
    assert rows == cells
    assert cells < hazards / 10


@pytest.mark.postgis
async def test_truncate_evicts_the_whole_layer(district):
    c = centre(z=12, x=X >> 3, y=Y >> 3)
    path = f"/tiles/risk-cells/12/{X >> 3}/{Y >> 3}.mvt"
    assert (await district.client.get(path, headers=district.admin)).status_code == 204
    with psycopg.connect(district.url) as conn:
        conn.execute(
            "INSERT INTO firetwin.risk_cell (h3_cell, as_of, model_version, resolution, score, "
            "max_score, units, geom) VALUES (1, '2026-11-01', 'm1', 7, 40, 80, 3, "
            "ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 0.01))", (c.x, c.y))
    assert ids(await district.client.get(path, headers=district.admin), "risk-cells") == {1}
    with psycopg.connect(district.url) as conn:
        conn.execute("TRUNCATE firetwin.risk_cell")
        box = conn.execute("SELECT min_x FROM firetwin.tile_change WHERE table_name = "
                           "'risk_cell' ORDER BY id DESC LIMIT 1").fetchone()
    assert box == (None,)  # anywhere
    assert (await district.client.get(path, headers=district.admin)).status_code == 204
