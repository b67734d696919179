"""Fire-lane checks: bridges, dead ends and the per-building report."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import pytest
from shapely.geometry import Point

from routing.fire_lanes import check_buildings
from routing.graph import lattice_graph
from routing.settings import DEFAULTS
from routing.topology import dead_ends, single_access_roads
from routing.weights import CAR


def _codes(report):
    return sorted(p.code for p in report.problems)


def _buildings(geo, *rows):
    """rows: (id, (x0, y0, x1, y1), height_m, use)."""
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "height_m": [r[2] for r in rows], "use": [r[3] for r in rows]},
        geometry=[geo.box(*r[1]) for r in rows],
        crs=4326,
    )


# --------------------------------------------------------------------------- topology


def test_bridges_report_nodes_cut_off(geo):
    #  0 ---- 1
    #  |      |
    #  3 ---- 2 ---- 4 ---- 5 ---- 6
    #                       |
    #                       7
    nodes = {
        0: (0, 100),
        1: (100, 100),
        2: (100, 0),
        3: (0, 0),
        4: (200, 0),
        5: (300, 0),
        6: (400, 0),
        7: (300, -100),
    }
    edges = [(1, 0, 1), (2, 1, 2), (3, 2, 3), (4, 3, 0), (5, 2, 4), (6, 4, 5), (7, 5, 6), (8, 5, 7)]
    G = geo.graph(nodes, edges)
    assert single_access_roads(G) == {(2, 4): 4, (4, 5): 3, (5, 6): 1, (5, 7): 1}
    assert dead_ends(G) == {6, 7}


def test_narrow_lane_turns_a_loop_into_single_access_for_trucks(geo):
    #  0 ---- 1 ---- 4
    #  |      |      :   4-5 is 3 m wide
    #  3 ---- 2 ---- 5
    nodes = {0: (0, 100), 1: (100, 100), 2: (100, 0), 3: (0, 0), 4: (200, 100), 5: (200, 0)}
    edges = [
        (1, 0, 1),
        (2, 1, 2),
        (3, 2, 3),
        (4, 3, 0),
        (5, 1, 4),
        (6, 4, 5, {"width_m": 3.0}),
        (7, 2, 5),
    ]
    G = geo.graph(nodes, edges)
    assert single_access_roads(G, weight=CAR) == {}
    assert single_access_roads(G) == {(1, 4): 1, (2, 5): 1}
    assert dead_ends(G) == {4, 5} and dead_ends(G, weight=CAR) == set()


# ----------------------------------------------------------------------- per building


def test_building_in_a_block_with_a_hydrant_is_ok(geo):
    # 2 x 3 lattice of 100 m blocks; B in the middle of block 0-1-4-3, hydrant on road 0-1
    #   0 ------- 1 ------- 2
    #   |   [B]   |         |
    #   3 ------- 4 ------- 5
    G = lattice_graph(2, 3)
    b = _buildings(geo, ("B", (30, -70, 70, -30), 20.0, "residential"))
    [r] = check_buildings(G, b, hydrants=[geo.pt(50, 0), geo.pt(250, -300)])
    assert r.ok and r.truck_access and not r.high_rise
    assert r.access_gap_m == pytest.approx(26.5, abs=0.05)  # 30 m to the centre line - 3.5 m
    assert r.access_edges[:4] == (1, 2, 4, 6)  # the block's sides, then 1-2 and 4-5 (42 m)
    assert set(r.access_edges) == {1, 2, 3, 4, 6, 7}
    assert r.hydrants_in_range == 1
    assert r.nearest_hydrant_m == pytest.approx(30.0, abs=0.05)


@pytest.mark.parametrize(
    ("height", "use", "high_rise"),
    [
        (25.0, "residential", False),
        (28.0, "residential", True),
        (25.0, "office", True),
        (24.0, "office", False),
        (None, "office", False),
    ],
)
def test_high_rise_needs_a_lane_close_by(geo, height, use, high_rise):
    G = lattice_graph(2, 3)
    b = _buildings(geo, ("B", (30, -70, 70, -30), height, use))
    [r] = check_buildings(G, b)
    assert r.high_rise is high_rise
    assert ("HIGHRISE_NO_LANE" in _codes(r)) is high_rise
    # with a lane 8 m from the wall the high-rise is served
    near = _buildings(geo, ("B", (30, -70, 70, -11.5), height, use))
    [r] = check_buildings(G, near)
    assert "HIGHRISE_NO_LANE" not in _codes(r)


def _ring(geo, **lane):
    #  3 ========= 2    lane 2-3 at y=150 (id 3), 300 m long
    #  |   [B]?    |
    #  0 --------- 1    main road 0-1 at y=0 (id 1); sides 1-2 (id 2), 3-0 (id 4)
    nodes = {0: (0, 0), 1: (300, 0), 2: (300, 150), 3: (0, 150)}
    return geo.graph(
        nodes, [(1, 0, 1), (2, 1, 2), (3, 2, 3, {"is_fire_lane": True, **lane}), (4, 3, 0)]
    )


def test_only_a_narrow_lane_nearby_means_no_truck_access(geo):
    G = _ring(geo, width_m=3.0)
    b = _buildings(geo, ("B", (140, 170, 160, 190), 10.0, "other"))  # 20 m beyond the lane
    [r] = check_buildings(G, b)
    assert not r.truck_access and r.access_gap_m is None
    assert _codes(r) == ["LANE_TOO_NARROW", "NO_TRUCK_ACCESS"]
    narrow = next(p for p in r.problems if p.code == "LANE_TOO_NARROW")
    assert narrow.edges == (3,) and narrow.label_zh == "消防车道净宽不足"
    assert "3 m wide" in narrow.message


def test_low_and_steep_lanes_are_reported(geo):
    G = _ring(geo, maxheight_m=3.5, slope_pct=12.0)
    b = _buildings(geo, ("B", (140, 170, 160, 190), 10.0, "other"))
    [r] = check_buildings(G, b)
    assert {"LANE_LOW_CLEARANCE", "LANE_TOO_STEEP", "NO_TRUCK_ACCESS"} <= set(_codes(r))


def test_blocked_fire_lane_is_reported_and_breaks_the_ring(geo):
    b = _buildings(geo, ("B", (140, 50, 160, 100), 10.0, "other"))  # 50 m from both
    [open_ring] = check_buildings(_ring(geo), b)
    assert open_ring.ok and open_ring.access_edges == (1, 3)
    G = _ring(geo, blocked=True)
    [r] = check_buildings(G, b)
    assert r.truck_access and r.access_edges == (1,)
    assert "LANE_BLOCKED" in _codes(r)
    assert "SINGLE_ACCESS" in _codes(r)  # with the lane blocked the ring is a dead-end road
    # the same as a what-if, without touching the graph
    G = _ring(geo)
    before = geo.snapshot(G)
    [w] = check_buildings(G, b, closed_edges={3})
    assert _codes(w) == _codes(r)
    assert geo.snapshot(G) == before


def test_fire_lane_too_close_to_the_wall(geo):
    b = _buildings(geo, ("B", (140, 106, 160, 145), 10.0, "other"))  # lane edge 1.5 m away
    [r] = check_buildings(_ring(geo), b)
    assert _codes(r) == ["LANE_TOO_CLOSE"]
    assert r.access_gap_m == pytest.approx(1.5, abs=0.05)
    loose = dataclasses.replace(DEFAULTS, lane_min_wall_distance_m=1.0)
    [r] = check_buildings(_ring(geo), b, settings=loose)
    assert "LANE_TOO_CLOSE" not in _codes(r)


def _spur(geo):
    #  0 ---- 1 ---- 2      spur 1-2 (id 5) ends at dead end 2
    #  |      |    [B]
    #  3 ---- 4
    nodes = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (0, -100), 4: (100, -100)}
    return geo.graph(nodes, [(1, 0, 1), (2, 1, 4), (3, 4, 3), (4, 3, 0), (5, 1, 2)])


@pytest.mark.parametrize(
    ("height", "turnaround", "heavy", "expected"),
    [
        (10.0, None, False, ["DEAD_END_NO_TURNAROUND", "SINGLE_ACCESS"]),
        (10.0, 12.0, False, ["SINGLE_ACCESS"]),
        (10.0, 12.0, True, ["SINGLE_ACCESS", "TURNAROUND_TOO_SMALL"]),  # heavy: 18 x 18 m
        (30.0, 12.0, False, ["SINGLE_ACCESS", "TURNAROUND_TOO_SMALL"]),  # high-rise: 15 x 15 m
        (30.0, 15.0, False, ["SINGLE_ACCESS"]),
    ],
)
def test_dead_end_needs_a_turnaround_sized_for_the_building(
    geo, height, turnaround, heavy, expected
):
    G = _spur(geo)
    b = _buildings(geo, ("B", (170, -30, 190, -10), height, "residential"))  # 10 m from the spur
    turnarounds = {2: turnaround} if turnaround else None
    [r] = check_buildings(G, b, turnarounds=turnarounds, heavy_apparatus=heavy)
    assert _codes(r) == expected
    single = next(p for p in r.problems if p.code == "SINGLE_ACCESS")
    assert single.nodes == (1, 2) and "cuts off 1 node" in single.message


def test_building_on_the_loop_has_no_dead_end_problem(geo):
    b = _buildings(geo, ("B", (30, -70, 70, -30), 10.0, "residential"))
    [r] = check_buildings(_spur(geo), b)
    assert r.ok


def test_passable_compound_behind_a_narrow_gate_is_unreachable(geo):
    #  0 ------ 5 ------ 1     main road (ids 1, 2)
    #           :              gate 5-6 is 3 m wide (id 3)
    #           6 ------ 7     compound road (id 4)
    #                  [B]
    nodes = {0: (0, 0), 5: (150, 0), 1: (300, 0), 6: (150, -150), 7: (300, -150)}
    G = geo.graph(nodes, [(1, 0, 5), (2, 5, 1), (3, 5, 6, {"width_m": 3.0}), (4, 6, 7)])
    b = _buildings(geo, ("B", (250, -190, 290, -170), 10.0, "other"))
    [r] = check_buildings(G, b)
    assert not r.truck_access
    no_access = next(p for p in r.problems if p.code == "NO_TRUCK_ACCESS")
    assert "road 4 cannot be reached from the network" in no_access.message
    [r] = check_buildings(G, b, sources=[6])  # e.g. a micro fire station inside
    assert r.truck_access


def test_hydrants_counted_within_radius_and_crs_handled(geo):
    G = lattice_graph(2, 3)
    b = _buildings(geo, ("B", (30, -70, 70, -30), 10.0, "other"))
    far = gpd.GeoDataFrame(geometry=[Point(geo.pt(50, 200)), Point(geo.pt(350, -50))], crs=4326)
    [r] = check_buildings(G, b, hydrants=far.to_crs(3857))
    assert r.hydrants_in_range == 0
    assert r.nearest_hydrant_m == pytest.approx(230.0, abs=0.1)
    assert _codes(r) == ["NO_HYDRANT_IN_RANGE"]
    assert "nearest 230 m" in r.problems[0].message
    near = [geo.pt(50, 100), geo.pt(150, -50), geo.pt(50, -200)]  # 130, 80, 130 m away
    [r] = check_buildings(G, b, hydrants=near)
    assert (r.hydrants_in_range, r.ok) == (3, True)
    [r] = check_buildings(G, b)
    assert r.hydrants_in_range is None and r.nearest_hydrant_m is None


def test_reports_follow_input_order_and_use_the_index_without_id(geo):
    G = lattice_graph(2, 3)
    b = _buildings(
        geo, ("x", (30, -70, 70, -30), 10.0, "other"), ("y", (130, -70, 170, -30), 10.0, "other")
    )
    b = b.drop(columns="id").set_index(gpd.pd.Index([11, 12]))
    assert [r.building_id for r in check_buildings(G, b)] == [11, 12]
