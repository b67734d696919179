"""Reads shared by the cockpit and the risk reports: open major hazards against their deadlines.

The rectification Gantt (seed 002: 整改甘特图) shows every open red or orange hazard still awaiting
rectification — status ``reported``, ``verified`` or ``rectifying`` — as a bar from the day it
was verified (reported, while not yet verified) to its rectification deadline. The deadline is
``rectify_due_at`` once set at verification; before that it is the deadline the hazard will get,
the bar's start plus its tier's period (``FIRETWIN_HAZARD_ORANGE_DAYS`` / ``_RED_DAYS``), and
``deadline_set`` says which. A hazard past its deadline is overdue by ``now - deadline``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from services.workflows.hazard_rules import HazardSettings

GANTT_TIERS = ("red", "orange")
AWAITING_RECTIFICATION = ("reported", "verified", "rectifying")

_GANTT_SQL = """
WITH h AS (
    SELECT h.id, h.code, h.title, h.tier, h.status, h.category, h.grid_id, h.unit_id,
           h.reported_at, h.verified_at, coalesce(h.verified_at, h.reported_at) AS start_at,
           h.rectify_due_at IS NOT NULL AS deadline_set,
           coalesce(h.rectify_due_at, coalesce(h.verified_at, h.reported_at)
                    + make_interval(secs => CASE h.tier WHEN 'red' THEN %(red_s)s
                                                        ELSE %(orange_s)s END)) AS deadline
    FROM firetwin.hazard h
    WHERE h.tier = ANY(%(tiers)s) AND h.status = ANY(%(statuses)s)
      AND h.reported_at <= %(now)s AND ({where})
)
SELECT h.*, g.code AS grid_code, c.name AS community, s.name AS street,
       h.deadline < %(now)s AS overdue,
       greatest(0, extract(epoch FROM %(now)s - h.deadline))::float8 AS overdue_s,
       count(*) OVER () AS total,
       count(*) FILTER (WHERE h.deadline < %(now)s) OVER () AS total_overdue,
       count(*) FILTER (WHERE h.tier = 'red') OVER () AS total_red
FROM h
LEFT JOIN firetwin.grid g ON g.id = h.grid_id
LEFT JOIN firetwin.region c ON c.id = g.community_id
LEFT JOIN firetwin.region s ON s.id = g.street_id
ORDER BY h.deadline, h.id
LIMIT %(limit)s
"""


async def rectification_rows(
    conn: AsyncConnection,
    *,
    where: str,
    params: dict[str, Any] | None = None,
    now: datetime,
    settings: HazardSettings,
    limit: int = 200,
) -> dict[str, Any]:
    """Open red/orange hazards awaiting rectification, earliest deadline first.

    ``where`` is a condition on ``firetwin.hazard h``'s columns built from trusted parts only
    (``layers.scope.scope_condition`` or a fixed fragment with bound ``params``). Returns
    ``{"as_of", "total", "overdue", "by_tier", "items"}``; ``items`` holds at most ``limit``.
    """
    query = _GANTT_SQL.format(where=where)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {
            **(params or {}), "now": now, "limit": limit, "tiers": list(GANTT_TIERS),
            "statuses": list(AWAITING_RECTIFICATION),
            "red_s": settings.rectify_period("red").total_seconds(),
            "orange_s": settings.rectify_period("orange").total_seconds()})
        rows = await cur.fetchall()
    total = rows[0]["total"] if rows else 0
    overdue = rows[0]["total_overdue"] if rows else 0
    red = rows[0]["total_red"] if rows else 0
    items = []
    for r in rows:
        for k in ("total", "total_overdue", "total_red"):
            r.pop(k)
        r["overdue_days"] = round(r.pop("overdue_s") / 86400, 1)
        items.append({k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()})
    return {"as_of": now.isoformat(), "total": total, "overdue": overdue,
            "by_tier": {"red": red, "orange": total - red}, "items": items}
