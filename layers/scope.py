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


def row_filter(layer: Layer, scope: Scope, *, alias: str | None = None) -> sql.Composable:
    """SQL condition restricting the layer's rows to the scope (``TRUE`` for everything).

    Raises LayerForbidden when the scope may not see the layer.
    """
    if not visible(layer, scope):
        msg = f"layer {layer.id} is not public"
        raise LayerForbidden(msg)
    col = sql.Identifier(alias, "grid_id") if alias else sql.Identifier("grid_id")
    if scope.is_public:
        return sql.SQL("({})").format(sql.SQL(layer.public_filter or "false"))
    if scope.kind == "grids" and layer.access is Access.grid:
        grids = sorted(scope.grids or ())
        return sql.SQL("{} = ANY({})").format(col, sql.Literal(grids))
    return sql.SQL("TRUE")


def fields_for(layer: Layer, scope: Scope) -> tuple[str, ...]:
    """Field names the scope may see (no personal data for the public)."""
    if scope.is_public:
        return tuple(f.name for f in layer.public_fields())
    return layer.field_names
