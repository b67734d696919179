"""build_graph: the osmnx-style contract from road_edge rows."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point

from routing.errors import GraphContractError
from routing.graph import build_graph, lattice_edges, lattice_graph, validate_graph


def _rows(**overrides):
    # 0 --[1]--> 1 --[2]-- 2      edge 1 one-way (reverse_cost < 0), edge 2 two-way,
    #                             asymmetric costs 12 s forward, 20 s back
    data = {
        "id": [1, 2],
        "source": [0, 1],
        "target": [1, 2],
        "cost": [10.0, 12.0],
        "reverse_cost": [-1.0, 20.0],
        "length_m": [100.0, 100.0],
        "speed_kph": [36.0, 30.0],
        "width_m": [6.0, None],
        "maxheight_m": [None, 3.5],
        "road_class": ["primary", "lane"],
        "blocked": [False, True],
        "truck_ok": [True, False],
        "is_fire_lane": [False, True],
    }
    data.update(overrides)
    geoms = [
        LineString([(120.000, 30.0), (120.001, 30.0)]),
        LineString([(120.001, 30.0), (120.0015, 30.0003), (120.002, 30.0)]),
    ]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326)


def test_one_way_only_forward_two_way_both_directions():
    G = build_graph(_rows())
    assert sorted(G.edges(keys=True)) == [(0, 1, 1), (1, 2, 2), (2, 1, 2)]
    assert G.edges[0, 1, 1]["oneway"] is True
    assert G.edges[1, 2, 2]["oneway"] is False
    assert G.graph["crs"] == "EPSG:4326"
    validate_graph(G)


def test_costs_attributes_and_reversed_geometry():
    G = build_graph(_rows())
    fwd, back = G.edges[1, 2, 2], G.edges[2, 1, 2]
    assert (fwd["travel_time_s"], back["travel_time_s"]) == (12.0, 20.0)
    assert back["reversed"] is True and fwd["reversed"] is False
    assert list(back["geometry"].coords) == list(fwd["geometry"].coords)[::-1]
    assert fwd["closed"] is True and fwd["truck_ok"] is False and fwd["is_fire_lane"] is True
    assert fwd["width_m"] is None and fwd["maxheight_m"] == 3.5
    assert G.edges[0, 1, 1]["width_m"] == 6.0 and G.edges[0, 1, 1]["closed"] is False
    assert (G.nodes[1]["x"], G.nodes[1]["y"]) == (120.001, 30.0)


def test_oneway_column_wins_over_positive_reverse_cost():
    G = build_graph(_rows(oneway=[False, True]))
    assert not G.has_edge(2, 1)


def test_travel_time_derived_from_speed_when_no_cost():
    rows = _rows().drop(columns=["cost", "reverse_cost"])
    G = build_graph(rows)
    assert G.edges[0, 1, 1]["travel_time_s"] == pytest.approx(10.0)  # 100 m at 36 km/h
    assert G.edges[2, 1, 2]["travel_time_s"] == pytest.approx(12.0)  # 100 m at 30 km/h


def test_geometry_drawn_backwards_is_oriented_source_to_target():
    rows = _rows()
    rows.loc[1, "geometry"] = rows.geometry[1].reverse()  # drawn 2 -> 1, but source is 1
    nodes = pd.DataFrame({"id": [0, 1, 2], "x": [120.0, 120.001, 120.002], "y": [30.0] * 3})
    G = build_graph(rows, nodes=nodes)
    assert G.edges[1, 2, 2]["geometry"].coords[0] == (120.001, 30.0)
    validate_graph(G)


def test_isolated_nodes_kept_and_wkb_geometries_read():
    rows = pd.DataFrame(_rows().drop(columns="geometry"))
    rows["geom"] = [shapely.to_wkb(g, hex=True) for g in _rows().geometry]
    nodes = gpd.GeoDataFrame(
        {"id": [0, 1, 2, 9]},
        geometry=[Point(120.0, 30.0), Point(120.001, 30.0), Point(120.002, 30.0), Point(121, 31)],
        crs=4326,
    )
    G = build_graph(rows, nodes=nodes)
    assert 9 in G and G.degree(9) == 0
    assert G.number_of_edges() == 3


def test_other_crs_is_reprojected():
    G = build_graph(_rows().to_crs(3857))
    assert G.nodes[1]["x"] == pytest.approx(120.001)
    validate_graph(G)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.drop(columns="length_m"), "missing columns"),
        (lambda r: r.assign(id=[1, 1]), "unique"),
        (lambda r: r.drop(columns=["cost", "speed_kph"]), "cost"),
        (lambda r: r.assign(length_m=[-1.0, 5.0]), "non-negative"),
        (lambda r: r.set_geometry([Point(0, 0), Point(1, 1)]), "LineStrings"),
    ],
)
def test_contract_violations_raise(change, message):
    with pytest.raises(GraphContractError, match=message):
        build_graph(change(_rows()))


def test_edge_not_ending_at_its_node_raises():
    nodes = pd.DataFrame({"id": [0, 1, 2], "x": [120.0, 120.01, 120.002], "y": [30.0] * 3})
    with pytest.raises(GraphContractError, match="does not end at node 1"):
        build_graph(_rows(), nodes=nodes)


def test_validate_graph_rejects_missing_attributes():
    G = lattice_graph(1, 2)
    del G.edges[0, 1, 1]["travel_time_s"]
    with pytest.raises(GraphContractError, match="travel_time_s"):
        validate_graph(G)


def test_lattice_is_a_valid_graph_with_metric_lengths():
    # 3 x 3 lattice, 100 m blocks: 12 roads, 24 directed edges
    G = lattice_graph(3, 3)
    validate_graph(G)
    assert (G.number_of_nodes(), G.number_of_edges()) == (9, 24)
    from routing._geo import line_length_m

    for _, _, d in G.edges(data=True):
        assert line_length_m(d["geometry"]) == pytest.approx(100.0, rel=1e-3)
    assert len(lattice_edges(3, 3)) == 12
