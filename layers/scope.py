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
    """What a caller may see. ``grids=None`` means every grid."""

    kind: str  # "all" | "grids" | "public"
    grids: frozenset[int] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls("all")

    @classmethod
    def for_grids(cls, grids: set[int] | frozenset[int]) -> Scope:
        return cls("grids", frozenset(grids))

    @classmethod
    def public(cls) -> Scope:
        return cls("public")

    @property
    def is_public(self) -> bool:
        return self.kind == "public"

    def cache_key(self) -> str:
        """A short key that differs between scopes that may see different rows."""
        if self.kind == "grids":
            return "g:" + ",".join(map(str, sorted(self.grids or ())))
        return self.kind


class LayerForbidden(Exception):
    """The caller's scope may not see this layer at all."""


def visible(layer: Layer, scope: Scope) -> bool:
    """Whether the layer is visible in this scope at all."""
    return not scope.is_public or layer.public_filter is not None


def scope_condition(layer: Layer, scope: Scope, *, column: str = "grid_id") -> str:
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
    if scope.kind == "grids" and layer.access is Access.grid:
        grids = ", ".join(str(int(g)) for g in sorted(scope.grids or ()))
        return f"{column} = ANY(ARRAY[{grids}]::integer[])"
    return "TRUE"


def row_filter(layer: Layer, scope: Scope, *, alias: str | None = None) -> sql.Composable:
    """``scope_condition`` for psycopg queries (``alias.grid_id`` when an alias is given)."""
    column = sql.Identifier(alias, "grid_id") if alias else sql.Identifier("grid_id")
    return sql.SQL(scope_condition(layer, scope, column="{col}")).format(col=column)


def fields_for(layer: Layer, scope: Scope) -> tuple[str, ...]:
    """Field names the scope may see (no personal data for the public)."""
    if scope.is_public:
        return tuple(f.name for f in layer.public_fields())
    return layer.field_names
