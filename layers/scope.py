"""The caller's scope, as the layer code sees it: everything, a set of grids, or the public.

The services layer derives a ``Scope`` from the signed-in user (role and grids); everything that
serves layer data (OGC API, tiles, exports, live streams) takes one and filters with
:func:`row_filter`, so access rules live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from layers.catalogue import Access, Layer


@dataclass(frozen=True)
class Scope:
    """What a caller may see.

    ``kind`` is "all" (every row), "grids" (rows of these grids), "units" (rows of these units:
    a unit's safety manager) or "public" (published rows of public layers). ``personal`` says
    whether personal data (names, phone numbers) may be shown; without it those fields are left
    out of layer outputs and masked in REST details.
    """

    kind: str
    grids: frozenset[int] | None = None
    units: frozenset[int] | None = None
    personal: bool = True

    @classmethod
    def everything(cls, *, personal: bool = True) -> Scope:
        return cls("all", personal=personal)

    @classmethod
    def for_grids(cls, grids: set[int] | frozenset[int]) -> Scope:
        return cls("grids", frozenset(grids))

    @classmethod
    def for_units(cls, units: set[int] | frozenset[int]) -> Scope:
        return cls("units", units=frozenset(units))

    @classmethod
    def public(cls) -> Scope:
        return cls("public", personal=False)

    @property
    def is_public(self) -> bool:
        return self.kind == "public"

    def allows(self, *, grid_id: int | None, unit_id: int | None = None) -> bool:
        """Whether a grid-access row with this grid and unit is in scope (public: never)."""
        if self.kind == "all":
            return True
        if self.kind == "grids":
            return grid_id in (self.grids or ())
        if self.kind == "units":
            return unit_id in (self.units or ())
        return False

    def cache_key(self) -> str:
        """A short key that differs between scopes that may see different rows or fields."""
        tail = "" if self.personal else ":np"
        if self.kind == "grids":
            return "g:" + ",".join(map(str, sorted(self.grids or ()))) + tail
        if self.kind == "units":
            return "u:" + ",".join(map(str, sorted(self.units or ()))) + tail
        return self.kind + tail


class LayerForbidden(Exception):
    """The caller's scope may not see this layer at all."""


def visible(layer: Layer, scope: Scope) -> bool:
    """Whether the layer is visible in this scope at all."""
    return not scope.is_public or layer.public_filter is not None


def _ints(values: frozenset[int] | None) -> str:
    return ", ".join(str(int(v)) for v in sorted(values or ()))


def scope_condition(layer: Layer, scope: Scope, *, alias: str | None = None) -> str:
    """The SQL condition restricting the layer's rows to the scope, as text.

    Used by every path that serves layer rows (tiles via ``row_filter``, the OGC provider via
    SQLAlchemy ``text``). Only integers from the scope and the catalogue's own public filter
    go into it, never request text. Raises LayerForbidden when the scope may not see the layer.
    """
    if not visible(layer, scope):
        msg = f"layer {layer.id} is not public"
        raise LayerForbidden(msg)
    if scope.is_public:
        return f"({layer.public_filter or 'false'})"
    if layer.access is not Access.grid or scope.kind == "all":
        return "TRUE"
    def col(name: str) -> str:
        return f'"{alias}"."{name}"' if alias else name

    if scope.kind == "grids":
        return f"{col('grid_id')} = ANY(ARRAY[{_ints(scope.grids)}]::integer[])"
    if scope.kind == "units" and layer.unit_column:
        return f"{col(layer.unit_column)} = ANY(ARRAY[{_ints(scope.units)}]::integer[])"
    return "FALSE"


def row_filter(layer: Layer, scope: Scope, *, alias: str | None = None) -> sql.Composable:
    """``scope_condition`` for psycopg queries (columns qualified by ``alias`` when given)."""
    if alias is not None and not alias.isidentifier():
        msg = f"bad alias {alias!r}"
        raise ValueError(msg)
    return sql.SQL(scope_condition(layer, scope, alias=alias))


def fields_for(layer: Layer, scope: Scope) -> tuple[str, ...]:
    """Field names the scope may see (no personal data without ``scope.personal``)."""
    if not scope.personal:
        return tuple(f.name for f in layer.public_fields())
    return layer.field_names
