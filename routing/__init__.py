"""FireTwin routing: pure graph code on the road network (networkx; no SQL, no HTTP).

=================  ===================================================================
``graph``          `build_graph` from road_edge rows (the graph contract), lattices
``weights``        weight functions: `TRUCK`, `CAR`, `weight_for`, `closing` (what-ifs)
``snap``           `SnapIndex`, `snap_point`: points onto edges as virtual nodes
``responders``     `route`, `nearest_stations` (+ coverage functions re-exported)
``coverage``       `coverage`, `band_polygons`, `first_due_areas`
``isochrones``     `station_rings`, `first_due_polygons`: per-station polygons for layers
``topology``       `dead_ends`, `single_access_roads`
``fire_lanes``     `check_buildings`: per-building fire access report
``patrols``        `plan_patrol`: ordered patrol lists split into shifts
``siting``         `suggest_stations`: greedy maximal-coverage sites for new stations
``settings``       `RoutingSettings`: thresholds with their fire-code clauses
``errors``         `RoutingError`, `UnreachableError`, `SnapError`, `GraphContractError`
=================  ===================================================================
"""

from routing.coverage import band_polygons, coverage, first_due_areas
from routing.errors import GraphContractError, RoutingError, SnapError, UnreachableError
from routing.fire_lanes import BuildingReport, Problem, check_buildings
from routing.graph import build_graph, lattice_edges, lattice_graph, validate_graph
from routing.isochrones import FirstDueArea, Ring, first_due_polygons, station_rings
from routing.paths import Route
from routing.patrols import PatrolPlan, Stop, plan_patrol
from routing.responders import StationETA, nearest_stations, route
from routing.settings import DEFAULTS, RoutingSettings
from routing.siting import SitingChoice, suggest_stations
from routing.snap import Snap, SnapIndex, snap_point
from routing.topology import dead_ends, single_access_roads
from routing.weights import (
    CAR,
    TRUCK,
    car_weight,
    closing,
    truck_weight,
    weight_for,
    weight_key,
)

__all__ = [
    "CAR",
    "DEFAULTS",
    "TRUCK",
    "BuildingReport",
    "FirstDueArea",
    "GraphContractError",
    "PatrolPlan",
    "Problem",
    "Ring",
    "Route",
    "RoutingError",
    "RoutingSettings",
    "SitingChoice",
    "Snap",
    "SnapError",
    "SnapIndex",
    "StationETA",
    "Stop",
    "UnreachableError",
    "band_polygons",
    "build_graph",
    "car_weight",
    "check_buildings",
    "closing",
    "coverage",
    "dead_ends",
    "first_due_areas",
    "first_due_polygons",
    "lattice_edges",
    "lattice_graph",
    "nearest_stations",
    "plan_patrol",
    "route",
    "single_access_roads",
    "snap_point",
    "station_rings",
    "suggest_stations",
    "truck_weight",
    "validate_graph",
    "weight_for",
    "weight_key",
]
