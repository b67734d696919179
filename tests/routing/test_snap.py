"""Snapping points onto edges: proportional split, one-way legs, passable edges only."""

from __future__ import annotations

import pytest

from routing.errors import RoutingError, SnapError
from routing.graph import lattice_graph
from routing.responders import route
from routing.snap import SnapIndex, direct_leg, locate, node_snap, snap_point
from routing.weights import CAR, TRUCK

# A 200 m road 0 - 1 (20 s at 10 m/s), drawn west to east:
#
#     0 --------------------- 1
NODES = {0: (0.0, 0.0), 1: (200.0, 0.0)}


def _legs(legs):
    return sorted((leg.node, round(leg.cost, 6), round(leg.length_m, 6)) for leg in legs)


def test_split_costs_are_proportional_on_a_two_way_road(geo):
    G = geo.graph(NODES, [(1, 0, 1)])
    s = snap_point(G, geo.pt(50, 12))  # 25 % along, 12 m north of the road
    assert s.edge == (0, 1, 1)
    assert s.fraction == pytest.approx(0.25, abs=1e-6)
    assert s.distance_m == pytest.approx(12.0, abs=0.01)
    assert _legs(s.out) == [(0, 5.0, 50.0), (1, 15.0, 150.0)]
    assert _legs(s.into) == [(0, 5.0, 50.0), (1, 15.0, 150.0)]
    on_road = geo.proj.point(*s.location)
    assert (on_road.x, on_road.y) == pytest.approx((50.0, 0.0), abs=0.01)


def test_leg_geometries_run_from_the_snap_to_the_nodes(geo):
    G = geo.graph(NODES, [(1, 0, 1)])
    s = snap_point(G, geo.pt(50, 0))
    to_1 = next(leg for leg in s.out if leg.node == 1)
    from_0 = next(leg for leg in s.into if leg.node == 0)
    assert to_1.geometry.coords[0] == pytest.approx(s.location)
    assert to_1.geometry.coords[-1] == pytest.approx((G.nodes[1]["x"], G.nodes[1]["y"]))
    assert from_0.geometry.coords[-1] == pytest.approx(s.location)


def test_asymmetric_costs_split_per_direction(geo):
    G = geo.graph(NODES, [(1, 0, 1, {"cost": 20.0, "reverse_cost": 60.0})])
    s = snap_point(G, geo.pt(50, 0))
    out = {leg.node: leg.cost for leg in s.out}
    assert out == pytest.approx({1: 15.0, 0: 15.0})  # 75 % of 20 s east, 25 % of 60 s west
    into = {leg.node: leg.cost for leg in s.into}
    assert into == pytest.approx({0: 5.0, 1: 45.0})


def test_one_way_road_has_one_leg_each_way(geo):
    G = geo.graph(NODES, [(1, 0, 1, {"reverse_cost": -1})])  # 0 ---> 1
    s = snap_point(G, geo.pt(50, 0))
    assert _legs(s.out) == [(1, 15.0, 150.0)]
    assert _legs(s.into) == [(0, 5.0, 50.0)]


def test_truck_skips_a_narrow_nearer_road_car_does_not(geo):
    #  2 ----- 3     lane 2-3 is 3 m wide, 10 m from the point
    #     *
    #
    #  0 ----- 1     main road 0-1, 30 m from the point
    nodes = {0: (0, 0), 1: (200, 0), 2: (0, 40), 3: (200, 40)}
    G = geo.graph(nodes, [(1, 0, 1), (2, 2, 3, {"width_m": 3.0})])
    p = geo.pt(100, 30)
    assert snap_point(G, p, weight=CAR).edge == (2, 3, 2)
    truck = snap_point(G, p, weight=TRUCK)
    assert truck.edge == (0, 1, 1)
    assert truck.distance_m == pytest.approx(30.0, abs=0.01)


def test_blocked_road_is_not_snapped_to(geo):
    nodes = {0: (0, 0), 1: (200, 0), 2: (0, 40), 3: (200, 40)}
    G = geo.graph(nodes, [(1, 0, 1), (2, 2, 3, {"blocked": True})])
    assert snap_point(G, geo.pt(100, 30), weight=CAR).edge == (0, 1, 1)


def test_far_point_raises_snap_error(geo):
    G = geo.graph(NODES, [(1, 0, 1)])
    with pytest.raises(SnapError, match="No passable road within 100 m"):
        snap_point(G, geo.pt(100, 150), max_distance_m=100)
    assert snap_point(G, geo.pt(100, 150), max_distance_m=200).distance_m == pytest.approx(
        150, abs=0.1
    )


def test_direct_leg_on_the_same_road(geo):
    G = geo.graph(NODES, [(1, 0, 1)])
    a, b = snap_point(G, geo.pt(40, 0)), snap_point(G, geo.pt(160, 0))
    assert direct_leg(a, b).cost == pytest.approx(12.0)
    assert direct_leg(b, a).cost == pytest.approx(12.0)
    r = route(G, geo.pt(40, 0), geo.pt(160, 0))
    assert r.travel_time_s == pytest.approx(12.0)
    assert r.distance_m == pytest.approx(120.0)
    assert r.nodes == ()


def test_one_way_same_road_backwards_goes_around(geo):
    #  0 ------> 1      one-way 0 -> 1 (200 m); way back 1 -> 2 -> 0 (2 x 100 m... via a detour)
    #   \       /
    #    \     /
    #      2
    nodes = {0: (0, 0), 1: (200, 0), 2: (100, -100)}
    G = geo.graph(nodes, [(1, 0, 1, {"reverse_cost": -1}), (2, 1, 2), (3, 2, 0)])
    a, b = snap_point(G, geo.pt(160, 0)), snap_point(G, geo.pt(40, 0))
    assert direct_leg(a, b) is None
    r = route(G, geo.pt(160, 0), geo.pt(40, 0))
    # 40 m east to 1, 141.4 m to 2, 141.4 m to 0, 40 m east to b: 36.28 s
    assert r.nodes == (1, 2, 0)
    assert r.travel_time_s == pytest.approx(4 + 2 * 14.1421 + 4, abs=1e-3)
    assert r.geometry.coords[0] == pytest.approx(a.location)
    assert r.geometry.coords[-1] == pytest.approx(b.location)


def test_locate_accepts_nodes_points_and_snaps(geo):
    G = geo.graph(NODES, [(1, 0, 1)])
    s = snap_point(G, geo.pt(50, 0))
    assert locate(G, s) is s
    assert locate(G, 1) == node_snap(G, 1)
    assert locate(G, geo.pt(50, 0)).fraction == pytest.approx(0.25, abs=1e-6)
    with pytest.raises(Exception, match="neither a node"):
        locate(G, "nope")


def test_index_is_reused_but_must_belong_to_the_graph(geo):
    G = geo.graph(NODES, [(1, 0, 1)])
    index = SnapIndex(G)
    assert len(index.edges) == 1  # the back edge of a two-way road shares the entry
    assert snap_point(G, geo.pt(50, 0), index=index).edge == (0, 1, 1)
    with pytest.raises(RoutingError, match="another graph"):
        snap_point(lattice_graph(1, 2), geo.pt(50, 0), index=index)


def test_invalid_point_raises(geo):
    G = geo.graph(NODES, [(1, 0, 1)])
    with pytest.raises(RoutingError, match="lon/lat"):
        snap_point(G, (200.0, 95.0))


def test_point_on_a_node_is_that_node_even_on_a_one_way_edge(geo):
    #  0 ----> 1 <---- 2     two one-way roads meeting at 1; then 1 -> 3 onwards
    #          |
    #          3
    nodes = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (100, -100)}
    one_way = {"reverse_cost": -1}
    G = geo.graph(nodes, [(1, 0, 1, one_way), (2, 2, 1, one_way), (3, 1, 3, one_way)])
    s = snap_point(G, geo.pt(100, 0))
    assert any(leg.node == 1 and leg.cost == 0 for leg in s.out)
    assert any(leg.node == 1 and leg.cost == 0 for leg in s.into)
    assert route(G, geo.pt(100, 0), 3).travel_time_s == pytest.approx(10.0)
    assert route(G, 2, geo.pt(100, 0)).travel_time_s == pytest.approx(10.0)
