"""Greedy station siting on tiny graphs."""

from __future__ import annotations

import pytest

from routing import build_graph, lattice_edges, suggest_stations


def test_nothing_to_add_when_existing_stations_cover_every_target():
    # 0 - 1 - 2 - 3 - 4 - 5 - 6 - 7 (10 s blocks); station at 3 covers 1..5 within 20 s
    G = build_graph(lattice_edges(1, 8))
    assert suggest_stations(G, {"a": 1, "b": 5}, {"s": 3}, travel_s=20) == []


def test_each_pick_covers_the_most_uncovered_targets():
    G = build_graph(lattice_edges(1, 12))
    targets = {"far1": 10, "far2": 11, "mid": 6}
    picks = suggest_stations(G, targets, {"s": 0}, n_new=2, travel_s=10)
    assert len(picks) == 2
    assert set(picks[0].newly_covered) == {"far1", "far2"}  # one site covers both
    assert picks[1].newly_covered == ("mid",)
    assert picks[1].covered_after == 3 == picks[1].targets


def test_rejects_zero_new_stations():
    G = build_graph(lattice_edges(1, 3))
    with pytest.raises(ValueError, match="n_new"):
        suggest_stations(G, {"a": 1}, {}, n_new=0)
