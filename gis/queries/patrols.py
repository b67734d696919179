"""What a patroller must visit on a date: units by colour-code cadence, hazards due, sensors down.

Cadence (seed 003; 公安部61号令 for key units): a red unit is checked every day, yellow every
week, green every month, and a key unit every day whatever its colour. A unit is due when its
last inspection or check-in is older than its cadence. Hazards are due when they wait for
verification (``reported``, verify within 24 h) or for the recheck of a rectification
(``rectified``). Offline or faulty sensors are due for a look. Units on the month's
double-random list (``inspection_plan``) are due, reason ``double_random``, until an inspection
of kind ``double_random`` is recorded for them that month.
"""

from __future__ import annotations

from datetime import date

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PatrolSettings(BaseSettings):
    """Inspection cadence in days and check-in tolerance (``FIRETWIN_PATROL_*``)."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_PATROL_", extra="ignore")

    red_days: int = Field(default=1, description="Red units: daily (seed 003).")
    yellow_days: int = Field(default=7, description="Yellow units: weekly (seed 003).")
    green_days: int = Field(default=30, description="Green units: monthly (seed 003).")
    key_unit_days: int = Field(default=1, description="Key units: daily (公安部61号令).")
    checkin_max_distance_m: float = Field(
        default=200.0, description="A check-in farther than this from its unit is flagged."
    )


_DUE_SQL = """
WITH last AS (
    SELECT unit_id, max(inspected_at) AS at FROM firetwin.inspection
    WHERE unit_id IS NOT NULL AND inspected_at < %(day)s::date + 1 GROUP BY unit_id
)
SELECT 'unit' AS kind, u.id, u.code, u.name, u.colour_code AS reason,
       CASE WHEN u.category = 'key_unit' THEN 0
            WHEN u.colour_code = 'red' THEN 1 WHEN u.colour_code = 'yellow' THEN 2 ELSE 3 END
           AS priority,
       ST_X(u.geom) AS lon, ST_Y(u.geom) AS lat, last.at AS last_visit
FROM firetwin.unit u LEFT JOIN last ON last.unit_id = u.id
WHERE u.grid_id = ANY(%(grids)s)
  AND (last.at IS NULL OR last.at < %(day)s::date + 1 - make_interval(days =>
        CASE WHEN u.category = 'key_unit' THEN %(key)s
             WHEN u.colour_code = 'red' THEN %(red)s
             WHEN u.colour_code = 'yellow' THEN %(yellow)s ELSE %(green)s END))
UNION ALL
SELECT 'hazard', h.id, h.code, h.title,
       CASE h.status WHEN 'reported' THEN 'verify' ELSE 'recheck' END,
       CASE h.tier WHEN 'red' THEN 0 WHEN 'orange' THEN 1 ELSE 2 END,
       ST_X(h.geom), ST_Y(h.geom), NULL
FROM firetwin.hazard h
WHERE h.grid_id = ANY(%(grids)s) AND h.status IN ('reported', 'rectified')
  AND h.reported_at < %(day)s::date + 1
UNION ALL
SELECT 'unit', u.id, u.code, u.name, 'double_random', 1, ST_X(u.geom), ST_Y(u.geom), NULL
FROM firetwin.inspection_plan p JOIN firetwin.unit u ON u.id = p.unit_id
WHERE p.month = date_trunc('month', %(day)s::date)::date AND u.grid_id = ANY(%(grids)s)
  AND NOT EXISTS (SELECT 1 FROM firetwin.inspection i WHERE i.unit_id = p.unit_id
                  AND i.kind = 'double_random' AND i.inspected_at >= p.month
                  AND i.inspected_at < %(day)s::date + 1)
UNION ALL
SELECT 'sensor', s.id, s.code, s.kind, s.status, 2, ST_X(s.geom), ST_Y(s.geom), s.last_seen_at
FROM firetwin.sensor s
WHERE s.grid_id = ANY(%(grids)s) AND s.status IN ('offline', 'fault')
ORDER BY 6, 1, 2
"""


async def due_stops(
    conn: AsyncConnection, *, grids: list[int], day: date, settings: PatrolSettings
) -> list[dict]:
    """Stops due on ``day`` in ``grids``: kind, id, code, name, reason, priority, lon, lat."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DUE_SQL, {
            "grids": grids, "day": day, "key": settings.key_unit_days,
            "red": settings.red_days, "yellow": settings.yellow_days,
            "green": settings.green_days,
        })
        rows = await cur.fetchall()
    # A unit due both by cadence and on the month's double-random list is one stop (the
    # higher priority one; the list's reason wins a tie).
    seen: dict[tuple[str, int], dict] = {}
    for r in rows:
        key = (r["kind"], r["id"])
        if key not in seen or (r["priority"] == seen[key]["priority"]
                               and r["reason"] == "double_random"):
            seen[key] = r
    return [r for r in rows if seen[(r["kind"], r["id"])] is r]
