"""The FireTwin schema: SQLAlchemy 2 declarative models with GeoAlchemy2 geometry types.

This module is the schema source for Alembic (``gis/migrations``). Conventions:

- schema ``firetwin``; tables singular snake_case; ``_at`` timestamps (UTC, timezone-aware);
  ``_m``/``_m2``/``_s``/``_kph`` units in names;
- every feature table has ``geom`` (EPSG:4326, GiST-indexed), ``h3_r7``/``h3_r9``/``h3_r11``
  (BIGINT H3 cells of the point, or of the point on surface for lines and polygons) and
  ``grid_id`` (the ordinary grid polygon containing that point). H3 cells are computed at write
  time in Python (``gis.indexing``; the h3-pg extension is not packaged for Debian) and a CHECK
  constraint refuses a geometry without them; ``grid_id`` is filled by a database trigger when a
  writer leaves it NULL (``gis/sql/triggers.sql``), so every write path gets it;
- vocabularies come from ``gis.vocab`` and are enforced with CHECK constraints.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from gis import vocab
from gis.vocab import sql_in

SCHEMA = "firetwin"
SRID = 4326

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, datetime: DateTime(timezone=True)}


def _fk(table: str, *, ondelete: str = "SET NULL", use_alter: bool = False) -> ForeignKey:
    return ForeignKey(f"{SCHEMA}.{table}.id", ondelete=ondelete, use_alter=use_alter)


def _check_in(column: str, values: tuple[str, ...], *, nullable: bool = False) -> CheckConstraint:
    cond = f"{column} IN ({sql_in(values)})"
    if nullable:
        cond = f"{column} IS NULL OR {cond}"
    return CheckConstraint(cond, name=f"{column}_valid")


def _h3_present() -> CheckConstraint:
    """Refuse a geometry without its H3 cells (computed at write time by gis.indexing)."""
    return CheckConstraint(
        "geom IS NULL OR (h3_r7 IS NOT NULL AND h3_r9 IS NOT NULL AND h3_r11 IS NOT NULL)",
        name="h3_present",
    )


class Feature:
    """Columns every feature table carries: H3 cells at three resolutions and the grid id."""

    h3_r7: Mapped[int | None] = mapped_column(BigInteger, index=True)
    h3_r9: Mapped[int | None] = mapped_column(BigInteger, index=True)
    h3_r11: Mapped[int | None] = mapped_column(BigInteger, index=True)

    @declared_attr
    def grid_id(cls) -> Mapped[int | None]:
        return mapped_column(Integer, _fk("grid", use_alter=True), index=True)


def _geom(kind: str, *, nullable: bool = False) -> Mapped[WKBElement]:
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=True), nullable=nullable)


def _home_unit() -> Mapped[int]:
    """The Citus distribution column of a unit-owned table (migration 0017).

    The row's unit, else ``-grid_id`` (the public space of its grid), else 0; a child row takes
    its parent's. A trigger fills it when a writer leaves it out; see ``gis/distribute.py``.
    """
    return mapped_column(Integer, nullable=False)


def _home_unit_check() -> CheckConstraint:
    return CheckConstraint("unit_id IS NULL OR home_unit_id = unit_id", name="home_unit")


# --------------------------------------------------------------------------- regions and grids


class Region(Feature, Base):
    """District, street/town or community polygon (the governance hierarchy)."""

    __tablename__ = "region"
    __table_args__ = (_h3_present(), _check_in("level", vocab.REGION_LEVELS))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(_fk("region", ondelete="CASCADE"), index=True)
    population: Mapped[int | None]
    area_km2: Mapped[float | None] = mapped_column(Double)
    geom: Mapped[WKBElement] = _geom("MULTIPOLYGON")


class Grid(Feature, Base):
    """A grid polygon (网格) worked by one grid worker; special grids overlap ordinary ones."""

    __tablename__ = "grid"
    __table_args__ = (_h3_present(), _check_in("kind", vocab.GRID_KINDS))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), server_default="ordinary")
    community_id: Mapped[int | None] = mapped_column(_fk("region"), index=True)
    street_id: Mapped[int | None] = mapped_column(_fk("region"), index=True)
    worker_user_id: Mapped[int | None] = mapped_column(_fk("app_user", use_alter=True), index=True)
    geom: Mapped[WKBElement] = _geom("MULTIPOLYGON")


# ------------------------------------------------------------------------------ users and roles


class Role(Base):
    """An access role; scope rules live in the services layer."""

    __tablename__ = "role"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    description: Mapped[str] = mapped_column(Text)


class AppUser(Base):
    """A person using FireTwin (``user`` is a reserved word in PostgreSQL)."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(ForeignKey(f"{SCHEMA}.role.name"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    region_id: Mapped[int | None] = mapped_column(_fk("region"), index=True)
    unit_id: Mapped[int | None] = mapped_column(_fk("unit"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class UserGrid(Base):
    """Grids in a user's scope (grid workers, street officers)."""

    __tablename__ = "user_grid"

    user_id: Mapped[int] = mapped_column(_fk("app_user", ondelete="CASCADE"), primary_key=True)
    grid_id: Mapped[int] = mapped_column(_fk("grid", ondelete="CASCADE"), primary_key=True)


# -------------------------------------------------------------------- buildings, units, facilities


class Building(Feature, Base):
    """A building footprint. High-rise per GB 50016-2014 §5.1.1: > 27 m residential, > 24 m other."""

    __tablename__ = "building"
    __table_args__ = (_h3_present(), _check_in("use", vocab.BUILDING_USES))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128))
    use: Mapped[str] = mapped_column(String(16), server_default="other")
    floors: Mapped[int | None] = mapped_column(SmallInteger)
    height_m: Mapped[float | None] = mapped_column(Double)
    built_year: Mapped[int | None] = mapped_column(SmallInteger)
    footprint_m2: Mapped[float | None] = mapped_column(Double)
    osm_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    geom: Mapped[WKBElement] = _geom("MULTIPOLYGON")


class Unit(Feature, Base):
    """An enterprise or place (单位/场所) with its colour code and responsible persons."""

    __tablename__ = "unit"
    __table_args__ = (
        _h3_present(),
        _check_in("category", vocab.UNIT_CATEGORIES),
        _check_in("colour_code", vocab.COLOUR_CODES),
        _check_in("small_place_type", vocab.SMALL_PLACE_TYPES, nullable=True),
        _check_in("key_domain", vocab.KEY_DOMAINS, nullable=True),
        _check_in("key_unit_type", vocab.KEY_UNIT_TYPES, nullable=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(16))
    small_place_type: Mapped[str | None] = mapped_column(String(32))
    key_domain: Mapped[str | None] = mapped_column(String(32))
    key_unit_type: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(256))
    responsible_person: Mapped[str | None] = mapped_column(String(64))
    responsible_phone: Mapped[str | None] = mapped_column(String(32))
    manager_person: Mapped[str | None] = mapped_column(String(64))
    colour_code: Mapped[str] = mapped_column(String(8), server_default="green")
    colour_reason: Mapped[str | None] = mapped_column(Text)
    colour_updated_at: Mapped[datetime | None]
    management_level: Mapped[int | None] = mapped_column(SmallInteger)
    floor_area_m2: Mapped[float | None] = mapped_column(Double)
    employees: Mapped[int | None]
    opened_year: Mapped[int | None] = mapped_column(SmallInteger)
    building_id: Mapped[int | None] = mapped_column(_fk("building"), index=True)
    qr_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    osm_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    geom: Mapped[WKBElement] = _geom("POINT")


class Facility(Feature, Base):
    """A fire facility: hydrant, extinguisher, sprinkler, alarm panel, control room, ..."""

    __tablename__ = "facility"
    __table_args__ = (
        _h3_present(),
        _check_in("kind", vocab.FACILITY_KINDS),
        _check_in("status", vocab.FACILITY_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default="in_service")
    unit_id: Mapped[int | None] = mapped_column(_fk("unit"), index=True)
    building_id: Mapped[int | None] = mapped_column(_fk("building"), index=True)
    owner_person: Mapped[str | None] = mapped_column(String(64))
    last_inspected_at: Mapped[datetime | None]
    properties: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    osm_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    geom: Mapped[WKBElement] = _geom("POINT")


# ------------------------------------------------------------------------------------- hazards


class Hazard(Feature, Base):
    """One record per hazard for its whole life (seed 002)."""

    __tablename__ = "hazard"
    __table_args__ = (
        _home_unit_check(),
        _h3_present(),
        _check_in("tier", vocab.HAZARD_TIERS),
        _check_in("status", vocab.HAZARD_STATUSES),
        _check_in("source", vocab.HAZARD_SOURCES),
        _check_in("category", tuple(vocab.HAZARD_TAXONOMY)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    tracking_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    subcategory: Mapped[str] = mapped_column(String(48))
    # Not indexed (migration 0016): four values, and an escalation changing it stays a HOT
    # update that touches no index.
    tier: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True, server_default="reported")
    source: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    reporter_user_id: Mapped[int | None] = mapped_column(_fk("app_user"))
    reporter_name: Mapped[str | None] = mapped_column(String(64))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    assignee_user_id: Mapped[int | None] = mapped_column(_fk("app_user"), index=True)
    unit_id: Mapped[int | None] = mapped_column(_fk("unit"), index=True)
    home_unit_id: Mapped[int] = _home_unit()
    building_id: Mapped[int | None] = mapped_column(_fk("building"))
    responsible_person: Mapped[str | None] = mapped_column(String(64))
    road_edge_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    sensor_id: Mapped[int | None] = mapped_column(_fk("sensor"))
    cluster_id: Mapped[int | None] = mapped_column(Integer, index=True)
    supervised: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    published: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    photos: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    reported_at: Mapped[datetime] = mapped_column(index=True, server_default=func.now())
    verify_due_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    rectify_due_at: Mapped[datetime | None]
    rectified_at: Mapped[datetime | None]
    recheck_due_at: Mapped[datetime | None]
    rechecked_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    escalations: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    escalated_at: Mapped[datetime | None]
    next_escalation_at: Mapped[datetime | None]
    temporary_control: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    street_coordination: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    geom: Mapped[WKBElement] = _geom("POINT")


class HazardEscalationDue(Base):
    """The escalation sweep's queue: one row per open hazard whose clock runs (migration 0016).

    Kept in step with ``hazard.next_escalation_at`` by statement-level triggers on ``hazard``;
    narrow and without a ``due_at`` index so the sweep reads it whole and updates it in place.
    """

    __tablename__ = "hazard_escalation_due"

    hazard_id: Mapped[int] = mapped_column(_fk("hazard", ondelete="CASCADE"), primary_key=True)
    home_unit_id: Mapped[int] = _home_unit()
    due_at: Mapped[datetime]


class HazardEvent(Feature, Base):
    """Append-only history of a hazard: every transition with who, when, where and evidence."""

    __tablename__ = "hazard_event"
    __table_args__ = (
        _h3_present(),
        _check_in("from_status", vocab.HAZARD_STATUSES, nullable=True),
        _check_in("to_status", vocab.HAZARD_STATUSES),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    hazard_id: Mapped[int] = mapped_column(_fk("hazard", ondelete="CASCADE"), index=True)
    home_unit_id: Mapped[int] = _home_unit()
    at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(_fk("app_user"))
    actor_name: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    version: Mapped[int | None] = mapped_column(Integer)
    tier: Mapped[str | None] = mapped_column(String(8))
    geom: Mapped[WKBElement | None] = _geom("POINT", nullable=True)


class HazardCodeCounter(Base):
    """Last sequence number of hazard codes per region-type-risk prefix (seed 002)."""

    __tablename__ = "hazard_code_counter"

    prefix: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class Notification(Base):
    """A message to a user: escalations, supervision, assignments, department calls."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(_fk("app_user", ondelete="CASCADE"))
    hazard_id: Mapped[int | None] = mapped_column(_fk("hazard", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class HazardDepartment(Base):
    """吹哨报到: a department called to a multi-department hazard, and when it reported in."""

    __tablename__ = "hazard_department"

    hazard_id: Mapped[int] = mapped_column(_fk("hazard", ondelete="CASCADE"), primary_key=True)
    home_unit_id: Mapped[int] = _home_unit()
    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    called_at: Mapped[datetime]
    called_by_user_id: Mapped[int | None] = mapped_column(_fk("app_user"))
    reported_at: Mapped[datetime | None]
    reported_by_user_id: Mapped[int | None] = mapped_column(_fk("app_user"))
    note: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    """A client's submission key: a repeated submission is refused, never stored twice."""

    __tablename__ = "idempotency_key"

    actor: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    hazard_id: Mapped[int | None] = mapped_column(_fk("hazard", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class Attachment(Base):
    """An uploaded photo or evidence file, stored content-addressed in the media directory."""

    __tablename__ = "attachment"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int]
    uploaded_by_user_id: Mapped[int | None] = mapped_column(_fk("app_user"))
    uploaded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RateEvent(Base):
    """One rate-limited action (public reports) by bucket, shared by all API workers."""

    __tablename__ = "rate_event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(80), index=True)
    at: Mapped[datetime]


class WorkOrder(Base):
    """A notice or enforcement action attached to a hazard and/or a unit."""

    __tablename__ = "work_order"
    __table_args__ = (_check_in("kind", vocab.WORK_ORDER_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    hazard_id: Mapped[int | None] = mapped_column(_fk("hazard", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(_fk("unit"), index=True)
    home_unit_id: Mapped[int] = _home_unit()
    issued_by_user_id: Mapped[int | None] = mapped_column(_fk("app_user"))
    issued_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    amount_cny: Mapped[float | None] = mapped_column(Double)
    note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    legal_basis: Mapped[str | None] = mapped_column(Text)


class Inspection(Feature, Base):
    """An inspection or patrol check-in at a unit, with the GPS position where it was made."""

    __tablename__ = "inspection"
    __table_args__ = (
        _home_unit_check(),
        _h3_present(),
        _check_in("kind", vocab.INSPECTION_KINDS),
        _check_in("result", vocab.INSPECTION_RESULTS),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(_fk("unit"), index=True)
    home_unit_id: Mapped[int] = _home_unit()
    inspector_user_id: Mapped[int | None] = mapped_column(_fk("app_user"), index=True)
    inspected_at: Mapped[datetime] = mapped_column(index=True)
    result: Mapped[str] = mapped_column(String(16))
    hazards_found: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    distance_from_unit_m: Mapped[float | None] = mapped_column(Double)
    location_flagged: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    note: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = _geom("POINT")


# -------------------------------------------------------------------------- stations, vehicles


class Station(Feature, Base):
    """A fire rescue station (level 1/2/small), emergency station, micro station or post."""

    __tablename__ = "station"
    __table_args__ = (
        _h3_present(),
        _check_in("kind", vocab.STATION_KINDS),
        _check_in("status", vocab.STATION_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="on_duty")
    staff: Mapped[int | None] = mapped_column(SmallInteger)
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(256))
    osm_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    geom: Mapped[WKBElement] = _geom("POINT")


class Vehicle(Base):
    """An apparatus of a station; width/height decide which roads it can use."""

    __tablename__ = "vehicle"
    __table_args__ = (_check_in("kind", vocab.VEHICLE_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(_fk("station", ondelete="CASCADE"), index=True)
    call_sign: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="available")
    width_m: Mapped[float] = mapped_column(Double, server_default=text("2.5"))
    height_m: Mapped[float] = mapped_column(Double, server_default=text("3.5"))
    water_l: Mapped[int | None]


# ----------------------------------------------------------------------------- sensors


class Sensor(Feature, Base):
    """An IoT sensor; ``last_value``/``status`` are its live state."""

    __tablename__ = "sensor"
    __table_args__ = (
        _home_unit_check(),
        _h3_present(),
        _check_in("kind", vocab.SENSOR_KINDS),
        _check_in("status", vocab.SENSOR_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default="online")
    unit_id: Mapped[int | None] = mapped_column(_fk("unit"), index=True)
    home_unit_id: Mapped[int] = _home_unit()
    building_id: Mapped[int | None] = mapped_column(_fk("building"))
    facility_id: Mapped[int | None] = mapped_column(_fk("facility"))
    location_note: Mapped[str | None] = mapped_column(String(128))
    device_key_hash: Mapped[str | None] = mapped_column(String(128))
    installed_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_value: Mapped[float | None] = mapped_column(Double)
    place_kind: Mapped[str | None] = mapped_column(String(16))  # 0009: exit, corridor, …
    geom: Mapped[WKBElement] = _geom("POINT")


class SensorReading(Base):
    """A sensor reading; BRIN-indexed by time, de-duplicated by (sensor, message id)."""

    __tablename__ = "sensor_reading"
    __table_args__ = (UniqueConstraint("sensor_id", "message_id", name="uq_sensor_reading_msg"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sensor_id: Mapped[int] = mapped_column(_fk("sensor", ondelete="CASCADE"))
    home_unit_id: Mapped[int] = _home_unit()
    observed_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    value: Mapped[float] = mapped_column(Double)
    message_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str | None] = mapped_column(String(16))


# ------------------------------------------------------------------- incidents, hot work, roads


class Incident(Feature, Base):
    """A fire or alarm event: the label of the risk model."""

    __tablename__ = "incident"
    __table_args__ = (_home_unit_check(), _h3_present(), _check_in("kind", vocab.INCIDENT_KINDS))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), server_default="fire")
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    unit_id: Mapped[int | None] = mapped_column(_fk("unit"), index=True)
    home_unit_id: Mapped[int] = _home_unit()
    building_id: Mapped[int | None] = mapped_column(_fk("building"))
    cause: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[int | None] = mapped_column(SmallInteger)
    casualties: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    loss_cny: Mapped[float | None] = mapped_column(Double)
    description: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = _geom("POINT")


class HotWorkPermit(Feature, Base):
    """A hot-work report (明火作业报备): place and time window."""

    __tablename__ = "hot_work_permit"
    __table_args__ = (
        _home_unit_check(),
        _h3_present(),
        _check_in("work_kind", vocab.HOT_WORK_KINDS),
        CheckConstraint("ends_at > starts_at", name="window_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int | None] = mapped_column(_fk("unit"), index=True)
    home_unit_id: Mapped[int] = _home_unit()
    applicant: Mapped[str] = mapped_column(String(64))
    work_kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), server_default="approved")
    fire_watch_person: Mapped[str | None] = mapped_column(String(64))
    geom: Mapped[WKBElement] = _geom("POINT")


class RoadNode(Base):
    """A vertex of the routable road network (pgRouting's vertices table)."""

    __tablename__ = "road_node"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    geom: Mapped[WKBElement] = _geom("POINT")


class RoadEdge(Feature, Base):
    """A routable road edge, pgRouting-compatible (``pgr_dijkstra`` runs on it as it is).

    ``cost``/``reverse_cost`` are travel times in seconds; ``reverse_cost`` is negative for
    one-way edges. ``truck_ok`` is false when the clear width or headroom is under the fire
    engine minimum (4.0 m each, GB 50016-2014 §7.1.8) or the edge is blocked.
    """

    __tablename__ = "road_edge"
    __table_args__ = (
        _h3_present(),
        _check_in("road_class", vocab.ROAD_CLASSES),
        CheckConstraint("length_m >= 0 AND cost >= 0", name="costs_valid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[int] = mapped_column(BigInteger, index=True)
    target: Mapped[int] = mapped_column(BigInteger, index=True)
    cost: Mapped[float] = mapped_column(Double)
    reverse_cost: Mapped[float] = mapped_column(Double)
    length_m: Mapped[float] = mapped_column(Double)
    speed_kph: Mapped[float] = mapped_column(Double)
    road_class: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(128))
    oneway: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    width_m: Mapped[float | None] = mapped_column(Double)
    maxheight_m: Mapped[float | None] = mapped_column(Double)
    slope_pct: Mapped[float | None] = mapped_column(Double)
    is_fire_lane: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    blocked: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    truck_ok: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    osm_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    geom: Mapped[WKBElement] = _geom("LINESTRING")


# ------------------------------------------------------------------------------------- risk


class RiskModel(Base):
    """A trained risk model version and its evaluation metrics."""

    __tablename__ = "risk_model"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    trained_at: Mapped[datetime] = mapped_column(server_default=func.now())
    train_cutoff: Mapped[date] = mapped_column(Date)
    metrics: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    params: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


class RiskScore(Feature, Base):
    """Fire-risk score 0–100 of a unit as of a date, with its top contributing factors."""

    __tablename__ = "risk_score"
    __table_args__ = (
        _h3_present(),
        _check_in("tier", vocab.RISK_TIERS),
        CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        UniqueConstraint("unit_id", "as_of", "model_version", name="uq_risk_score_unit_asof"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    unit_id: Mapped[int] = mapped_column(_fk("unit", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Double)
    tier: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int | None]
    as_of: Mapped[date] = mapped_column(Date, index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    factors: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    geom: Mapped[WKBElement] = _geom("POINT")


class RiskCell(Base):
    """Risk aggregated per H3 cell (mean and maximum unit score) as of a date."""

    __tablename__ = "risk_cell"

    h3_cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    resolution: Mapped[int] = mapped_column(SmallInteger, index=True)
    score: Mapped[float] = mapped_column(Double)
    max_score: Mapped[float] = mapped_column(Double)
    units: Mapped[int]
    geom: Mapped[WKBElement] = _geom("POLYGON")


# ------------------------------------------------------------------------------ IoT (0009)

SENSOR_PLACES = ("exit", "corridor", "stairwell", "garage", "charging_shed", "room", "outdoor",
                 "other")
SENSOR_ALARM_EVENTS = ("raised", "escalated", "cleared", "fault", "recovered", "offline",
                       "online")


class SensorRuleState(Base):
    """Debounce and hysteresis state of a sensor's alarm rules, shared by all ingesters."""

    __tablename__ = "sensor_rule_state"

    sensor_id: Mapped[int] = mapped_column(_fk("sensor", ondelete="CASCADE"), primary_key=True)
    home_unit_id: Mapped[int] = _home_unit()
    level: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    fault: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    pending_level: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    pending_since: Mapped[datetime | None]
    pending_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    clear_since: Mapped[datetime | None]
    last_observed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SensorAlarm(Base):
    """An alarm event of a sensor (append-only); NOTIFY firetwin_alarm carries its id."""

    __tablename__ = "sensor_alarm"
    __table_args__ = (_check_in("event", SENSOR_ALARM_EVENTS),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sensor_id: Mapped[int] = mapped_column(_fk("sensor", ondelete="CASCADE"))
    home_unit_id: Mapped[int] = _home_unit()
    event: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    reason: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Double)
    observed_at: Mapped[datetime]
    raised_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    hazard_id: Mapped[int | None] = mapped_column(_fk("hazard"))
    hazard_joined: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    grid_id: Mapped[int | None]
    unit_id: Mapped[int | None]


FEATURE_TABLES: tuple[str, ...] = tuple(
    m.__tablename__ for m in Base.__subclasses__() if issubclass(m, Feature)
)


# ------------------------------------------------------------- risk per grid, double random


class RiskGrid(Base):
    """Risk aggregated per grid polygon (mean and maximum unit score, high-tier units)."""

    __tablename__ = "risk_grid"

    grid_id: Mapped[int] = mapped_column(_fk("grid", ondelete="CASCADE"), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float] = mapped_column(Double)
    max_score: Mapped[float] = mapped_column(Double)
    units: Mapped[int]
    high_units: Mapped[int]


class InspectionPlan(Base):
    """One unit on a month's double-random (双随机) inspection list, with its drawn inspector.

    ``stratum`` says whether it was drawn from the high-risk units or from all others (with a
    probability rising with risk); ``seed`` reproduces the draw. It is done when the unit has
    an inspection of kind ``double_random`` in that month.
    """

    __tablename__ = "inspection_plan"
    __table_args__ = (
        UniqueConstraint("month", "unit_id", name="uq_inspection_plan_month"),
        CheckConstraint("extract(day FROM month) = 1", name="month_first"),
        CheckConstraint("stratum IN ('high_risk', 'random')", name="stratum_valid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    unit_id: Mapped[int] = mapped_column(_fk("unit", ondelete="CASCADE"), index=True)
    inspector_user_id: Mapped[int | None] = mapped_column(_fk("app_user"), index=True)
    stratum: Mapped[str] = mapped_column(String(16))
    risk_score: Mapped[float | None] = mapped_column(Double)
    risk_tier: Mapped[str | None] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by_user_id: Mapped[int | None] = mapped_column(_fk("app_user"))


# -------------------------------------------------------------- clusters, hot spots (0010)


class HazardCluster(Base):
    """A density cluster of hazards (DBSCAN in metres) and its hull, from the latest refresh.

    ``id`` persists across refreshes: a cluster keeps the id most of its members carried in
    ``hazard.cluster_id`` (new ids from ``hazard_cluster_id_seq``).
    """

    __tablename__ = "hazard_cluster"
    __table_args__ = (
        CheckConstraint("kind IN ('similar', 'systemic', 'mixed')", name="kind_valid"),
        CheckConstraint("level IS NULL OR level IN ('yellow', 'red')", name="level_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    category: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(8))
    members: Mapped[int]
    categories: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    n_categories: Mapped[int] = mapped_column(SmallInteger)
    dominant_category: Mapped[str] = mapped_column(String(32))
    dominant_share: Mapped[float] = mapped_column(Double)
    area_m2: Mapped[float] = mapped_column(Double)
    density_per_km2: Mapped[float] = mapped_column(Double)
    previous_members: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    growth: Mapped[float | None] = mapped_column(Double)
    window_from: Mapped[datetime]
    window_to: Mapped[datetime]
    computed_at: Mapped[datetime]
    grid_id: Mapped[int | None] = mapped_column(_fk("grid"), index=True)
    community_id: Mapped[int | None] = mapped_column(_fk("region"))
    street_id: Mapped[int | None] = mapped_column(_fk("region"))
    geom: Mapped[WKBElement] = _geom("POLYGON")


class HotspotCell(Base):
    """Getis-Ord Gi* of the hazard count of an H3 cell, per category ('all': every category)."""

    __tablename__ = "hotspot_cell"
    __table_args__ = (
        CheckConstraint("hotspot IN ('hot', 'cold', 'ns')", name="hotspot_valid"),
        UniqueConstraint("h3_cell", "resolution", "category", name="uq_hotspot_cell_h3_cell"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    h3_cell: Mapped[int] = mapped_column(BigInteger)
    resolution: Mapped[int] = mapped_column(SmallInteger)
    category: Mapped[str] = mapped_column(String(32), server_default="all")
    hazards: Mapped[int]
    gi: Mapped[float] = mapped_column(Double)
    z: Mapped[float] = mapped_column(Double)
    p_sim: Mapped[float | None] = mapped_column(Double)
    p_z_sim: Mapped[float | None] = mapped_column(Double)
    p_binom: Mapped[float | None] = mapped_column(Double)
    p_norm: Mapped[float] = mapped_column(Double)
    p_fdr: Mapped[float] = mapped_column(Double)
    hotspot: Mapped[str] = mapped_column(String(8))
    permutations: Mapped[int]
    window_from: Mapped[datetime]
    window_to: Mapped[datetime]
    computed_at: Mapped[datetime]
    grid_id: Mapped[int | None] = mapped_column(_fk("grid"), index=True)
    geom: Mapped[WKBElement] = _geom("POLYGON")


class HazardWarning(Base):
    """A cluster warning (seed 002): yellow to the community, red to the street and district.

    Unique per (cluster, level), so a refresh never sends the same warning twice.
    """

    __tablename__ = "hazard_warning"
    __table_args__ = (
        CheckConstraint("level IN ('blue', 'yellow', 'red')", name="level_valid"),
        UniqueConstraint("cluster_id", "level", name="uq_hazard_warning_cluster_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    level: Mapped[str] = mapped_column(String(8))
    cluster_id: Mapped[int] = mapped_column(Integer)
    region_id: Mapped[int | None] = mapped_column(_fk("region"), index=True)
    category: Mapped[str | None] = mapped_column(String(32))
    members: Mapped[int]
    recipients: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
