"""Pure builders of the demo generator (no database): layout, calendar, geometry, roads."""

from __future__ import annotations

from datetime import datetime

import networkx as nx
import numpy as np
import pytest
import shapely

from gis.demo import clock
from gis.demo.context import District, World
from gis.demo.geo import voronoi_split
from gis.demo.layout import plan_world
from gis.demo.rand import rng_for
from gis.demo.regions import build_regions
from gis.demo.road_attrs import edge_attributes, network_frames
from gis.demo.roads import build_network


def test_one_district_up_to_scale_one_then_more():
    (small,) = plan_world(3, 0.05)
    assert small.density == 0.05
    assert abs(small.polygon.area / 1e6 - 506) < 1
    plans = plan_world(3, 2.5)
    assert len(plans) == 3
    assert all(abs(p.density - 2.5 / 3) < 1e-12 for p in plans)
    assert all(300 < p.polygon.area / 1e6 < 750 for p in plans)
    assert plans[1].neighbours == (0,)
    union = shapely.union_all([p.polygon for p in plans])
    assert abs(union.area - sum(p.polygon.area for p in plans)) < 1.0  # no overlaps
    for bad in (0, -1, 5_000):
        with pytest.raises(ValueError, match="scale"):
            plan_world(3, bad)


def test_rng_streams_are_reproducible_and_independent():
    a = rng_for(5, 0, "units").random(4)
    assert np.array_equal(a, rng_for(5, 0, "units").random(4))
    assert not np.array_equal(a, rng_for(5, 0, "hazards").random(4))
    assert not np.array_equal(a, rng_for(5, 1, "units").random(4))
    assert not np.array_equal(a, rng_for(6, 0, "units").random(4))


def test_calendar():
    friday = int(datetime(2026, 6, 26, 10, 0, tzinfo=clock.TZ).timestamp())
    wednesday = int(datetime(2026, 7, 1, 10, 0, tzinfo=clock.TZ).timestamp())
    assert clock.add_working_days(np.array([friday, -1]), 3).tolist() == [wednesday, -1]
    assert clock.N_DAYS == 1826
    w = clock.day_weights("heating")
    days = clock.START_S + np.arange(clock.N_DAYS) * clock.DAY
    month = np.array([datetime.fromtimestamp(t, clock.TZ).month for t in days])
    assert w[month == 1].mean() > 10 * w[month == 7].mean()
    d = clock.sample_days(np.random.default_rng(1), "festival", 2_000)
    assert d.min() >= 0 and d.max() < clock.N_DAYS
    ts = clock.timestamps(np.array([clock.REF_S, -1]))
    assert str(ts[0]) == "2026-06-30 16:00:00+00:00"
    assert ts.isna().tolist() == [False, True]


def test_voronoi_split_tiles_its_parent():
    parent = shapely.Polygon([(0, 0), (1000, 0), (1200, 800), (300, 1100), (-100, 600)])
    seeds = np.random.default_rng(0).uniform(0, 900, size=(9, 2))
    cells = [c for c in voronoi_split(parent, seeds) if c is not None]
    assert abs(sum(c.area for c in cells) - parent.area) < 1e-6 * parent.area
    assert shapely.union_all(cells).symmetric_difference(parent).area < 1e-6 * parent.area


@pytest.fixture(scope="module")
def network():
    plan = plan_world(11, 0.05)[0]
    d = District(World(seed=11, scale=0.05), plan, "150402", "", "")
    r = build_regions(d, plan.polygon)
    net, _ports = build_network(d, r)
    attrs = edge_attributes(d.rng("road-attrs"), net, r)
    nodes, edges, _ = network_frames(d, net, attrs)
    return r, net, nodes, edges


def test_network_shape(network):
    r, _net, nodes, edges = network
    assert 2_500 < len(edges) < 8_000
    assert shapely.contains_xy(r.district, nodes["_x"], nodes["_y"]).all()
    g = nx.DiGraph()
    for s, t, ow, kind in zip(edges.source, edges.target, edges.oneway, edges._kind, strict=True):
        if kind == "isolated":
            continue
        g.add_edge(s, t)
        if not ow:
            g.add_edge(t, s)
    assert nx.is_strongly_connected(g)
    assert (edges._kind == "isolated").sum() == 4
    assert set(edges.road_class) == {
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "residential",
        "service",
        "lane",
    }


def test_network_is_deterministic(network):
    _, net, _, _ = network
    plan = plan_world(11, 0.05)[0]
    d = District(World(seed=11, scale=0.05), plan, "150402", "", "")
    again, _ = build_network(d, build_regions(d, plan.polygon))
    assert again.x == net.x and again.u == net.u and again.cls == net.cls
