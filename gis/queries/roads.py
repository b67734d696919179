"""Road network, stations and blockages for routing (read side)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from psycopg import AsyncConnection

_EDGES_SQL = """
    SELECT id, source, target, cost, reverse_cost, length_m, speed_kph, road_class, name,
           width_m, maxheight_m, oneway, is_fire_lane, blocked, truck_ok, ST_AsBinary(geom)
    FROM firetwin.road_edge
"""
_COLUMNS = ["id", "source", "target", "cost", "reverse_cost", "length_m", "speed_kph",
            "road_class", "name", "width_m", "maxheight_m", "oneway", "is_fire_lane", "blocked",
            "truck_ok"]


async def road_edges(conn: AsyncConnection) -> gpd.GeoDataFrame:
    """Every road edge as a GeoDataFrame (EPSG:4326) in the road_edge contract."""
    cur = await conn.execute(_EDGES_SQL)
    rows = await cur.fetchall()
    frame = pd.DataFrame([r[:-1] for r in rows], columns=_COLUMNS)
    geoms = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else []
    return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")


async def network_version(conn: AsyncConnection) -> int:
    """A number that changes whenever road edges change (see migration 0004)."""
    cur = await conn.execute("SELECT version FROM firetwin.network_state WHERE id = 1")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def blocked_edge_ids(conn: AsyncConnection) -> frozenset[int]:
    """Edges closed by open "fire lane blocked" hazards (until the hazard is closed)."""
    cur = await conn.execute(
        "SELECT DISTINCT road_edge_id FROM firetwin.hazard WHERE road_edge_id IS NOT NULL "
        "AND subcategory = 'fire_lane_blocked' AND status NOT IN ('closed', 'rejected')"
    )
    return frozenset(int(r[0]) for r in await cur.fetchall())


async def stations_for_dispatch(conn: AsyncConnection) -> list[dict]:
    """Stations that can respond (not out of service), with lon/lat."""
    cur = await conn.execute(
        "SELECT id, code, name, kind, status, ST_X(geom), ST_Y(geom) FROM firetwin.station "
        "WHERE status <> 'out_of_service' AND kind IN ('level1', 'level2', 'small', 'emergency',"
        " 'micro') ORDER BY id"
    )
    return [
        {"id": r[0], "code": r[1], "name": r[2], "kind": r[3], "status": r[4], "lon": r[5],
         "lat": r[6]}
        for r in await cur.fetchall()
    ]


async def high_risk_units(conn: AsyncConnection) -> tuple[str, list[dict]]:
    """Units to cover first: latest risk tier high/very_high, else key units and red units.

    Returns the rule used and the units (id, code, name, lon, lat).
    """
    cur = await conn.execute(
        "SELECT u.id, u.code, u.name, ST_X(u.geom), ST_Y(u.geom) FROM layers.risk r "
        "JOIN firetwin.unit u ON u.id = r.unit_id WHERE r.tier IN ('high', 'very_high')"
    )
    rows = await cur.fetchall()
    rule = "risk tier high or very high"
    if not rows:
        cur = await conn.execute(
            "SELECT id, code, name, ST_X(geom), ST_Y(geom) FROM firetwin.unit "
            "WHERE category = 'key_unit' OR colour_code = 'red'"
        )
        rows = await cur.fetchall()
        rule = "key units and red-coded units (no risk scores yet)"
    return rule, [{"id": r[0], "code": r[1], "name": r[2], "lon": r[3], "lat": r[4]}
                  for r in rows]


async def hydrants_in_service(
    conn: AsyncConnection, *, bbox: tuple[float, float, float, float] | None = None
) -> list[tuple[float, float]]:
    """(lon, lat) of in-service hydrants, optionally within a lon/lat bbox."""
    sql = ("SELECT ST_X(geom), ST_Y(geom) FROM firetwin.facility "
           "WHERE kind = 'hydrant' AND status = 'in_service'")
    if bbox is not None:
        sql += " AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"
    cur = await conn.execute(sql, bbox)
    return [(r[0], r[1]) for r in await cur.fetchall()]
