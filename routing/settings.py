"""Thresholds used by `routing`, with the code clause each default comes from.

Algorithms never read settings themselves: callers pass values in, and these are only the
defaults of those arguments. Build a variant with ``dataclasses.replace(DEFAULTS, ...)``.
Check the figures against the local fire code before relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULTS", "RoutingSettings"]


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """Fire-code figures and routing defaults (a frozen value object)."""

    # ---------------------------------------------------------------- apparatus and lanes
    truck_min_width_m: float = 4.0
    """Clear width a fire engine needs, m. GB 50016-2014 §7.1.8 item 1 (净宽度 ≥ 4.0 m)."""

    truck_min_height_m: float = 4.0
    """Clear headroom a fire engine needs, m. GB 50016-2014 §7.1.8 item 1 (净空高度 ≥ 4.0 m)."""

    max_slope_pct: float = 8.0
    """Steepest fire-lane grade, %. GB 50016-2014 §7.1.8 item 5 (坡度不宜大于 8%)."""

    lane_min_wall_distance_m: float = 5.0
    """Least gap between a fire lane's edge and the wall, m. GB 50016-2014 §7.1.8 item 4."""

    lane_access_distance_m: float = 60.0
    """Farthest a building may be from a truck-passable lane edge, m.

    Not a code clause: a hose-lay planning assumption (three 20 m hose lengths). Set it
    from local practice.
    """

    highrise_access_distance_m: float = 10.0
    """Farthest a high-rise may be from a passable lane edge, m. GB 50016-2014 §7.2.2
    item 3 (aerial operating site edge 5–10 m from the wall)."""

    highrise_residential_m: float = 27.0
    """Residential buildings taller than this are high-rise, m. GB 50016-2014 §2.1.1, §5.1.1."""

    highrise_other_m: float = 24.0
    """Other buildings taller than this are high-rise, m. GB 50016-2014 §2.1.1, §5.1.1."""

    turnaround_m: float = 12.0
    """Side of the turnaround a dead-end fire lane needs, m. GB 50016-2014 §7.1.9 (12×12 m)."""

    turnaround_highrise_m: float = 15.0
    """Turnaround side for high-rise buildings, m. GB 50016-2014 §7.1.9 (15×15 m)."""

    turnaround_heavy_m: float = 18.0
    """Turnaround side for heavy fire engines, m. GB 50016-2014 §7.1.9 (18×18 m)."""

    # ---------------------------------------------------------------------------- hydrants
    hydrant_radius_m: float = 150.0
    """Protection radius of a municipal hydrant, m. GB 50974-2014 §7.2.5 (≤ 150 m)."""

    hydrant_spacing_m: float = 120.0
    """Largest spacing between municipal hydrants, m. GB 50974-2014 §7.2.5 (≤ 120 m)."""

    # ---------------------------------------------------------------------------- response
    turnout_s: float = 60.0
    """Turnout time, s: 5 min to the district edge = 1 min turnout + 4 min driving.
    GB 51080-2015 §4.1.3, 建标152-2017."""

    turnout_nfpa_s: float = 80.0
    """Turnout time for fire calls under NFPA 1710 §4.1.2.1, s (the alternative standard)."""

    travel_standard_s: float = 240.0
    """Driving time to the district edge, s (GB 51080-2015 §4.1.3; also NFPA 1710 first engine)."""

    response_standard_s: float = 300.0
    """Turnout plus driving, s: the 5-minute standard (GB 51080-2015 §4.1.3, 建标152-2017)."""

    coverage_bands_s: tuple[float, ...] = (240.0, 300.0, 480.0)
    """Travel-time bands for coverage, s: 4 min drive, 5 min, NFPA 1710 full alarm (480 s)."""

    # ------------------------------------------------------------------------------ method
    snap_max_distance_m: float = 1000.0
    """Farthest a point may be from a passable road to be routed from or to, m."""

    band_buffer_m: float = 50.0
    """Half-width of the road buffer that turns reached roads into band polygons, m."""


DEFAULTS = RoutingSettings()
"""The defaults, for use as argument defaults in `routing` functions."""
