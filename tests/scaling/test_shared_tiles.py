"""The shared tile store without a server: certificates, history, a Redis that is down."""

from __future__ import annotations

from tests.conftest import free_port
from tiles.cache import Certificate, Change, ChangeHistory
from tiles.mvt import tile_bounds_4326
from tiles.shared import SharedTileStore, decode, encode

Z, X, Y = 15, 26698, 14219
W, S, E, N = tile_bounds_4326(Z, X, Y)
INSIDE = (W + 0.1 * (E - W), S + 0.1 * (N - S), W + 0.2 * (E - W), S + 0.2 * (N - S))
FAR = (W + 1.0, S + 1.0, E + 1.0, N + 1.0)


def _layers(table: str) -> set[str]:
    return {"hazard": {"hazards"}, "unit": {"units"}}.get(table, set())


def test_values_round_trip():
    cert = Certificate(41, frozenset({37, 39}))
    assert decode(encode(cert, b"\x1a\x02mvt")) == (cert, b"\x1a\x02mvt")
    assert decode(encode(Certificate(0), b"")) == (Certificate(0), b"")


def test_a_change_outside_the_certificate_that_touches_the_tile_makes_it_stale():
    h = ChangeHistory(margin=64 / 4096)
    h.record([Change("hazard", INSIDE, 40), Change("hazard", INSIDE, 42)])
    assert h.current(Certificate(42), "hazards", Z, X, Y, _layers)
    assert not h.current(Certificate(41), "hazards", Z, X, Y, _layers)  # 42 came later
    assert not h.current(Certificate(42, frozenset({40})), "hazards", Z, X, Y, _layers)  # a gap
    assert h.current(Certificate(41), "units", Z, X, Y, _layers)  # another layer's table


def test_changes_elsewhere_or_elsewhen_do_not():
    h = ChangeHistory(margin=64 / 4096)
    h.record([Change("hazard", FAR, 50)])
    assert h.current(Certificate(10), "hazards", Z, X, Y, _layers)
    h.record([Change("hazard", None, 51)])  # anywhere (TRUNCATE)
    assert not h.current(Certificate(50), "hazards", Z, X, Y, _layers)


def test_what_the_history_forgot_is_never_vouched_for():
    h = ChangeHistory(margin=64 / 4096, size=2)
    h.record([Change("unit", FAR, i) for i in (5, 6, 7)])
    assert h.floor == 5
    assert not h.current(Certificate(4), "hazards", Z, X, Y, _layers)
    assert h.current(Certificate(5), "hazards", Z, X, Y, _layers)
    h.reset(100)  # the feed restarted at id 100: nothing before it was seen here
    assert not h.current(Certificate(99), "hazards", Z, X, Y, _layers)
    assert h.current(Certificate(100), "hazards", Z, X, Y, _layers)


async def test_a_redis_that_is_down_is_skipped():
    store = SharedTileStore(f"redis://127.0.0.1:{free_port()}/0", retry_s=60)
    store.namespace = "test"
    key = ("hazards", Z, X, Y, "admin")
    assert await store.get_many([key]) == [None]
    assert not store.available  # backs off instead of paying a timeout per tile
    await store.put_many([(key, Certificate(1), b"x")])
    assert store.puts == 0
    await store.close()
