"""Build every frame of one district, in the order the database needs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.demo.buildings import build_buildings
from gis.demo.context import District
from gis.demo.enforcement import build_hot_work, build_work_orders
from gis.demo.facilities import build_facilities
from gis.demo.geo import random_points
from gis.demo.history import build_history
from gis.demo.incidents import build_incidents, propensity
from gis.demo.inspections import build_inspections
from gis.demo.regions import build_regions
from gis.demo.road_attrs import connector_frames, edge_attributes, network_frames
from gis.demo.roads import build_network
from gis.demo.sensors import build_sensors
from gis.demo.special_grids import build_special_grids
from gis.demo.stations import build_stations
from gis.demo.units import build_units
from gis.demo.users import build_staff, build_unit_managers

Step = Callable[[str], None]


@dataclass
class DistrictData:
    """The frames of one district, ready to load (``tables`` is in foreign-key order)."""

    tables: list[tuple[str, pd.DataFrame]]
    grids: gpd.GeoDataFrame  # ordinary grid polygons (id, geometry) for grid assignment
    propensity: pd.DataFrame
    region_ids: np.ndarray


def build_district(
    d: District, plans_centres: dict[int, tuple[float, float]], step: Step | None = None
) -> DistrictData:
    """Generate district ``d`` completely in memory (bounded: density ≤ 1 per district)."""

    def say(name: str) -> None:
        if step is not None:
            step(name)

    say("regions")
    r = build_regions(d, d.plan.polygon)
    say("roads")
    net, port_nodes = build_network(d, r)
    attrs = edge_attributes(d.rng("road-attrs"), net, r)
    nodes, edges, node_ids = network_frames(d, net, attrs)
    ports = (node_ids[port_nodes], np.array(net.x)[port_nodes], np.array(net.y)[port_nodes])
    link_nodes, link_edges = connector_frames(d, plans_centres, ports)
    d.world.ports[d.index] = ports
    special = build_special_grids(d, r, edges)
    say("buildings")
    buildings = build_buildings(d, r, edges)
    say("units")
    units = build_units(d, r, buildings, special)
    say("stations and facilities")
    stations, vehicles = build_stations(d, r, nodes, edges)
    facilities = build_facilities(d, r, edges, units)
    sensors, readings = build_sensors(d, units, facilities)
    staff = build_staff(d, r, special)
    managers = build_unit_managers(d, units)
    say("history")
    hist = build_history(d, r, units, edges, buildings, sensors, staff, managers)
    units["colour_code"] = hist.unit_summary["colour_code"].to_numpy()
    colour = units["colour_code"].to_numpy()
    work_orders = build_work_orders(d, hist.hazards)
    inspections = build_inspections(d, r, units, hist.hazards, staff, managers, colour)
    hot_work = build_hot_work(d, units)
    say("incidents")
    prop = propensity(d.rng("propensity"), units, hist.unit_summary)
    fields = _village_fields(d, r)
    incidents = build_incidents(d, units, prop, sensors, edges, fields)

    grids = r.grid_frame.copy()
    grids["worker_user_id"] = staff.grid_worker
    tables: list[tuple[str, pd.DataFrame]] = [
        ("region", r.region_frame),
        ("app_user", staff.users),
        ("grid", grids),
        ("grid", special),
        ("user_grid", staff.user_grid),
        ("road_node", nodes),
        ("road_edge", edges),
        ("road_node", link_nodes),
        ("road_edge", link_edges),
        ("building", buildings),
        ("unit", units),
        ("app_user", managers),
        ("station", stations),
        ("vehicle", vehicles),
        ("facility", facilities),
        ("sensor", sensors),
        ("hazard", hist.hazards),
        ("hazard_event", hist.events),
        ("work_order", work_orders),
        ("inspection", inspections),
        ("hot_work_permit", hot_work),
        ("incident", incidents),
        ("sensor_reading", readings),
    ]
    return DistrictData(
        tables=tables,
        grids=r.grid_frame[["id", "geometry"]],
        propensity=prop,
        region_ids=r.region_frame["id"].to_numpy(),
    )


def _village_fields(d: District, r) -> tuple[np.ndarray, np.ndarray]:
    rng = d.rng("fields")
    xs, ys = [], []
    for ci in np.flatnonzero(r.community_is_village):
        x, y = random_points(rng, r.communities[ci].buffer(-30), 20)
        xs.append(x)
        ys.append(y)
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)
