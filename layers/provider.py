"""pygeoapi feature provider for FireTwin layers: PostgreSQL with the caller's scope applied.

pygeoapi instantiates a provider per request inside the request's context, so the caller's
scope travels in a context variable (``CALLER``) set by the service before it calls pygeoapi.
On top of pygeoapi's PostgreSQL provider this one

- restricts rows to the scope (grids, or the layer's public filter) in ``query`` and ``get``;
- hides personal fields from the public (and from roles without personal data, e.g. planners)
  everywhere: output, queryables, ``properties``,
  ``sortby`` and CQL2 filters (a filter on a hidden field is refused, so it cannot be used to
  probe values);
- fixes pygeoapi's CQL2 spatial filters with a CRS84 storage CRS: pygeofilter reads the SRID
  from the geometry's CRS URN and fails on the CRS84 URI; after pygeoapi has transformed filter
  geometries to the storage CRS (lon/lat), they are tagged EPSG:4326, which PostGIS reads as
  x = lon, y = lat — the axis order of the data;
- routes transactions (OGC API Features Part 4) to ``layers.transactions``, which validates
  them and writes the underlying table with H3 indexing.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal

import pygeofilter.ast as ast
import shapely
import shapely.geometry
from geoalchemy2.functions import ST_Intersects, ST_MakeEnvelope
from pygeoapi.provider.base import (
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)
from pygeoapi.provider.sql import PostgreSQLProvider
from pygeofilter import values as pgf_values
from sqlalchemy import and_, false, func, select, text
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from layers.catalogue import CATALOGUE, Layer
from layers.scope import Scope, scope_condition, visible

LOGGER = logging.getLogger(__name__)

BY_VIEW: dict[str, Layer] = {layer.view: layer for layer in CATALOGUE}


@dataclass(frozen=True)
class CallerContext:
    """What the provider needs to know about the caller."""

    scope: Scope
    role: str = "public"
    user_id: int | None = None


CALLER: ContextVar[CallerContext] = ContextVar(
    "firetwin_caller", default=CallerContext(Scope.public())
)


def _attributes(node: object) -> set[str]:
    """Names of all attributes a pygeofilter AST refers to."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Attribute):
            found.add(n.name)
        if isinstance(n, ast.Node):
            stack.extend(c for c in n.get_sub_nodes() if c is not None)
        elif isinstance(n, list | tuple):
            stack.extend(n)
    return found


class BadFilter(ValueError):
    """A CQL2 filter that parses but cannot be run (invalid geometry, unknown function)."""


def _tag_wgs84(node: object) -> object:
    """Tag geometry literals as EPSG:4326 (lon/lat) for PostGIS (see module docstring).

    Also turns ``BBOX(minx, miny, maxx, maxy)`` (parsed as a generic function) into an
    envelope, and refuses invalid geometry literals.
    """
    if isinstance(node, pgf_values.Geometry):
        geom = dict(node.geometry)
        try:
            shape = shapely.geometry.shape(geom)
        except Exception as e:
            msg = f"invalid geometry in filter: {e}"
            raise BadFilter(msg) from e
        if not shape.is_valid:
            msg = f"invalid geometry in filter: {shapely.is_valid_reason(shape)}"
            raise BadFilter(msg)
        geom["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}}
        return pgf_values.Geometry(geom)
    if isinstance(node, pgf_values.Envelope):
        return node
    if isinstance(node, ast.Function) and node.name.lower() == "bbox":
        args = node.arguments
        if len(args) != 4 or not all(isinstance(a, int | float) for a in args):
            msg = "BBOX needs four numbers: BBOX(minx, miny, maxx, maxy)"
            raise BadFilter(msg)
        minx, miny, maxx, maxy = (float(a) for a in args)
        if minx > maxx or miny > maxy:
            msg = "BBOX minimum is greater than maximum"
            raise BadFilter(msg)
        return pgf_values.Envelope(minx, maxx, miny, maxy)
    if isinstance(node, ast.Node):
        for name, value in list(vars(node).items()):
            if isinstance(value, list):
                setattr(node, name, [_tag_wgs84(v) for v in value])
            elif isinstance(value, ast.Node | pgf_values.Geometry):
                setattr(node, name, _tag_wgs84(value))
    return node


class FireTwinProvider(PostgreSQLProvider):
    """PostgreSQL provider for a catalogue layer, scoped to the caller."""

    def __init__(self, provider_def: dict) -> None:
        self.layer = BY_VIEW[provider_def["table"]]
        self.caller = CALLER.get()
        super().__init__(provider_def)

    # ------------------------------------------------------------------ scope

    @property
    def scope(self) -> Scope:
        return self.caller.scope

    def _hidden(self) -> set[str]:
        if not self.scope.personal:
            return {f.name for f in self.layer.fields if f.personal}
        return set()

    def _scope_clause(self):
        if not visible(self.layer, self.scope):
            return false()
        return text(scope_condition(self.layer, self.scope))

    def get_fields(self) -> dict:
        fields = super().get_fields()
        for name in self._hidden() | {"grid_id"} - set(self.layer.field_names):
            fields.pop(name, None)
        return fields

    # --------------------------------------------------------------- filters

    def _get_property_filters(self, properties):
        return and_(super()._get_property_filters(properties), self._scope_clause())

    def _get_cql_filters(self, filterq):
        if not filterq:
            return True
        hidden = _attributes(filterq) & self._hidden()
        if hidden:
            msg = f"cannot filter on {', '.join(sorted(hidden))}"
            raise ProviderInvalidQueryError(msg, user_msg=msg)
        unknown = _attributes(filterq) - set(self.fields) - {self.geom, self.id_field}
        if unknown:
            msg = f"unknown properties in filter: {', '.join(sorted(unknown))}"
            raise ProviderInvalidQueryError(msg, user_msg=msg)
        try:
            return super()._get_cql_filters(_tag_wgs84(filterq))
        except BadFilter as e:
            raise ProviderInvalidQueryError(str(e), user_msg=str(e)) from e
        except (KeyError, NotImplementedError) as e:
            msg = f"unsupported CQL2 function or operator: {e}"
            raise ProviderInvalidQueryError(msg, user_msg=msg) from e

    def _get_bbox_filter(self, bbox: list[float]):
        if not bbox:
            return True
        envelope = ST_MakeEnvelope(*bbox, 4326)
        return ST_Intersects(envelope, getattr(self.table_model, self.geom))

    # ----------------------------------------------------------------- reads

    def query(self, *args, **kwargs):
        if not visible(self.layer, self.scope):
            raise ProviderItemNotFoundError("collection not found")
        hidden = self._hidden()
        for key in ("select_properties",):
            names = set(kwargs.get(key) or ())
            if names & hidden:
                msg = f"unknown properties: {', '.join(sorted(names & hidden))}"
                raise ProviderInvalidQueryError(msg, user_msg=msg)
        props = {name for name, _ in kwargs.get("properties") or ()}
        sorts = {s["property"] for s in kwargs.get("sortby") or ()}
        if (props | sorts) & hidden:
            msg = f"unknown properties: {', '.join(sorted((props | sorts) & hidden))}"
            raise ProviderInvalidQueryError(msg, user_msg=msg)
        try:
            if kwargs.get("crs_transform_spec") is None and not args:
                return self._fast_query(**kwargs)
            return super().query(*args, **kwargs)
        except DataError as e:  # a value the column type refuses (a malformed date, ...)
            msg = f"invalid value in query: {e.orig.diag.message_primary if e.orig else e}"
            raise ProviderInvalidQueryError(msg, user_msg=msg) from e

    def _fast_query(self, *, offset=0, limit=10, resulttype="results", bbox=(), datetime_=None,
                    properties=(), sortby=(), select_properties=(), skip_geometry=False,
                    filterq=None, **_ignored) -> dict:
        """pygeoapi's query with the same filters, but GeoJSON built by PostGIS.

        pygeoapi's SQL provider loads every row as an ORM object and converts its WKB through
        shapely in Python; here one Core SELECT returns the properties and ``ST_AsGeoJSON``
        text, which is several times cheaper per feature. Used whenever no CRS transformation
        is asked for (CRS84 output); other CRSs go through pygeoapi's path.
        """
        model = self.table_model
        where = and_(
            self._get_property_filters(properties),
            self._get_cql_filters(filterq),
            self._get_bbox_filter(list(bbox)),
            self._get_datetime_filter(datetime_),
        )
        hidden = self._hidden() | {self.geom}
        names = [n for n in (select_properties or list(self.fields)) if n not in hidden]
        cols = [getattr(model, n) for n in names if hasattr(model, n)]
        id_col = getattr(model, self.id_field)
        response: dict = {"type": "FeatureCollection", "features": [], "numberReturned": 0}
        with Session(self._engine) as session:
            if self.count or resulttype == "hits":
                response["numberMatched"] = session.execute(
                    select(func.count()).select_from(model).where(where)
                ).scalar_one()
            if resulttype == "hits":
                return response
            geo = [] if skip_geometry else [
                func.ST_AsGeoJSON(getattr(model, self.geom), 9).label("__geojson")
            ]
            stmt = (select(id_col.label("__id"), *cols, *geo).where(where)
                    .order_by(*self._get_order_by_clauses(list(sortby), model))
                    .offset(offset).limit(limit))
            rows = session.execute(stmt).all()
        keys = [c.key for c in cols]
        features = response["features"]
        for row in rows:
            props = {}
            for k, v in zip(keys, row[1:1 + len(keys)], strict=True):
                props[k] = v.isoformat() if hasattr(v, "isoformat") else (
                    float(v) if isinstance(v, Decimal) else v)
            geom = None if skip_geometry or row[-1] is None else json.loads(row[-1])
            features.append({"type": "Feature", "id": row[0], "geometry": geom,
                             "properties": props})
        response["numberReturned"] = len(features)
        return response

    def get(self, identifier, crs_transform_spec=None, **kwargs):
        with Session(self._engine) as session:
            try:
                key = int(identifier)
            except (TypeError, ValueError):
                key = None
            found = key is not None and session.query(self.table_model).filter(
                getattr(self.table_model, self.id_field) == key
            ).filter(self._scope_clause()).count()
        if not found:
            msg = f"No such item: {self.id_field}={identifier}."
            raise ProviderItemNotFoundError(msg, user_msg=msg)
        return super().get(key, crs_transform_spec=crs_transform_spec, **kwargs)

    def _sqlalchemy_to_feature(self, item, crs_transform_out=None, select_properties=()):
        feature = super()._sqlalchemy_to_feature(item, crs_transform_out, select_properties)
        props = feature["properties"]
        for name in self._hidden() | {self.geom}:
            props.pop(name, None)
        for k, v in props.items():
            if hasattr(v, "isoformat"):
                props[k] = v.isoformat()
        return feature

    # ---------------------------------------------------------- transactions

    def create(self, item):
        from layers import transactions

        return transactions.create(self, item)

    def update(self, identifier, item):
        from layers import transactions

        return transactions.update(self, identifier, item)

    def delete(self, identifier):
        from layers import transactions

        return transactions.delete(self, identifier)
