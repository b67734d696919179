"""OGC API Features Part 4 transactions on the hazards layer, validated.

A created hazard must be a GeoJSON Feature with a valid Point in lon/lat, a category and
subcategory from the taxonomy, a tier and a title; anything else (unknown or protected
properties, bad geometry, a point outside the caller's grids) is refused with 400/403 and
nothing is stored. The row goes to ``firetwin.hazard`` with its H3 cells (``gis.indexing``),
the grid trigger fills ``grid_id``, and a ``reported`` event opens its history — all in one
transaction. Status changes go through the hazard workflow, not through PUT.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import shapely
from pygeoapi.provider.base import (
    ProviderGenericError,
    ProviderInvalidDataError,
    ProviderItemNotFoundError,
)
from sqlalchemy import text

from gis import vocab
from gis.indexing import index_geometry

if TYPE_CHECKING:
    from layers.provider import FireTwinProvider

WRITE_ROLES = frozenset({"admin", "dispatcher", "street_officer", "community_admin", "grid_worker",
                         "inspector"})
DELETE_ROLES = frozenset({"admin"})
EDITABLE = {"category", "subcategory", "tier", "title", "description", "source", "unit_id"}
REQUIRED = ("category", "subcategory", "tier", "title")
MAX_TITLE = 256
MAX_DESCRIPTION = 4000


class ProviderForbiddenError(ProviderGenericError):
    """The caller's role or scope does not allow this write."""

    ogc_exception_code = "Forbidden"
    http_status_code = HTTPStatus.FORBIDDEN
    default_msg = "your role may not change this collection"


class BadFeature(ProviderInvalidDataError):
    """The submitted feature is not acceptable."""

    ogc_exception_code = "InvalidParameterValue"
    http_status_code = HTTPStatus.BAD_REQUEST
    default_msg = "invalid feature"


def _bad(msg: str) -> BadFeature:
    return BadFeature(msg, user_msg=msg)


def _parse(payload: Any) -> dict[str, Any]:
    if isinstance(payload, bytes | bytearray):
        payload = payload.decode("utf-8", errors="strict")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as e:
            msg = f"body is not valid JSON: {e.msg} at position {e.pos}"
            raise _bad(msg) from e
    if not isinstance(payload, dict) or payload.get("type") != "Feature":
        msg = "body must be a GeoJSON Feature"
        raise _bad(msg)
    return payload


def _point(geometry: Any) -> shapely.Point:
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        msg = "geometry must be a GeoJSON Point"
        raise _bad(msg)
    coords = geometry.get("coordinates")
    if (
        not isinstance(coords, list)
        or len(coords) not in (2, 3)
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
    ):
        msg = "geometry coordinates must be [lon, lat]"
        raise _bad(msg)
    lon, lat = float(coords[0]), float(coords[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        msg = "geometry coordinates must be finite numbers"
        raise _bad(msg)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"coordinates ({lon}, {lat}) are outside lon/lat range (CRS84: [lon, lat])"
        raise _bad(msg)
    return shapely.Point(lon, lat)


def _properties(props: Any, *, partial: bool) -> dict[str, Any]:
    if not isinstance(props, dict):
        msg = "properties must be an object"
        raise _bad(msg)
    unknown = sorted(set(props) - EDITABLE)
    if unknown:
        msg = f"properties not accepted: {', '.join(unknown)} (allowed: {', '.join(sorted(EDITABLE))})"
        raise _bad(msg)
    if not partial:
        missing = [k for k in REQUIRED if props.get(k) in (None, "")]
        if missing:
            msg = f"missing required properties: {', '.join(missing)}"
            raise _bad(msg)
    out = dict(props)
    if "category" in out and out["category"] not in vocab.HAZARD_TAXONOMY:
        msg = f"category must be one of: {', '.join(vocab.HAZARD_TAXONOMY)}"
        raise _bad(msg)
    if "subcategory" in out:
        cat = out.get("category")
        allowed = vocab.HAZARD_TAXONOMY.get(cat, ()) if cat else ()
        if out["subcategory"] not in allowed:
            msg = f"subcategory of {cat!r} must be one of: {', '.join(allowed)}"
            raise _bad(msg)
    if "tier" in out and out["tier"] not in vocab.HAZARD_TIERS:
        msg = f"tier must be one of: {', '.join(vocab.HAZARD_TIERS)}"
        raise _bad(msg)
    if "source" in out and out["source"] not in vocab.HAZARD_SOURCES:
        msg = f"source must be one of: {', '.join(vocab.HAZARD_SOURCES)}"
        raise _bad(msg)
    for key, limit in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION)):
        if key in out and out[key] is not None:
            if not isinstance(out[key], str) or not out[key].strip():
                msg = f"{key} must be a non-empty string"
                raise _bad(msg)
            if len(out[key]) > limit or "\x00" in out[key]:
                msg = f"{key} must be at most {limit} characters without NUL"
                raise _bad(msg)
    if "unit_id" in out and out["unit_id"] is not None and (
        not isinstance(out["unit_id"], int) or isinstance(out["unit_id"], bool)
    ):
        msg = "unit_id must be an integer"
        raise _bad(msg)
    return out


def _check_role(provider: FireTwinProvider, roles: frozenset[str]) -> None:
    if provider.caller.role not in roles:
        raise ProviderForbiddenError(user_msg=f"role {provider.caller.role!r} may not do this")


def _check_in_scope(conn, provider: FireTwinProvider, point: shapely.Point) -> None:
    scope = provider.scope
    if scope.kind != "grids":
        return
    grid = conn.execute(
        text("SELECT firetwin.grid_for(ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
        {"x": point.x, "y": point.y},
    ).scalar()
    if grid not in (scope.grids or ()):
        raise ProviderForbiddenError(user_msg="the location is outside your grids")


def create(provider: FireTwinProvider, payload: Any) -> int:
    """Validate and insert a hazard; return its id."""
    _check_role(provider, WRITE_ROLES)
    feature = _parse(payload)
    point = _point(feature.get("geometry"))
    props = _properties(feature.get("properties") or {}, partial=False)
    props.setdefault("source", "grid_worker")
    cells = index_geometry(point)
    with provider._engine.begin() as conn:
        _check_in_scope(conn, provider, point)
        if props.get("unit_id") is not None and not conn.execute(
            text("SELECT 1 FROM firetwin.unit WHERE id = :u"), {"u": props["unit_id"]}
        ).first():
            msg = f"unit_id {props['unit_id']} does not exist"
            raise _bad(msg)
        hid = conn.execute(text("SELECT nextval(pg_get_serial_sequence('firetwin.hazard', 'id'))")).scalar()
        conn.execute(
            text(
                "INSERT INTO firetwin.hazard (id, code, category, subcategory, tier, status, source,"
                " title, description, unit_id, reporter_user_id, verify_due_at, geom,"
                " h3_r7, h3_r9, h3_r11) VALUES (:id, :code, :category, :subcategory, :tier,"
                " 'reported', :source, :title, :description, :unit_id, :user_id,"
                " now() + interval '24 hours', ST_SetSRID(ST_MakePoint(:x, :y), 4326),"
                " :h3_r7, :h3_r9, :h3_r11)"
            ),
            {
                "id": hid, "code": f"HZ-{hid:08d}", "category": props["category"],
                "subcategory": props["subcategory"], "tier": props["tier"],
                "source": props["source"], "title": props["title"].strip(),
                "description": props.get("description"), "unit_id": props.get("unit_id"),
                "user_id": provider.caller.user_id, "x": point.x, "y": point.y, **cells,
            },
        )
        conn.execute(
            text(
                "INSERT INTO firetwin.hazard_event (hazard_id, at, action, to_status,"
                " actor_user_id, note, geom, h3_r7, h3_r9, h3_r11)"
                " VALUES (:id, now(), 'report', 'reported', :user_id, 'created via OGC API',"
                " ST_SetSRID(ST_MakePoint(:x, :y), 4326), :h3_r7, :h3_r9, :h3_r11)"
            ),
            {"id": hid, "user_id": provider.caller.user_id, "x": point.x, "y": point.y, **cells},
        )
    return int(hid)


def update(provider: FireTwinProvider, identifier: Any, payload: Any) -> bool:
    """Replace a hazard's editable properties and/or location (status is not editable)."""
    _check_role(provider, WRITE_ROLES)
    feature = _parse(payload)
    props = _properties(feature.get("properties") or {}, partial=True)
    point = _point(feature["geometry"]) if feature.get("geometry") is not None else None
    provider.get(identifier)  # 404 when absent or outside the caller's scope
    sets, params = [], {"id": int(identifier)}
    for key, value in props.items():
        sets.append(f"{key} = :{key}")
        params[key] = value
    with provider._engine.begin() as conn:
        if point is not None:
            _check_in_scope(conn, provider, point)
            sets.append("geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326)")
            sets += [f"{k} = :{k}" for k in ("h3_r7", "h3_r9", "h3_r11")]
            params |= {"x": point.x, "y": point.y, **index_geometry(point)}
        if "category" in props and "subcategory" not in props:
            msg = "changing category needs a subcategory too"
            raise _bad(msg)
        if not sets:
            return True
        sets.append("updated_at = now()")
        result = conn.execute(
            text(f"UPDATE firetwin.hazard SET {', '.join(sets)} WHERE id = :id"), params
        )
        if result.rowcount == 0:
            raise ProviderItemNotFoundError(user_msg=f"No such item: id={identifier}.")
    return True


def delete(provider: FireTwinProvider, identifier: Any) -> bool:
    """Delete a hazard (administrators only: hazards keep their whole history otherwise)."""
    _check_role(provider, DELETE_ROLES)
    with provider._engine.begin() as conn:
        result = conn.execute(text("DELETE FROM firetwin.hazard WHERE id = :id"),
                              {"id": int(identifier)})
    if result.rowcount == 0:
        raise ProviderItemNotFoundError(user_msg=f"No such item: id={identifier}.")
    return True
