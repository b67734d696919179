"""Controlled vocabularies of the domain (DESIGN.md §3, §7) and the hazard taxonomy.

The schema's CHECK constraints, the demo generator, the importers and the API all read these
tuples, so a value is declared once.
"""

from __future__ import annotations

REGION_LEVELS = ("district", "street", "community")
GRID_KINDS = ("ordinary", "market", "street_shop", "office_tower")

COLOUR_CODES = ("red", "yellow", "green")
UNIT_CATEGORIES = ("key_unit", "small_place", "key_domain", "general")
# 九小场所: the nine kinds of small places.
SMALL_PLACE_TYPES = (
    "small_shop",  # 小商店
    "small_restaurant",  # 小餐饮
    "small_hotel",  # 小旅馆
    "small_entertainment",  # 小歌舞娱乐
    "small_internet_cafe",  # 小网吧
    "small_beauty_bath",  # 小美容洗浴
    "small_workshop",  # 小生产加工
    "small_clinic",  # 小医院/诊所
    "small_school",  # 小学校/幼儿园/培训机构
)
# Seed 003's five key fire domains.
KEY_DOMAINS = (
    "village_property",  # 村级物业
    "street_shop",  # 沿街店铺
    "industrial_enterprise",  # 工业企业
    "village_house",  # 农村自建房
    "rental_housing",  # 出租房
)
KEY_UNIT_TYPES = (
    "hospital", "school", "mall", "hotel", "high_rise_office", "factory",
    "warehouse", "gas_station", "elderly_home", "public_venue",
)

BUILDING_USES = (
    "residential", "commercial", "office", "industrial", "warehouse", "public", "mixed", "other",
)

FACILITY_KINDS = (
    "hydrant", "extinguisher", "sprinkler", "alarm_panel", "fire_control_room", "smoke_exhaust",
    "emergency_light", "fire_door",
)
FACILITY_STATUSES = ("in_service", "out_of_service", "faulty", "unknown")

HAZARD_TIERS = ("blue", "yellow", "orange", "red")
HAZARD_STATUSES = ("reported", "verified", "rejected", "rectifying", "rectified", "rechecked", "closed")
HAZARD_SOURCES = ("grid_worker", "inspection", "public", "sensor", "camera")

# Seed 002: 12 main classes, 48 subclasses (4 each).
HAZARD_TAXONOMY: dict[str, tuple[str, ...]] = {
    "fire_passage": ("fire_lane_blocked", "exit_blocked", "stairwell_clutter", "corridor_clutter"),
    "ebike": ("ebike_indoor_charging", "ebike_corridor_parking", "flying_wire_charging", "battery_modification"),
    "electrical": ("illegal_wiring", "overloaded_circuit", "aged_cable", "missing_leakage_protection"),
    "gas": ("gas_leak", "cylinder_storage", "hose_aged", "no_gas_alarm"),
    "fire_facility": ("hydrant_broken", "extinguisher_expired", "sprinkler_fault", "alarm_system_off"),
    "building_structure": ("combustible_partition", "illegal_mezzanine", "window_bars", "three_in_one_residence"),
    "hot_work": ("unpermitted_welding", "no_fire_watch", "combustibles_near_work", "unlicensed_welder"),
    "hazardous_materials": ("flammable_storage", "fireworks_storage", "chemical_mixing", "fuel_retail"),
    "management": ("no_fire_manager", "no_patrol_records", "untrained_staff", "no_emergency_plan"),
    "public_facility": ("street_lamp_broken", "manhole_missing", "railing_damaged", "signage_missing"),
    "vulnerable_groups": ("elderly_alone", "disabled_resident", "child_unattended", "mental_health_risk"),
    "seasonal": ("straw_burning", "heating_appliance", "summer_overload", "festival_fireworks"),
}

STATION_KINDS = ("level1", "level2", "small", "emergency", "micro", "post")
STATION_STATUSES = ("on_duty", "responding", "out_of_service")
VEHICLE_KINDS = ("pumper", "ladder", "rescue", "tanker", "command", "motorcycle")

SENSOR_KINDS = (
    "smoke", "gas", "residual_current", "cable_temperature", "hydrant_pressure", "ebike_charging",
)
SENSOR_STATUSES = ("online", "offline", "alarm", "fault")
SENSOR_UNITS = {
    "smoke": "obscuration_pct_per_m",
    "gas": "pct_lel",
    "residual_current": "mA",
    "cable_temperature": "degC",
    "hydrant_pressure": "MPa",
    "ebike_charging": "degC",
}

INCIDENT_KINDS = ("fire", "false_alarm", "rescue")
WORK_ORDER_KINDS = (
    "risk_notice", "self_inspection_notice", "correction_order", "penalty", "temporary_seal",
    "three_stops",
)
INSPECTION_KINDS = ("patrol", "inspection", "recheck", "double_random", "self_check")
INSPECTION_RESULTS = ("pass", "hazards_found", "not_accessible")
HOT_WORK_KINDS = ("welding", "cutting", "grinding", "open_flame", "hot_melt")

ROAD_CLASSES = ("trunk", "primary", "secondary", "tertiary", "residential", "service", "lane")

ROLES = (
    "admin", "dispatcher", "planner", "street_officer", "community_admin", "grid_worker",
    "inspector", "unit_manager", "public",
)

# 吹哨报到: departments a street can call to a multi-department hazard.
DEPARTMENTS = (
    "fire_rescue",  # 消防救援
    "emergency_management",  # 应急管理
    "market_supervision",  # 市场监管
    "urban_management",  # 城管执法
    "housing_construction",  # 住建
    "public_security",  # 公安派出所
    "power_supply",  # 供电
    "gas_utility",  # 燃气公司
    "property_management",  # 物业
)
NOTIFICATION_KINDS = (
    "assigned", "escalated", "supervision", "immediate_report", "department_called",
    "overdue", "rejected_recheck",
)

# The "type" and "risk" parts of a hazard code (seed 002: region-type-risk-sequence).
CATEGORY_LABEL_ZH = {
    "fire_passage": "通道",
    "ebike": "电动车",
    "electrical": "电气",
    "gas": "燃气",
    "fire_facility": "设施",
    "building_structure": "建筑",
    "hot_work": "动火",
    "hazardous_materials": "危化",
    "management": "管理",
    "public_facility": "公共",
    "vulnerable_groups": "特殊人群",
    "seasonal": "季节",
}
TIER_LABEL_ZH = {"blue": "低", "yellow": "中", "orange": "较高", "red": "高"}

RISK_TIERS = ("low", "medium", "high", "very_high")


def sql_in(values: tuple[str, ...] | list[str]) -> str:
    """Render a vocabulary as the inside of a SQL ``IN (...)`` list for a CHECK constraint."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)
