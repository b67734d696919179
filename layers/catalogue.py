"""The layer catalogue: one declaration per published layer.

The OGC API collections (pygeoapi), the vector tile layers and the one-map legend are all built
from ``CATALOGUE``, so a layer is declared once. Each layer reads one SQL view in schema
``layers`` (``layers/views/<view>.sql``, created by the migrations) with a stable integer ``id``
column, a single ``geom`` column in EPSG:4326, and ``grid_id`` where the layer is grid-scoped.

Access (see :class:`Scope`): ``grid`` layers show a grid-scoped caller only rows whose
``grid_id`` is in its grids; ``reference`` layers (stations, hydrants, roads, ...) are visible to
every signed-in caller; the public sees a layer only if it has a ``public_filter``, only the rows
that pass it, and never a field marked ``personal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

GeometryType = Literal["Point", "LineString", "MultiPolygon", "Polygon"]
FieldType = Literal["string", "integer", "number", "boolean", "datetime", "date"]


class Access(StrEnum):
    """How a layer is filtered by the caller's scope."""

    grid = "grid"  # rows carry grid_id; grid-scoped callers see their grids only
    reference = "reference"  # shared reference data: every signed-in caller sees all rows


@dataclass(frozen=True)
class Field:
    """A published attribute of a layer."""

    name: str
    type: FieldType = "string"
    title: str = ""
    personal: bool = False  # personal data: never shown to the public


@dataclass(frozen=True)
class Legend:
    """How the one-map draws a layer (MapLibre paint values)."""

    kind: Literal["circle", "line", "fill", "fill-extrusion"]
    color: str | list[object]
    label_zh: str
    outline: str | None = None


@dataclass(frozen=True)
class Layer:
    """One published layer."""

    id: str
    title: str
    title_zh: str
    description: str
    view: str
    geometry_type: GeometryType
    fields: tuple[Field, ...]
    access: Access
    legend: Legend
    keywords: tuple[str, ...] = ()
    time_field: str | None = None
    public_filter: str | None = None  # SQL on the view's columns; None: not public
    minzoom: int = 10
    maxzoom: int = 22
    simplify: bool = False  # simplify geometry by zoom in tiles (lines and polygons)
    writable: bool = False  # OGC API Features Part 4 transactions
    unit_column: str | None = None  # the view's unit id column: unit managers see their rows
    schema: str = field(default="layers")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def public_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.personal)


F = Field
_TIER_COLOUR = ["match", ["get", "tier"], "red", "#d7191c", "orange", "#fd8d3c",
                "yellow", "#fecc5c", "blue", "#2c7bb6", "#888888"]
_RISK_COLOUR = ["interpolate", ["linear"], ["get", "score"], 0, "#1a9641", 40, "#a6d96a",
                60, "#fdae61", 80, "#d7191c"]

CATALOGUE: tuple[Layer, ...] = (
    Layer(
        id="hazards",
        unit_column="unit_id",
        title="Fire hazards",
        title_zh="隐患",
        description="Reported fire-safety hazards with tier, lifecycle status and deadlines.",
        view="hazards",
        geometry_type="Point",
        fields=(
            F("code", title="Hazard code"), F("category"), F("subcategory"), F("tier"),
            F("status"), F("source"), F("title"), F("reported_at", "datetime"),
            F("rectify_due_at", "datetime"), F("closed_at", "datetime"),
            F("supervised", "boolean"), F("published", "boolean"), F("unit_id", "integer"),
            F("grid_id", "integer"), F("h3_r9", "integer"), F("cluster_id", "integer"),
            F("reporter_name", personal=True), F("responsible_person", personal=True),
        ),
        access=Access.grid,
        legend=Legend("circle", _TIER_COLOUR, "隐患（按等级）"),
        keywords=("hazard", "隐患"),
        time_field="reported_at",
        public_filter="published AND status IN ('rectified', 'rechecked', 'closed')",
        minzoom=11,
        writable=True,
    ),
    Layer(
        id="stations",
        title="Fire and rescue stations",
        title_zh="消防站",
        description="Fire rescue stations (level 1/2/small), emergency and micro stations, posts.",
        view="stations",
        geometry_type="Point",
        fields=(F("code"), F("name"), F("kind"), F("status"), F("staff", "integer"),
                F("phone"), F("vehicles", "integer")),
        access=Access.reference,
        legend=Legend("circle", ["match", ["get", "kind"], "micro", "#ff7f00", "#e31a1c"],
                      "消防站"),
        keywords=("station", "消防站"),
        public_filter="kind IN ('level1', 'level2', 'small')",
        minzoom=8,
    ),
    Layer(
        id="sensors",
        unit_column="unit_id",
        title="IoT sensors",
        title_zh="物联感知设备",
        description="Smoke, gas, electrical, cable, hydrant-pressure and e-bike sensors, live state.",
        view="sensors",
        geometry_type="Point",
        fields=(F("code"), F("kind"), F("status"), F("unit_id", "integer"),
                F("last_seen_at", "datetime"), F("last_value", "number"),
                F("grid_id", "integer")),
        access=Access.grid,
        legend=Legend("circle", ["match", ["get", "status"], "alarm", "#e31a1c",
                                 "offline", "#999999", "fault", "#984ea3", "#4daf4a"],
                      "感知设备（按状态）"),
        keywords=("sensor", "IoT"),
        minzoom=12,
    ),
    Layer(
        id="risk",
        unit_column="unit_id",
        title="Fire risk per unit",
        title_zh="单位火灾风险",
        description="Latest fire-risk score 0–100 and tier per unit, with top factors.",
        view="risk",
        geometry_type="Point",
        fields=(F("unit_id", "integer"), F("unit_name"), F("score", "number"), F("tier"),
                F("rank", "integer"), F("as_of", "date"), F("model_version"),
                F("grid_id", "integer")),
        access=Access.grid,
        legend=Legend("circle", _RISK_COLOUR, "单位风险"),
        keywords=("risk",),
        time_field="as_of",
        minzoom=11,
    ),
    Layer(
        id="risk-cells",
        title="Fire risk per H3 cell",
        title_zh="网格化风险（H3）",
        description="Mean and maximum unit risk per H3 cell at resolutions 7 and 9.",
        view="risk_cells",
        geometry_type="Polygon",
        fields=(F("h3_cell", "integer"), F("resolution", "integer"), F("score", "number"),
                F("max_score", "number"), F("units", "integer"), F("as_of", "date")),
        access=Access.reference,
        legend=Legend("fill", _RISK_COLOUR, "风险蜂窝"),
        keywords=("risk", "H3"),
        time_field="as_of",
        minzoom=8,
    ),
    Layer(
        id="grids",
        title="Grids",
        title_zh="网格",
        description="Grid polygons (ordinary and special) with their community and street.",
        view="grids",
        geometry_type="MultiPolygon",
        fields=(F("code"), F("name"), F("kind"), F("community"), F("street"),
                F("worker_name", personal=True)),
        access=Access.reference,
        legend=Legend("line", "#3182bd", "网格"),
        keywords=("grid", "网格"),
        public_filter="true",
        minzoom=9,
        simplify=True,
    ),
    Layer(
        id="regions",
        title="Regions",
        title_zh="行政区划",
        description="District, streets/towns and communities.",
        view="regions",
        geometry_type="MultiPolygon",
        fields=(F("code"), F("name"), F("level"), F("parent_id", "integer"),
                F("population", "integer"), F("area_km2", "number")),
        access=Access.reference,
        legend=Legend("line", "#636363", "行政区划"),
        keywords=("region",),
        public_filter="true",
        minzoom=0,
        simplify=True,
    ),
    Layer(
        id="units",
        unit_column="id",
        title="Units and places",
        title_zh="单位/场所",
        description="Enterprises and places with category and red/yellow/green colour code.",
        view="units",
        geometry_type="Point",
        fields=(F("code"), F("name"), F("category"), F("small_place_type"), F("key_domain"),
                F("key_unit_type"), F("colour_code"), F("address"), F("grid_id", "integer"),
                F("responsible_person", personal=True), F("responsible_phone", personal=True)),
        access=Access.grid,
        legend=Legend("circle", ["match", ["get", "colour_code"], "red", "#e31a1c",
                                 "yellow", "#ffd92f", "#1b9e77"], "单位（按码色）"),
        keywords=("unit", "一店一码"),
        minzoom=12,
    ),
    Layer(
        id="buildings",
        title="Buildings",
        title_zh="建筑",
        description="Building footprints with use, floors and height; high-rise per GB 50016.",
        view="buildings",
        geometry_type="MultiPolygon",
        fields=(F("name"), F("use"), F("floors", "integer"), F("height_m", "number"),
                F("built_year", "integer"), F("high_rise", "boolean")),
        access=Access.reference,
        legend=Legend("fill-extrusion", ["case", ["get", "high_rise"], "#9e9ac8", "#d9d9d9"],
                      "建筑"),
        keywords=("building",),
        public_filter="true",
        minzoom=13,
        simplify=True,
    ),
    Layer(
        id="hydrants",
        title="Fire hydrants",
        title_zh="消火栓",
        description="Hydrants with status and owner; GB 50974 spacing ≤ 120 m, radius ≤ 150 m.",
        view="hydrants",
        geometry_type="Point",
        fields=(F("code"), F("status"), F("owner_person", personal=True),
                F("last_inspected_at", "datetime"), F("grid_id", "integer")),
        access=Access.reference,
        legend=Legend("circle", ["match", ["get", "status"], "in_service", "#08519c",
                                 "#bdbdbd"], "消火栓"),
        keywords=("hydrant", "消火栓"),
        public_filter="status = 'in_service'",
        minzoom=13,
    ),
    Layer(
        id="incidents",
        unit_column="unit_id",
        title="Fire incidents",
        title_zh="火灾警情",
        description="Fires and alarms with time, cause and unit.",
        view="incidents",
        geometry_type="Point",
        fields=(F("kind"), F("occurred_at", "datetime"), F("cause"), F("unit_id", "integer"),
                F("severity", "integer"), F("casualties", "integer"), F("grid_id", "integer")),
        access=Access.grid,
        legend=Legend("circle", "#a50f15", "警情"),
        keywords=("incident", "fire"),
        time_field="occurred_at",
        minzoom=11,
    ),
    Layer(
        id="hot-work",
        unit_column="unit_id",
        title="Hot-work permits",
        title_zh="明火作业报备",
        description="Reported hot work (welding, cutting, open flame) with its time window.",
        view="hot_work",
        geometry_type="Point",
        fields=(F("work_kind"), F("starts_at", "datetime"), F("ends_at", "datetime"),
                F("status"), F("unit_id", "integer"), F("applicant", personal=True),
                F("grid_id", "integer")),
        access=Access.grid,
        legend=Legend("circle", "#ff7f00", "明火作业"),
        keywords=("hot work", "明火作业"),
        time_field="starts_at",
        minzoom=12,
    ),
    Layer(
        id="roads",
        title="Roads with fire-lane status",
        title_zh="道路与消防车通道",
        description="Routable road edges with width, clearance, one-way and truck passability.",
        view="roads",
        geometry_type="LineString",
        fields=(F("name"), F("road_class"), F("width_m", "number"),
                F("maxheight_m", "number"), F("oneway", "boolean"), F("speed_kph", "number"),
                F("length_m", "number"), F("is_fire_lane", "boolean"), F("blocked", "boolean"),
                F("truck_ok", "boolean")),
        access=Access.reference,
        legend=Legend("line", ["case", ["get", "truck_ok"], "#737373", "#e6550d"],
                      "道路（橙色：消防车不可通行）"),
        keywords=("road", "fire lane"),
        public_filter="true",
        minzoom=10,
        simplify=True,
    ),
)

CATALOGUE = (
    *CATALOGUE,
    Layer(
        id="coverage-gaps",
        title="5-minute coverage gaps",
        title_zh="5分钟覆盖盲区",
        description="H3 cells with buildings or units no station reaches within 5 minutes "
                    "(GB 51080-2015 §4.1.3: 60 s turnout + 240 s driving).",
        view="coverage_gaps",
        geometry_type="Polygon",
        fields=(F("h3_cell", "integer"), F("resolution", "integer"), F("units", "integer"),
                F("buildings", "integer"), F("high_risk_units", "integer"),
                F("best_eta_s", "number"), F("computed_at", "datetime")),
        access=Access.reference,
        legend=Legend("fill", ["interpolate", ["linear"], ["get", "buildings"], 0, "#fee0d2",
                               20, "#de2d26"], "5分钟覆盖盲区"),
        keywords=("coverage", "response time"),
        minzoom=9,
    ),
    Layer(
        id="fire-lane-problems",
        title="Fire-lane problems",
        title_zh="消防车通道问题",
        description="Buildings without truck access, on single-access roads, dead ends without "
                    "turnaround, or without a hydrant in 150 m (GB 50016 §7.1, GB 50974 §7.2).",
        view="fire_lane_problems",
        geometry_type="MultiPolygon",
        fields=(F("building_id", "integer"), F("problem"), F("message"), F("label_zh"),
                F("height_m", "number"), F("use"), F("computed_at", "datetime"),
                F("grid_id", "integer")),
        access=Access.grid,
        legend=Legend("fill", "#e6550d", "消防车通道问题"),
        keywords=("fire lane", "消防车通道"),
        minzoom=13,
    ),
    Layer(
        id="isochrones",
        title="Station drive-time rings",
        title_zh="消防站行车时间圈",
        description="Roads each station reaches by fire engine in 0–4, 4–5 and 5–8 minutes of "
                    "driving (open fire-lane blockages closed), as 50 m road corridors; "
                    "4 min of driving + 60 s turnout is the 5-minute standard (GB 51080-2015).",
        view="isochrones",
        geometry_type="MultiPolygon",
        fields=(F("station_id", "integer"), F("station_code"), F("station_name"),
                F("station_kind"), F("from_s", "number"), F("to_s", "number"), F("band"),
                F("area_km2", "number"), F("computed_at", "datetime")),
        access=Access.reference,
        legend=Legend("fill", ["match", ["get", "to_s"], 240, "#31a354", 300, "#addd8e",
                               "#fec44f"], "行车时间圈（4/5/8分钟）"),
        keywords=("isochrone", "coverage", "response time", "行车时间圈"),
        minzoom=9,
        simplify=True,
    ),
    Layer(
        id="first-due-areas",
        title="First-due areas",
        title_zh="消防站首到责任区",
        description="The roads each station reaches before any other by fire engine (open "
                    "fire-lane blockages closed), as 50 m road corridors.",
        view="first_due_areas",
        geometry_type="MultiPolygon",
        fields=(F("station_id", "integer"), F("station_code"), F("station_name"),
                F("station_kind"), F("nodes", "integer"), F("area_km2", "number"),
                F("computed_at", "datetime")),
        access=Access.reference,
        legend=Legend("fill", "#6baed6", "首到责任区", outline="#08519c"),
        keywords=("first due", "station district", "责任区"),
        minzoom=9,
        simplify=True,
    ),
)

CATALOGUE = (
    *CATALOGUE,
    Layer(
        id="hazard-clusters",
        title="Hazard clusters",
        title_zh="隐患聚集区",
        description="Density clusters of hazards (DBSCAN in metres, hull buffered): similar "
                    "hazards (yellow warning) and systemic ones (red warning), seed 002.",
        view="hazard_clusters",
        geometry_type="Polygon",
        fields=(F("kind"), F("level"), F("category"), F("members", "integer"),
                F("categories"), F("n_categories", "integer"), F("dominant_category"),
                F("dominant_share", "number"), F("area_m2", "number"),
                F("density_per_km2", "number"), F("previous_members", "integer"),
                F("growth", "number"), F("window_from", "datetime"),
                F("window_to", "datetime"), F("computed_at", "datetime"),
                F("grid_id", "integer"), F("community_id", "integer"),
                F("street_id", "integer")),
        access=Access.grid,
        legend=Legend("fill", ["match", ["get", "level"], "red", "#d7191c", "yellow", "#fecc5c",
                               "#9ecae1"], "隐患聚集区（按预警等级）", outline="#636363"),
        keywords=("cluster", "DBSCAN", "聚集"),
        time_field="window_to",
        minzoom=10,
    ),
    Layer(
        id="hotspots",
        title="Hazard hot spots (Gi*)",
        title_zh="隐患热点（Gi*）",
        description="Getis-Ord Gi* of hazard counts per H3 cell, permutation p-values with "
                    "Benjamini-Hochberg FDR: hot, cold or not significant, per category.",
        view="hotspots",
        geometry_type="Polygon",
        fields=(F("h3_cell", "integer"), F("resolution", "integer"), F("category"),
                F("hazards", "integer"), F("gi", "number"), F("z", "number"),
                F("p_sim", "number"), F("p_z_sim", "number"), F("p_binom", "number"),
                F("p_norm", "number"),
                F("p_fdr", "number"),
                F("hotspot"), F("permutations", "integer"), F("window_from", "datetime"),
                F("window_to", "datetime"), F("computed_at", "datetime"),
                F("grid_id", "integer")),
        access=Access.grid,
        legend=Legend("fill", ["match", ["get", "hotspot"], "hot", "#d7191c", "cold", "#2c7bb6",
                               "rgba(0,0,0,0)"], "隐患热点（红：热点，蓝：冷点）"),
        keywords=("hot spot", "Gi*", "H3", "热点"),
        time_field="window_to",
        minzoom=9,
    ),
)

BY_ID: dict[str, Layer] = {layer.id: layer for layer in CATALOGUE}


def get_layer(layer_id: str) -> Layer | None:
    """The layer with this id, or None."""
    return BY_ID.get(layer_id)
