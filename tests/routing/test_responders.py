"""Responder routing, nearest stations, coverage, band polygons, first-due areas, what-ifs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from routing.coverage import band_polygons, coverage, first_due_areas
from routing.errors import SnapError, UnreachableError
from routing.graph import build_graph, lattice_edges, lattice_graph
from routing.responders import nearest_stations, route
from routing.snap import SnapIndex, snap_point
from routing.weights import CAR, TRUCK, closing, truck_weight

# A 3 x 3 lattice of 100 m, 10 s roads; edge ids in brackets:
#
#   0 -[1]- 1 -[3]- 2
#   |       |       |
#  [2]     [4]     [5]
#   |       |       |
#   3 -[6]- 4 -[8]- 5
#   |       |       |
#  [7]     [9]    [10]
#   |       |       |
#   6 -[11]- 7 -[12]- 8


def test_route_respects_one_way(geo):
    e = lattice_edges(1, 3)  # 0 -[1]- 1 -[2]-> 2, with a 3-edge detour nowhere: line only
    e.loc[e.id == 2, "reverse_cost"] = -1
    G = build_graph(e)
    assert route(G, 0, 2).travel_time_s == 20.0
    with pytest.raises(UnreachableError):
        route(G, 2, 0)


def test_truck_avoids_narrow_and_low_roads_car_does_not():
    e = lattice_edges(3, 3)
    e.loc[e.id == 4, "width_m"] = 3.0  # 1-4 too narrow for a truck
    e.loc[e.id == 9, "maxheight_m"] = 3.2  # 4-7 under a low bridge
    G = build_graph(e)
    car = route(G, 1, 7, weight=CAR)
    assert car.travel_time_s == 20.0 and car.nodes == (1, 4, 7)
    truck = route(G, 1, 7, weight=TRUCK)
    assert truck.travel_time_s == 40.0
    assert not {(1, 4), (4, 1), (4, 7), (7, 4)} & {e[:2] for e in truck.edges}
    small_engine = truck_weight(min_width_m=2.5, min_height_m=3.0, respect_truck_ok=False)
    assert route(G, 1, 7, weight=small_engine).travel_time_s == 20.0


def test_node_boxed_in_for_trucks_is_unreachable_for_them_only():
    e = lattice_edges(3, 3)
    e.loc[e.id == 1, "width_m"] = 3.0  # 0-1 narrow
    e.loc[e.id == 2, "maxheight_m"] = 3.2  # 0-3 low
    G = build_graph(e)
    assert route(G, 4, 0, weight=CAR).travel_time_s == 20.0
    with pytest.raises(UnreachableError):
        route(G, 4, 0, weight=TRUCK)


def test_blocked_road_avoided_and_what_if_closure_does_not_mutate(geo):
    G = lattice_graph(3, 3)
    before = geo.snapshot(G)
    assert route(G, 0, 2).travel_time_s == 20.0
    r = route(G, 0, 2, weight=closing(TRUCK, {3}))  # close 1-2
    assert r.travel_time_s == 40.0 and (1, 2) not in list(zip(r.nodes, r.nodes[1:], strict=False))
    assert geo.snapshot(G) == before
    e = lattice_edges(3, 3)
    e.loc[e.id == 3, "blocked"] = True
    assert route(build_graph(e), 0, 2, weight=CAR).travel_time_s == 40.0


def test_route_between_points_includes_partial_edges(geo):
    G = lattice_graph(3, 3)
    x0, x1, y0 = G.nodes[0]["x"], G.nodes[1]["x"], G.nodes[0]["y"]
    x2 = G.nodes[2]["x"]
    a = (x0 + 0.2 * (x1 - x0), y0)  # 20 m east of 0 on road 0-1
    b = (x1 + 0.7 * (x2 - x1), y0)  # 70 m east of 1 on road 1-2
    r = route(G, a, b)
    assert r.travel_time_s == pytest.approx(15.0, abs=1e-6)
    assert r.distance_m == pytest.approx(150.0, abs=1e-3)
    assert r.nodes == (1,)
    assert r.geometry.coords[0] == pytest.approx(a)
    assert r.geometry.coords[-1] == pytest.approx(b)


def _alarm(G, u, v, t):
    xu, yu, xv, yv = G.nodes[u]["x"], G.nodes[u]["y"], G.nodes[v]["x"], G.nodes[v]["y"]
    return (xu + t * (xv - xu), yu + t * (yv - yu))


def test_nearest_stations_order_eta_and_standard():
    G = lattice_graph(3, 3)
    alarm = _alarm(G, 4, 5, 0.3)  # on road 4-5, 30 m from 4: 3 s from 4, 7 s from 5
    res = nearest_stations(
        G, alarm, {"far": 6, "mid": 2, "near": 4}, k=3, turnout_s=60, standard_s=80
    )
    assert [r.station_id for r in res] == ["near", "mid", "far"]
    assert [r.travel_time_s for r in res] == pytest.approx([3.0, 17.0, 23.0])
    assert [r.eta_s for r in res] == pytest.approx([63.0, 77.0, 83.0])
    assert [r.meets_standard for r in res] == [True, True, False]
    assert [r.distance_m for r in res] == pytest.approx([30.0, 170.0, 230.0])
    assert res[1].geometry.coords[0] == pytest.approx((G.nodes[2]["x"], G.nodes[2]["y"]))
    assert res[1].geometry.coords[-1] == pytest.approx(alarm)
    assert [r.station_id for r in nearest_stations(G, alarm, {"far": 6, "mid": 2}, k=1)] == ["mid"]


def test_unreachable_stations_flagged_and_none_reachable_raises(geo):
    # main block 0-1-2-3 (square) and an island road 4-5 far away
    nodes = {0: (0, 0), 1: (100, 0), 2: (100, 100), 3: (0, 100), 4: (500, 0), 5: (600, 0)}
    G = geo.graph(nodes, [(1, 0, 1), (2, 1, 2), (3, 2, 3), (4, 3, 0), (5, 4, 5)])
    res = nearest_stations(
        G, geo.pt(50, 0), {"island": 4, "home": 2, "off": geo.pt(5000, 0)}, include_unreachable=True
    )
    assert [(r.station_id, r.reachable) for r in res] == [
        ("home", True),
        ("island", False),
        ("off", False),
    ]
    assert "no route" in res[1].reason and "off the passable network" in res[2].reason
    assert res[1].travel_time_s is None and res[1].meets_standard is False
    assert [r.station_id for r in nearest_stations(G, geo.pt(50, 0), {"island": 4, "home": 2})] == [
        "home"
    ]
    with pytest.raises(UnreachableError, match="None of the 1 stations"):
        nearest_stations(G, geo.pt(50, 0), {"island": 4})
    with pytest.raises(SnapError):
        nearest_stations(G, geo.pt(50, 3000), {"home": 2})


def test_station_and_alarm_on_the_same_road(geo):
    G = geo.graph({0: (0, 0), 1: (200, 0)}, [(1, 0, 1)])
    [r] = nearest_stations(G, geo.pt(150, 0), {"s": geo.pt(20, 0)})
    assert r.travel_time_s == pytest.approx(13.0, abs=1e-6)
    assert r.distance_m == pytest.approx(130.0, abs=1e-3)


def test_what_if_station_added_removed_and_road_closed(geo):
    G = lattice_graph(3, 3)
    before = geo.snapshot(G)
    alarm = _alarm(G, 7, 8, 0.5)
    stations = {"A": 0, "B": 2}
    base = nearest_stations(G, alarm, stations, k=1)[0]
    assert (base.station_id, base.travel_time_s) == ("B", pytest.approx(25.0))
    added = nearest_stations(G, alarm, {**stations, "new": 6}, k=1)[0]
    assert (added.station_id, added.travel_time_s) == ("new", pytest.approx(15.0))
    removed = nearest_stations(G, alarm, {"A": 0}, k=1)[0]
    assert removed.travel_time_s == pytest.approx(35.0)
    closed = nearest_stations(G, alarm, stations, k=2, weight=closing(TRUCK, {10}))  # 5-8
    assert [r.travel_time_s for r in closed] == pytest.approx([35.0, 35.0])
    assert geo.snapshot(G) == before


def test_coverage_bands_nested_and_closures_shrink():
    G = lattice_graph(3, 3)
    cov = coverage(G, {"S": 0, "T": 8}, bands_s=(20, 10, 40))
    s = cov["S"]
    assert list(s) == [10.0, 20.0, 40.0]
    assert s[10.0] <= s[20.0] <= s[40.0]
    assert s[10.0] == {0, 1, 3}
    assert s[20.0] == {0, 1, 2, 3, 4, 6}
    assert s[40.0] == set(G)
    closed = coverage(G, {"S": 0}, bands_s=(20,), weight=closing(TRUCK, {1}))["S"][20.0]
    assert closed == {0, 3, 4, 6}


def test_coverage_from_a_point_station_uses_partial_costs():
    G = lattice_graph(3, 3)
    station = _alarm(G, 0, 1, 0.3)  # 30 m east of 0: 3 s to 0, 7 s to 1
    s = coverage(G, {"S": station}, bands_s=(5, 8, 14))["S"]
    assert s[5.0] == {0}
    assert s[8.0] == {0, 1}
    assert s[14.0] == {0, 1, 3}  # 3 at 13 s; 2 and 4 at 17 s


def test_band_polygons_nested_and_shrink_with_closure(geo):
    G = lattice_graph(3, 3)
    polys = band_polygons(G, {"S": 0}, bands_s=(10, 20, 40), buffer_m=20)
    areas = [geo.proj.to_metric(polys[b]).area for b in (10.0, 20.0, 40.0)]
    assert areas[0] < areas[1] < areas[2]
    assert polys[20.0].buffer(1e-9).contains(polys[10.0])
    node_8 = (G.nodes[8]["x"], G.nodes[8]["y"])
    from shapely.geometry import Point

    assert polys[40.0].contains(Point(node_8)) and not polys[20.0].contains(Point(node_8))
    closed = band_polygons(G, {"S": 0}, bands_s=(20,), buffer_m=20, weight=closing(TRUCK, {1}))
    assert geo.proj.to_metric(closed[20.0]).area < areas[1]


def test_first_due_areas_partition_matches_brute_force():
    G = lattice_graph(4, 4)
    stations = {"A": 0, "B": 15, "C": 6}
    areas, unreachable = first_due_areas(G, stations)
    assert unreachable == set()
    assert set().union(*areas.values()) == set(G)
    assert sum(len(a) for a in areas.values()) == G.number_of_nodes()  # disjoint
    for sid, nodes in areas.items():
        for n in nodes:
            own = nx.dijkstra_path_length(G, stations[sid], n, weight="travel_time_s")
            best = min(
                nx.dijkstra_path_length(G, s, n, weight="travel_time_s") for s in stations.values()
            )
            assert own == best


def test_first_due_areas_with_closure_reports_unreachable(geo):
    G = lattice_graph(1, 4)  # 0 -[1]- 1 -[2]- 2 -[3]- 3
    areas, unreachable = first_due_areas(G, {"A": 0}, weight=closing(TRUCK, {2}))
    assert areas == {"A": {0, 1}} and unreachable == {2, 3}


# ------------------------------------------------------------------ 30 x 30 brute force


def _split_edge(H, snap, name):
    """Insert `name` into H at `snap` by physically splitting its road (brute force)."""
    u, v, k = snap.edge
    t = snap.fraction
    for a, b in ((u, v), (v, u)):
        if H.has_edge(a, b, k):
            c = H.edges[a, b, k]["travel_time_s"]
            frac = t if a == u else 1 - t
            H.add_edge(a, name, travel_time_s=frac * c)
            H.add_edge(name, b, travel_time_s=(1 - frac) * c)
            H.remove_edge(a, b, k)


def test_nearest_stations_match_brute_force_on_a_30x30_grid():
    rng = np.random.default_rng(7)
    e = lattice_edges(30, 30)
    e["cost"] = rng.uniform(5, 25, len(e)).round(2)
    e["reverse_cost"] = np.where(
        rng.random(len(e)) < 0.15, -1.0, e["cost"] * rng.uniform(0.8, 1.2, len(e))
    )
    e["blocked"] = rng.random(len(e)) < 0.03
    e["width_m"] = np.where(rng.random(len(e)) < 0.05, 3.0, 7.0)
    G = build_graph(e)
    index = SnapIndex(G)
    weight = TRUCK
    H = nx.MultiDiGraph()
    H.add_nodes_from(G)
    H.add_edges_from(
        (u, v, k, {"travel_time_s": weight(u, v, {k: d})})
        for u, v, k, d in G.edges(keys=True, data=True)
        if weight(u, v, {k: d}) is not None
    )
    nodes = list(G)
    station_nodes = {
        f"n{i}": nodes[j] for i, j in enumerate(rng.choice(len(nodes), 6, replace=False))
    }
    used_edges = set()
    point_stations = {}
    while len(point_stations) < 4:
        x, y = rng.uniform(120.58, 120.61), rng.uniform(30.054, 30.08)
        s = snap_point(G, (x, y), weight=weight, index=index)
        key = frozenset(s.edge[:2])
        if key in used_edges or s.fraction in (0.0, 1.0):
            continue
        used_edges.add(key)
        point_stations[f"p{len(point_stations)}"] = (x, y)
        _split_edge(H, s, f"p{len(point_stations) - 1}")
    alarm = None
    while alarm is None:
        x, y = rng.uniform(120.58, 120.61), rng.uniform(30.054, 30.08)
        s = snap_point(G, (x, y), weight=weight, index=index)
        if frozenset(s.edge[:2]) not in used_edges and 0 < s.fraction < 1:
            alarm = (x, y)
            _split_edge(H, s, "ALARM")
    stations = {**station_nodes, **point_stations}
    res = nearest_stations(
        G, alarm, stations, k=len(stations), index=index, include_unreachable=True
    )
    got = {r.station_id: r.travel_time_s for r in res}
    for sid, loc in stations.items():
        source = loc if sid.startswith("n") else sid
        try:
            expected = nx.dijkstra_path_length(H, source, "ALARM", weight="travel_time_s")
        except nx.NetworkXNoPath:
            expected = None
        if expected is None:
            assert got[sid] is None
        else:
            assert got[sid] == pytest.approx(expected, abs=1e-6), sid
    reachable = [r.travel_time_s for r in res if r.reachable]
    assert reachable == sorted(reachable)
    for r in res:
        if r.reachable:  # the reverse search's route equals a forward point-to-point route
            fwd = route(G, stations[r.station_id], alarm, index=index)
            assert r.travel_time_s == pytest.approx(fwd.travel_time_s, abs=1e-6)
            assert r.distance_m == pytest.approx(fwd.distance_m, abs=1e-3)
            assert r.geometry.length == pytest.approx(fwd.geometry.length, rel=1e-9)
            assert r.geometry.coords[-1] == pytest.approx(
                snap_point(G, alarm, index=index).location
            )
    assert sum(r.reachable for r in res) >= 8
    assert len(set(np.round(reachable, 3))) == len(reachable)  # distinct, non-trivial times


def test_first_due_areas_stations_sharing_a_start_node():
    # 0 - 1 - 2 -f-n- 3    stations n and f 20 m and 40 m west of 3 both start from 3
    G = lattice_graph(1, 4)
    x2, x3, y = G.nodes[2]["x"], G.nodes[3]["x"], G.nodes[3]["y"]
    near, far = (x3 - 0.2 * (x3 - x2), y), (x3 - 0.4 * (x3 - x2), y)
    areas, unreachable = first_due_areas(G, {"far": far, "near": near, "hq": 0})
    assert list(areas) == ["far", "near", "hq"]
    assert areas["near"] == {2, 3} and areas["far"] == set()  # near is first at node 3
    assert areas["hq"] == {0, 1} and unreachable == set()


def test_profiles_by_name():
    from routing.errors import RoutingError
    from routing.weights import weight_for

    e = lattice_edges(1, 3)
    e.loc[e.id == 1, "width_m"] = 3.0
    G = build_graph(e)
    assert route(G, 0, 2, weight=weight_for("car")).travel_time_s == 20.0
    with pytest.raises(UnreachableError):
        route(G, 0, 2, weight=weight_for("truck"))
    with pytest.raises(UnreachableError):
        route(G, 0, 2, weight=weight_for("car", closed_edges={2}))
    with pytest.raises(RoutingError, match="Unknown routing profile"):
        weight_for("bike")
