"""The figures of one risk report: a street or community over a week or a month.

Everything is read with SQL from the same tables the cockpit reads, restricted to the region's
grids (``grid.street_id`` / ``grid.community_id``), and measured at the period's end:

- the governance figures of ``gis.queries.stats.hazard_stats`` (units inspected, hazards found
  and rectified, rectification, overdue and recurrence rates), for the region and per
  community (street report) or per grid (community report);
- hazards found in the period by tier and by category; sensor alarms raised;
- the trend of hazards found and rectified over the last weeks or months;
- the units' colour codes and latest fire-risk tiers, the highest-risk units;
- the open red and orange hazards awaiting rectification at the period's end, earliest
  deadline first (the cockpit's Gantt rows);
- the map: region, grids, roads, stations and the period's hazards as SVG paths from PostGIS
  (``ST_AsSVG`` in Web Mercator metres), so HTML and PDF carry a vector map without tiles.

No personal data goes into a report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from gis.queries.stats import StatsSettings, hazard_stats, period_bounds
from services.reports.periods import Period
from services.reports.queries import rectification_rows
from services.reports.settings import ReportSettings
from services.workflows.hazard_rules import HazardSettings

LEVELS = ("street", "community")

REGION_SQL = """
SELECT r.id, r.code, r.name, r.level, p.name AS parent_name,
       ARRAY(SELECT g.id FROM firetwin.grid g
             WHERE (r.level = 'street' AND g.street_id = r.id)
                OR (r.level = 'community' AND g.community_id = r.id)
             ORDER BY g.id) AS grids
FROM firetwin.region r LEFT JOIN firetwin.region p ON p.id = r.parent_id
WHERE r.id = %s
"""

_BY_TIER_SQL = """
SELECT tier, count(*) FROM firetwin.hazard
WHERE grid_id = ANY(%(grids)s) AND reported_at >= %(start)s AND reported_at < %(end)s
  AND status <> 'rejected'
GROUP BY 1
"""

_BY_CATEGORY_SQL = """
SELECT category, count(*) FROM firetwin.hazard
WHERE grid_id = ANY(%(grids)s) AND reported_at >= %(start)s AND reported_at < %(end)s
  AND status <> 'rejected'
GROUP BY 1 ORDER BY 2 DESC, 1
"""

_ALARMS_SQL = """
SELECT count(*) FROM firetwin.sensor_alarm
WHERE grid_id = ANY(%(grids)s) AND raised_at >= %(start)s AND raised_at < %(end)s
  AND event IN ('raised', 'escalated')
"""

_TREND_SQL = """
SELECT b.i,
       (SELECT count(*) FROM firetwin.hazard h WHERE h.grid_id = ANY(%(grids)s)
          AND h.status <> 'rejected' AND h.reported_at >= b.s AND h.reported_at < b.e) AS found,
       (SELECT count(*) FROM firetwin.hazard h WHERE h.grid_id = ANY(%(grids)s)
          AND h.status <> 'rejected' AND h.rectified_at >= b.s AND h.rectified_at < b.e)
          AS rectified
FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) WITH ORDINALITY AS b(s, e, i)
ORDER BY b.i
"""

_UNITS_SQL = """
SELECT count(*) AS units,
       count(*) FILTER (WHERE u.colour_code = 'red') AS red,
       count(*) FILTER (WHERE u.colour_code = 'yellow') AS yellow,
       count(*) FILTER (WHERE u.colour_code = 'green') AS green,
       count(r.unit_id) FILTER (WHERE r.tier IN ('high', 'very_high')) AS high_risk
FROM firetwin.unit u LEFT JOIN layers.risk r ON r.unit_id = u.id
WHERE u.grid_id = ANY(%(grids)s)
"""

_TOP_UNITS_SQL = """
SELECT u.code, u.name, u.category, r.score, r.tier
FROM layers.risk r JOIN firetwin.unit u ON u.id = r.unit_id
WHERE u.grid_id = ANY(%(grids)s)
ORDER BY r.score DESC, u.id LIMIT 10
"""

# The map, in Web Mercator metres; ST_AsSVG negates y, so the viewBox starts at -ymax.
_MAP_FRAME_SQL = """
WITH r AS (SELECT ST_Transform(geom, 3857) AS g FROM firetwin.region WHERE id = %(id)s)
SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM r
"""
_MAP_LAYERS_SQL = """
WITH env AS (SELECT ST_Transform(ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 3857), 4326) AS e)
SELECT 'region' AS layer, NULL AS key,
       ST_AsSVG(ST_Transform(geom, 3857), 0, 1) AS svg, NULL AS label
FROM firetwin.region WHERE id = %(id)s
UNION ALL
SELECT 'area', NULL, ST_AsSVG(ST_Transform(geom, 3857), 0, 1), name
FROM firetwin.region
WHERE %(level)s = 'street' AND level = 'community' AND parent_id = %(id)s
UNION ALL
SELECT 'area', NULL, ST_AsSVG(ST_Transform(geom, 3857), 0, 1), name
FROM firetwin.grid WHERE %(level)s = 'community' AND id = ANY(%(grids)s)
UNION ALL
SELECT 'roads', NULL,
       string_agg(ST_AsSVG(ST_Simplify(ST_Transform(geom, 3857), %(tol)s), 0, 1), ' '), NULL
FROM firetwin.road_edge, env WHERE geom && env.e
UNION ALL
SELECT 'station', kind, ST_AsSVG(ST_Transform(geom, 3857), 0, 1), name
FROM firetwin.station, env WHERE geom && env.e
UNION ALL
SELECT 'hazard', tier, ST_AsSVG(ST_Transform(geom, 3857), 0, 1), NULL
FROM (SELECT tier, geom FROM firetwin.hazard
      WHERE grid_id = ANY(%(grids)s) AND reported_at >= %(start)s AND reported_at < %(end)s
        AND status <> 'rejected'
      ORDER BY array_position(ARRAY['blue', 'yellow', 'orange', 'red'], tier::text), id
      LIMIT 5000) h
"""
_LABEL_POINTS_SQL = """
SELECT name, ST_X(p), ST_Y(p) FROM (
    SELECT name, ST_Transform(ST_PointOnSurface(geom), 3857) AS p FROM firetwin.region
    WHERE %(level)s = 'street' AND level = 'community' AND parent_id = %(id)s
    UNION ALL
    SELECT name, ST_Transform(ST_PointOnSurface(geom), 3857) FROM firetwin.grid
    WHERE %(level)s = 'community' AND id = ANY(%(grids)s)) t
"""


class RegionNotFound(LookupError):
    """No street or community with this id."""


async def region(conn: AsyncConnection, region_id: int) -> dict[str, Any]:
    """A street or community with its grids; RegionNotFound otherwise."""
    cur = await conn.cursor(row_factory=dict_row).execute(REGION_SQL, (region_id,))
    row = await cur.fetchone()
    if row is None or row["level"] not in LEVELS:
        msg = f"no street or community with id {region_id}"
        raise RegionNotFound(msg)
    return row


async def report_regions(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every street and community, streets first."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id FROM firetwin.region WHERE level IN ('street', 'community') "
        "ORDER BY level DESC, code, id")
    return [await region(conn, r["id"]) for r in await cur.fetchall()]


async def _map(conn: AsyncConnection, reg: dict, params: dict) -> dict[str, Any] | None:
    cur = await conn.execute(_MAP_FRAME_SQL, {"id": reg["id"]})
    frame = await cur.fetchone()
    if frame is None or frame[0] is None:
        return None
    x0, y0, x1, y1 = frame
    pad = max(x1 - x0, y1 - y0) * 0.04
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    size = max(x1 - x0, y1 - y0)
    cur = await conn.execute(_MAP_LAYERS_SQL, {
        **params, "id": reg["id"], "level": reg["level"], "x0": x0, "y0": y0, "x1": x1,
        "y1": y1, "tol": size / 1500})
    layers: dict[str, list] = {"region": [], "area": [], "roads": [], "station": [],
                               "hazard": []}
    for layer, key, svg, label in await cur.fetchall():
        if svg:
            layers[layer].append({"key": key, "svg": svg, "label": label})
    cur = await conn.execute(_LABEL_POINTS_SQL, {"id": reg["id"], "level": reg["level"],
                                                "grids": reg["grids"]})
    labels = [{"text": n, "x": x, "y": -y} for n, x, y in await cur.fetchall()]
    return {"viewbox": (x0, -y1, x1 - x0, y1 - y0), "size": size, "layers": layers,
            "labels": labels}


def _trend_periods(period: Period, n: int) -> list[Period]:
    return [period.previous(i) for i in range(n - 1, -1, -1)]


async def report_data(
    conn: AsyncConnection,
    *,
    region_id: int,
    period: Period,
    now: datetime,
    settings: ReportSettings | None = None,
    stats_settings: StatsSettings | None = None,
    hazard_settings: HazardSettings | None = None,
) -> dict[str, Any]:
    """Everything one report shows (see the module docstring), JSON-ready apart from dates."""
    s = settings or ReportSettings()
    ss = stats_settings or StatsSettings()
    reg = await region(conn, region_id)
    grids = list(reg["grids"])
    start, end = period_bounds(period.first, period.last, ss.timezone)
    asof = min(end, now)
    group = "community" if reg["level"] == "street" else "grid"
    stats = await hazard_stats(conn, group=group, first=period.first, last=period.last,
                               now=now, grids=grids, settings=ss)
    params = {"grids": grids, "start": start, "end": end}
    cur = await conn.execute(_BY_TIER_SQL, params)
    by_tier = dict(await cur.fetchall())
    cur = await conn.execute(_BY_CATEGORY_SQL, params)
    by_category = [{"category": c, "n": n} for c, n in await cur.fetchall()]
    cur = await conn.execute(_ALARMS_SQL, params)
    alarms = (await cur.fetchone())[0]
    n_trend = s.trend_weeks if period.kind == "weekly" else s.trend_months
    trend_periods = _trend_periods(period, n_trend)
    bounds = [period_bounds(p.first, p.last, ss.timezone) for p in trend_periods]
    cur = await conn.execute(_TREND_SQL, {"grids": grids, "starts": [b[0] for b in bounds],
                                          "ends": [b[1] for b in bounds]})
    trend = [{"label": (f"{p.first:%m-%d}" if p.kind == "weekly" else f"{p.first:%Y-%m}"),
              "found": found, "rectified": rect}
             for p, (_, found, rect) in zip(trend_periods, await cur.fetchall(), strict=True)]
    cur = await conn.cursor(row_factory=dict_row).execute(_UNITS_SQL, {"grids": grids})
    units = await cur.fetchone()
    cur = await conn.cursor(row_factory=dict_row).execute(_TOP_UNITS_SQL, {"grids": grids})
    top_units = await cur.fetchall()
    major = await rectification_rows(
        conn, where="h.grid_id = ANY(%(grids)s)", params={"grids": grids}, now=asof,
        settings=hazard_settings or HazardSettings(), limit=s.top_hazards)
    for item in major["items"]:  # no personal or internal fields in a report
        for k in ("unit_id", "grid_id"):
            item.pop(k, None)
    return {
        "region": {k: reg[k] for k in ("id", "code", "name", "level", "parent_name")},
        "grids": grids,
        "period": {"kind": period.kind, "from": period.first.isoformat(),
                   "to": period.last.isoformat(), "label_zh": period.label_zh},
        "as_of": asof.isoformat(),
        "timezone": ss.timezone,
        "totals": stats["totals"],
        "targets": stats["targets"],
        "breakdown": {"group": group, "rows": stats["rows"]},
        "by_tier": {t: by_tier.get(t, 0) for t in ("red", "orange", "yellow", "blue")},
        "by_category": by_category,
        "alarms": alarms,
        "trend": trend,
        "units": units,
        "top_units": top_units,
        "major_hazards": major,
        "map": await _map(conn, reg, params),
    }
