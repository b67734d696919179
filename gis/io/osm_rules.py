"""How OSM tags become FireTwin attributes: road classes and their defaults, building uses,
POI categories, admin levels, and parsers for OSM's unit-bearing tag values.

The per-class road defaults are design figures from the Chinese codes, used only when a way
has no ``maxspeed``/``width``/``lanes`` tag; pass your own ``RoadRules`` to ``import_osm`` to
use local figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "ADMIN_LEVELS",
    "BUILDING_USES",
    "DEFAULT_ROAD_RULES",
    "EMERGENCY_FACILITIES",
    "ROAD_CLASS_OF_HIGHWAY",
    "UNIT_RULES",
    "ClassDefaults",
    "RoadRules",
    "parse_height_m",
    "parse_int",
    "parse_length_m",
    "parse_speed_kph",
]

# OSM highway=* -> vocab.ROAD_CLASSES. service=alley ways become "lane" (see road_class_of).
ROAD_CLASS_OF_HIGHWAY: MappingProxyType[str, str] = MappingProxyType(
    {
        "motorway": "trunk",
        "motorway_link": "trunk",
        "trunk": "trunk",
        "trunk_link": "trunk",
        "primary": "primary",
        "primary_link": "primary",
        "secondary": "secondary",
        "secondary_link": "secondary",
        "tertiary": "tertiary",
        "tertiary_link": "tertiary",
        "unclassified": "residential",
        "residential": "residential",
        "living_street": "residential",
        "road": "residential",
        "service": "service",
        "track": "lane",
    }
)


@dataclass(frozen=True)
class ClassDefaults:
    """Figures assumed for a road class when the way's tags do not give them."""

    speed_kph: float
    lanes: int | None  # width = lanes × lane width when known
    width_m: float | None = None  # used when lanes is None


@dataclass(frozen=True)
class RoadRules:
    """Defaults and thresholds of the OSM road import.

    - ``classes``: default speed and cross-section per road class. Speeds are the lower end of
      the design speeds of CJJ 37-2012 §3.2.2 for urban roads (expressway 60–100, arterial
      40–60, sub-arterial 30–50, branch 20–40 km/h); service roads and lanes are below the
      branch-road minimum (FireTwin's assumption). Lane counts are typical two-way sections;
      the service-road width 4.0 m is the minimum for main access roads in residential areas
      (GB 50180-2018 §6.0.5), the lane width 3.0 m an assumption for alleys.
    - ``lane_width_m``: 3.5 m per motor lane for design speeds ≤ 60 km/h (CJJ 37-2012 §5.3.2).
    - ``truck_min_width_m``, ``truck_min_height_m``: a fire lane needs a clear width and a
      clear height of at least 4.0 m (GB 50016-2014 §7.1.8); narrower or lower edges get
      ``truck_ok = false``.
    """

    classes: MappingProxyType[str, ClassDefaults] = field(
        default_factory=lambda: MappingProxyType(
            {
                "trunk": ClassDefaults(speed_kph=60.0, lanes=4),
                "primary": ClassDefaults(speed_kph=40.0, lanes=4),
                "secondary": ClassDefaults(speed_kph=30.0, lanes=2),
                "tertiary": ClassDefaults(speed_kph=30.0, lanes=2),
                "residential": ClassDefaults(speed_kph=20.0, lanes=2),
                "service": ClassDefaults(speed_kph=15.0, lanes=None, width_m=4.0),
                "lane": ClassDefaults(speed_kph=10.0, lanes=None, width_m=3.0),
            }
        )
    )
    lane_width_m: float = 3.5
    truck_min_width_m: float = 4.0
    truck_min_height_m: float = 4.0
    min_speed_kph: float = 5.0


DEFAULT_ROAD_RULES = RoadRules()

# building=* -> vocab.BUILDING_USES; values not listed map to "other".
BUILDING_USES: MappingProxyType[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "apartments",
                "residential",
                "house",
                "detached",
                "semidetached_house",
                "terrace",
                "dormitory",
                "bungalow",
                "farm",
                "cabin",
                "houseboat",
                "static_caravan",
            ),
            "residential",
        ),
        **dict.fromkeys(
            ("commercial", "retail", "kiosk", "supermarket", "hotel", "shop", "mall"), "commercial"
        ),
        "office": "office",
        **dict.fromkeys(("industrial", "factory", "manufacture", "workshop"), "industrial"),
        **dict.fromkeys(("warehouse", "storage", "hangar"), "warehouse"),
        **dict.fromkeys(
            (
                "public",
                "civic",
                "government",
                "school",
                "university",
                "college",
                "kindergarten",
                "hospital",
                "clinic",
                "church",
                "cathedral",
                "chapel",
                "mosque",
                "temple",
                "shrine",
                "religious",
                "train_station",
                "transportation",
                "stadium",
                "sports_hall",
                "museum",
                "library",
                "fire_station",
                "theatre",
                "cinema",
                "community_centre",
            ),
            "public",
        ),
        **dict.fromkeys(("mixed", "mixed_use"), "mixed"),
    }
)

# (key, value, category, small_place_type, key_unit_type) — first match wins; "*" any value.
# Key units after 公安部令第61号 art. 13; the nine small places (九小场所) after the seed texts.
UNIT_RULES: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    ("amenity", "hospital", "key_unit", None, "hospital"),
    ("healthcare", "hospital", "key_unit", None, "hospital"),
    ("amenity", "school", "key_unit", None, "school"),
    ("amenity", "college", "key_unit", None, "school"),
    ("amenity", "university", "key_unit", None, "school"),
    ("shop", "mall", "key_unit", None, "mall"),
    ("shop", "department_store", "key_unit", None, "mall"),
    ("shop", "supermarket", "key_unit", None, "mall"),
    ("amenity", "marketplace", "key_unit", None, "mall"),
    ("tourism", "hotel", "key_unit", None, "hotel"),
    ("amenity", "fuel", "key_unit", None, "gas_station"),
    ("amenity", "nursing_home", "key_unit", None, "elderly_home"),
    ("social_facility", "nursing_home", "key_unit", None, "elderly_home"),
    ("social_facility", "assisted_living", "key_unit", None, "elderly_home"),
    ("shop", "wholesale", "key_unit", None, "warehouse"),
    ("man_made", "works", "key_unit", None, "factory"),
    ("industrial", "*", "key_unit", None, "factory"),
    *(
        ("amenity", v, "key_unit", None, "public_venue")
        for v in (
            "theatre",
            "cinema",
            "arts_centre",
            "library",
            "community_centre",
            "conference_centre",
            "exhibition_centre",
            "events_venue",
            "place_of_worship",
        )
    ),
    ("tourism", "museum", "key_unit", None, "public_venue"),
    ("leisure", "stadium", "key_unit", None, "public_venue"),
    ("leisure", "sports_centre", "key_unit", None, "public_venue"),
    *(
        ("amenity", v, "small_place", "small_restaurant", None)
        for v in (
            "restaurant",
            "fast_food",
            "cafe",
            "food_court",
            "bar",
            "pub",
            "ice_cream",
            "biergarten",
        )
    ),
    *(
        ("tourism", v, "small_place", "small_hotel", None)
        for v in ("guest_house", "hostel", "motel", "apartment")
    ),
    *(
        ("amenity", v, "small_place", "small_entertainment", None)
        for v in ("nightclub", "karaoke_box", "casino", "gambling", "stripclub")
    ),
    ("leisure", "amusement_arcade", "small_place", "small_entertainment", None),
    ("leisure", "dance", "small_place", "small_entertainment", None),
    ("amenity", "internet_cafe", "small_place", "small_internet_cafe", None),
    ("shop", "beauty", "small_place", "small_beauty_bath", None),
    ("shop", "hairdresser", "small_place", "small_beauty_bath", None),
    ("shop", "massage", "small_place", "small_beauty_bath", None),
    ("amenity", "public_bath", "small_place", "small_beauty_bath", None),
    ("leisure", "sauna", "small_place", "small_beauty_bath", None),
    ("craft", "*", "small_place", "small_workshop", None),
    ("shop", "car_repair", "small_place", "small_workshop", None),
    *(
        ("amenity", v, "small_place", "small_clinic", None)
        for v in ("clinic", "doctors", "dentist")
    ),
    ("healthcare", "*", "small_place", "small_clinic", None),
    *(
        ("amenity", v, "small_place", "small_school", None)
        for v in (
            "kindergarten",
            "childcare",
            "language_school",
            "music_school",
            "driving_school",
            "training",
            "prep_school",
        )
    ),
    ("shop", "*", "small_place", "small_shop", None),
    ("amenity", "pharmacy", "small_place", "small_shop", None),
    ("office", "*", "general", None, None),
    ("amenity", "bank", "general", None, None),
    ("amenity", "post_office", "general", None, None),
    ("amenity", "townhall", "general", None, None),
    ("amenity", "police", "general", None, None),
)

# emergency=* -> vocab.FACILITY_KINDS
EMERGENCY_FACILITIES: MappingProxyType[str, str] = MappingProxyType(
    {
        "fire_hydrant": "hydrant",
        "fire_extinguisher": "extinguisher",
    }
)

# boundary=administrative admin_level -> vocab.REGION_LEVELS (China: 6 区/县, 8 街道/乡镇,
# 9–10 社区/村). Other levels are not imported.
ADMIN_LEVELS: MappingProxyType[int, str] = MappingProxyType(
    {
        6: "district",
        7: "district",
        8: "street",
        9: "community",
        10: "community",
    }
)

_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_FEET_INCHES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*'\s*(?:(\d+(?:\.\d+)?)\s*(?:\"|''))?\s*$")


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def parse_length_m(value: Any) -> float | None:
    """Metres from an OSM length value: ``3.5``, ``3,5 m``, ``12 ft``, ``12'6"``; else None.

    >>> parse_length_m("3.5"), parse_length_m("4 m"), round(parse_length_m("12'6\\""), 2)
    (3.5, 4.0, 3.81)
    >>> parse_length_m("default") is None
    True
    """
    text = _text(value)
    if text is None:
        return None
    text = text.split(";")[0].strip().lower()
    m = _FEET_INCHES.match(text)
    if m:
        return float(m.group(1)) * 0.3048 + float(m.group(2) or 0) * 0.0254
    n = _NUMBER.search(text)
    if not n:
        return None
    number = float(n.group().replace(",", "."))
    if "ft" in text or "feet" in text:
        number *= 0.3048
    elif "cm" in text:
        number /= 100
    return number if number > 0 else None


def parse_height_m(value: Any) -> float | None:
    """Metres from an OSM height/maxheight value (``none``/``default``/``below_default`` → None)."""
    return parse_length_m(value)


def parse_speed_kph(value: Any) -> float | None:
    """km/h from an OSM maxspeed value: ``50``, ``30 mph``, ``50;30`` (first); symbolic → None.

    >>> parse_speed_kph("50"), round(parse_speed_kph("30 mph"), 1), parse_speed_kph("CN:urban")
    (50.0, 48.3, None)
    """
    text = _text(value)
    if text is None:
        return None
    text = text.split(";")[0].strip().lower()
    n = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?", text)
    if not n:
        return None
    speed = float(n.group(1)) * (1.609344 if n.group(2) == "mph" else 1.0)
    return speed if speed > 0 else None


def parse_int(value: Any, *, maximum: int = 32_767) -> int | None:
    """A whole number from a tag such as ``building:levels`` (``3``, ``3.5`` → 3, ``2;4`` → 4).

    Values above ``maximum`` (default: what a SMALLINT holds) give None.
    """
    text = _text(value)
    if text is None:
        return None
    numbers = [float(x.replace(",", ".")) for x in _NUMBER.findall(text)]
    if not numbers:
        return None
    best = int(max(numbers))
    return best if 0 <= best <= maximum else None
