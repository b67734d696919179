"""Mapbox Vector Tiles from PostGIS, one ``ST_AsMVT`` path for every catalogue layer.

A tile of layer L at z/x/y holds the rows of view ``layers.<L.view>`` whose ``geom`` (EPSG:4326)
overlaps the tile envelope grown by the buffer (``ST_TileEnvelope(z, x, y, margin =>
buffer/extent)`` transformed to 4326, so the GiST index on the base table is used), restricted by
the caller's scope (:func:`layers.scope.row_filter`) and carrying only the fields the scope may
see (:func:`layers.scope.fields_for`). Geometries go to EPSG:3857 (integer SRIDs only: a text
CRS costs seconds per tile) and through ``ST_AsMVTGeom`` (clipped to the buffer, snapped to the
tile grid). Layers declared with ``simplify=True`` are first simplified with ``ST_Simplify(...,
preserveCollapsed => true)`` at ``simplify_px`` screen pixels of a 256-pixel tile; a feature
whose simplified shape vanishes on the tile grid keeps its plain shape, so simplification never
drops a feature (bench/tiles.py measures the bytes saved). The MVT feature id is the
view's ``id``; datetimes are ISO 8601 strings in UTC. At most ``max_features`` rows per layer,
lowest ids first, so a truncated tile is the same on every worker. Outside the layer's
minzoom..maxzoom a tile is empty (``b""``) and no query runs.

MVT layers concatenate, so the multi-layer tile of the one-map is the concatenation of the
per-layer tiles (:func:`get_tiles` renders several in one round trip).

The SQL text depends only on the layers, the scope and whether simplification is on (z, x, y
and the settings' numbers are bound), so it is composed once and reused; psycopg then prepares
it on each connection after a few uses. The result comes back in binary, not as hex text.

``get_tile`` takes a connection and a scope and knows nothing of HTTP or caching, so the OGC API
Tiles provider can call it too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, sql

from gis.errors import InvalidInputError
from layers.catalogue import Field, Layer
from layers.scope import Scope, fields_for, row_filter
from tiles.settings import MVTSettings

__all__ = [
    "build_tile_query",
    "check_tile",
    "get_tile",
    "get_tiles",
    "in_zoom",
    "simplify_tolerance_m",
    "tile_bounds_4326",
    "tile_params",
]

#: Half the width of the EPSG:3857 world, metres.
WORLD_HALF_M = 20037508.342789244
EARTH_RADIUS_M = 6378137.0
_POLYGONAL = {"LineString", "Polygon", "MultiPolygon"}


def check_tile(z: int, x: int, y: int, *, max_zoom: int = 24) -> None:
    """Raise InvalidInputError unless z/x/y names a tile of the WebMercatorQuad grid."""
    if not 0 <= z <= max_zoom:
        msg = f"zoom {z} is out of range 0..{max_zoom}"
        raise InvalidInputError(msg)
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        msg = f"tile {z}/{x}/{y} does not exist: x and y must be in 0..{n - 1} at zoom {z}"
        raise InvalidInputError(msg)


def in_zoom(layer: Layer, z: int) -> bool:
    """Whether the layer is drawn at zoom ``z``."""
    return layer.minzoom <= z <= layer.maxzoom


def tile_size_m(z: int) -> float:
    """Width of a tile at zoom ``z`` in EPSG:3857 metres."""
    return 2 * WORLD_HALF_M / (1 << z)


def simplify_tolerance_m(z: int, settings: MVTSettings) -> float:
    """``simplify_px`` pixels of a 256-pixel tile at zoom ``z``, in EPSG:3857 metres."""
    return settings.simplify_px * tile_size_m(z) / 256.0


def tile_bounds_4326(
    z: int, x: int, y: int, *, margin: float = 0.0
) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of the tile grown by ``margin`` tile widths."""
    size = tile_size_m(z)
    pad = size * margin
    x0 = -WORLD_HALF_M + x * size - pad
    x1 = -WORLD_HALF_M + (x + 1) * size + pad
    y1 = WORLD_HALF_M - y * size + pad
    y0 = WORLD_HALF_M - (y + 1) * size - pad

    def lon(m: float) -> float:
        return math.degrees(m / EARTH_RADIUS_M)

    def lat(m: float) -> float:
        return math.degrees(math.atan(math.sinh(m / EARTH_RADIUS_M)))

    return lon(x0), lat(y0), lon(x1), lat(y1)


def tile_params(z: int, x: int, y: int, settings: MVTSettings) -> dict[str, Any]:
    """The bound values of a tile query."""
    return {
        "z": z,
        "x": x,
        "y": y,
        "extent": settings.extent,
        "buffer": settings.buffer,
        "margin": settings.buffer / settings.extent,
        "max_features": settings.max_features,
        "tolerance": simplify_tolerance_m(z, settings),
    }


def _property(f: Field) -> sql.Composable:
    col = sql.Identifier("t", f.name)
    name = sql.Identifier(f.name)
    if f.type == "datetime":
        return sql.SQL(
            """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS {}"""
        ).format(col, name)
    if f.type == "date":
        return sql.SQL("{}::text AS {}").format(col, name)
    return sql.SQL("{} AS {}").format(col, name)


def _tile_expr(layer: Layer, scope: Scope, z: int, settings: MVTSettings) -> sql.Composed:
    """A scalar SQL expression: the layer's MVT bytes at the tile of the bound z/x/y."""
    visible = set(fields_for(layer, scope))
    props = [_property(f) for f in layer.fields if f.name in visible and f.name != "id"]
    mvt_geom = sql.SQL(
        "ST_AsMVTGeom({}, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), %(extent)s, %(buffer)s, true)"
    )
    plain = mvt_geom.format(sql.SQL("m.g"))
    geom: sql.Composable = plain
    if layer.simplify and layer.geometry_type in _POLYGONAL and settings.simplify_px > 0:
        # A feature whose simplified shape vanishes on the tile grid keeps its plain shape.
        simplified = mvt_geom.format(sql.SQL("ST_Simplify(m.g, %(tolerance)s, true)"))
        geom = sql.SQL("coalesce({}, {})").format(simplified, plain)
    columns = sql.SQL(", ").join([sql.SQL("t.id"), *props])
    return sql.SQL(
        "coalesce(("
        "SELECT ST_AsMVT(q, {name}, %(extent)s, 'geom', 'id') FROM ("
        " SELECT {columns}, {geom} AS geom"
        " FROM {view} AS t CROSS JOIN LATERAL (SELECT ST_Transform(t.geom, 3857) AS g) AS m"
        " WHERE t.geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s,"
        " margin => %(margin)s), 4326)"
        " AND {filter}"
        " ORDER BY t.id LIMIT %(max_features)s"
        ") AS q WHERE q.geom IS NOT NULL"
        "), ''::bytea)"
    ).format(
        name=sql.Literal(layer.id),
        columns=columns,
        geom=geom,
        view=sql.Identifier(layer.schema, layer.view),
        filter=row_filter(layer, scope, alias="t"),
    )


def build_tile_query(
    layer: Layer, scope: Scope, z: int, *, settings: MVTSettings | None = None
) -> sql.Composed:
    """Compose the ST_AsMVT query of one layer (identifiers quoted, values bound).

    The query takes the parameters of :func:`tile_params` and returns one ``bytea`` row. ``z``
    decides whether simplification applies. Raises LayerForbidden when the scope may not see
    the layer.
    """
    settings = settings or MVTSettings()
    return sql.SQL("SELECT {}").format(_tile_expr(layer, scope, z, settings))


_QUERIES: dict[tuple[tuple[tuple[str, str], ...], Scope, bool], bytes] = {}
_MAX_QUERIES = 512


def _multi_query(layers: Sequence[Layer], scope: Scope, z: int, settings: MVTSettings) -> bytes:
    """The SQL of several layers' tiles, composed once per (layers, scope, simplification)."""
    key = (tuple((layer.id, layer.view) for layer in layers), scope, settings.simplify_px > 0)
    query = _QUERIES.get(key)
    if query is None:
        query = sql.SQL("SELECT {}").format(
            sql.SQL(", ").join(_tile_expr(layer, scope, z, settings) for layer in layers)
        ).as_bytes(None)
        if len(_QUERIES) >= _MAX_QUERIES:  # many distinct grid scopes: start over
            _QUERIES.clear()
        _QUERIES[key] = query
    return query


async def get_tile(
    conn: AsyncConnection,
    layer: Layer,
    z: int,
    x: int,
    y: int,
    *,
    scope: Scope,
    settings: MVTSettings,
) -> bytes:
    """One layer's MVT tile; ``b""`` when empty or outside the layer's zoom range.

    Raises InvalidInputError for a tile outside the grid and LayerForbidden when the scope may
    not see the layer.
    """
    return (await get_tiles(conn, [layer], z, x, y, scope=scope, settings=settings))[layer.id]


async def get_tiles(
    conn: AsyncConnection,
    layers: Sequence[Layer],
    z: int,
    x: int,
    y: int,
    *,
    scope: Scope,
    settings: MVTSettings,
) -> dict[str, bytes]:
    """Several layers' tiles of one z/x/y in one round trip, keyed by layer id.

    Concatenate the values (in the order wanted) for a multi-layer tile.
    """
    check_tile(z, x, y, max_zoom=settings.max_zoom)
    out = {layer.id: b"" for layer in layers}
    drawn = [layer for layer in layers if in_zoom(layer, z)]
    if not drawn:
        return out
    query = _multi_query(drawn, scope, z, settings)
    cur = await conn.execute(query, tile_params(z, x, y, settings), binary=True)
    row = await cur.fetchone()
    if row is not None:
        for layer, value in zip(drawn, row, strict=True):
            out[layer.id] = bytes(value) if value else b""
    return out
