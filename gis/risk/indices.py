"""Community safety index and unit management index (0–100), computed in PostGIS.

**Community safety index** (seed 002: "0–100 safety index from 6 indicators, monthly
red/yellow/blue ranking") for a month ``[start, end)``, per community (hazards and units belong
to the community of their grid):

- hazard density: hazards found (not rejected) per 100 units; 100 at 0, 0 at ``density_bad``;
- rectification rate: of hazards due in the month, the share rectified by its end (× 100);
- timeliness: of hazards rectified in the month, the share by their deadline (× 100);
- recurrence: of hazards found, the share whose unit had one of the same subcategory closed in
  the ``recurrence_days`` before; 100 at 0, 0 at ``recurrence_bad``;
- public reports per 100 units; 0 at ``public_bad``;
- sensor alarms (alarm readings + sensor-raised hazards) per 100 units; 0 at ``sensor_bad``.

An indicator without a denominator (nothing due, nothing rectified, no units) is left out and
the weights of the others are rescaled. Colour: red below ``red_below``, yellow below
``yellow_below``, blue otherwise; rank 1 is the safest community.

**Unit management index** over the ``unit_window_days`` before ``end``: patrols done against
the unit's colour cadence (patrols, inspections and self-checks), self-checks and drills against
``self_checks_good``, and maintenance (share of the unit's facilities in service, share of its
hazards due in the window rectified on time); 40 / 30 / 30 %.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from gis.risk.settings import IndexSettings

_COMMUNITY_SQL = """
WITH g AS (
    SELECT id, community_id FROM firetwin.grid WHERE community_id IS NOT NULL
), units AS (
    SELECT g.community_id AS cid, count(*) AS n
    FROM firetwin.unit u JOIN g ON g.id = u.grid_id GROUP BY 1
), hz AS (
    SELECT g.community_id AS cid,
        count(*) FILTER (WHERE h.reported_at >= %(start)s AND h.reported_at < %(end)s)
            AS found,
        count(*) FILTER (WHERE h.reported_at >= %(start)s AND h.reported_at < %(end)s
                           AND h.source = 'public') AS public,
        count(*) FILTER (WHERE h.reported_at >= %(start)s AND h.reported_at < %(end)s
                           AND h.source = 'sensor') AS sensor,
        count(*) FILTER (WHERE h.rectify_due_at >= %(start)s AND h.rectify_due_at < %(end)s)
            AS due,
        count(*) FILTER (WHERE h.rectify_due_at >= %(start)s AND h.rectify_due_at < %(end)s
                           AND h.rectified_at < %(end)s) AS due_rectified,
        count(*) FILTER (WHERE h.rectified_at >= %(start)s AND h.rectified_at < %(end)s)
            AS rectified,
        count(*) FILTER (WHERE h.rectified_at >= %(start)s AND h.rectified_at < %(end)s
                           AND h.rectified_at <= h.rectify_due_at) AS on_time,
        count(*) FILTER (WHERE h.reported_at >= %(start)s AND h.reported_at < %(end)s
            AND h.unit_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM firetwin.hazard p
                WHERE p.unit_id = h.unit_id AND p.subcategory = h.subcategory AND p.id <> h.id
                  AND p.closed_at < h.reported_at
                  AND p.closed_at >= h.reported_at - make_interval(days => %(rec_days)s)))
            AS recurrent
    FROM firetwin.hazard h JOIN g ON g.id = h.grid_id
    WHERE h.status <> 'rejected'
      AND (h.reported_at < %(end)s)
      AND (h.reported_at >= %(start)s
           OR h.rectify_due_at >= %(start)s OR h.rectified_at >= %(start)s)
    GROUP BY 1
), alarms AS (
    SELECT g.community_id AS cid, count(*) AS n
    FROM firetwin.sensor_reading r JOIN firetwin.sensor s ON s.id = r.sensor_id
    JOIN g ON g.id = s.grid_id
    WHERE r.state = 'alarm' AND r.observed_at >= %(start)s AND r.observed_at < %(end)s
    GROUP BY 1
)
SELECT c.id, c.code, c.name, c.parent_id AS street_id, s.name AS street_name,
    coalesce(units.n, 0) AS units, coalesce(hz.found, 0) AS hazards_found,
    coalesce(hz.due, 0) AS hazards_due, coalesce(hz.due_rectified, 0) AS due_rectified,
    coalesce(hz.rectified, 0) AS hazards_rectified, coalesce(hz.on_time, 0) AS on_time,
    coalesce(hz.recurrent, 0) AS recurrent, coalesce(hz.public, 0) AS public_reports,
    coalesce(hz.sensor, 0) + coalesce(alarms.n, 0) AS sensor_alarms
FROM firetwin.region c
LEFT JOIN firetwin.region s ON s.id = c.parent_id
LEFT JOIN units ON units.cid = c.id
LEFT JOIN hz ON hz.cid = c.id
LEFT JOIN alarms ON alarms.cid = c.id
WHERE c.level = 'community'
  AND (%(communities)s::int[] IS NULL OR c.id = ANY(%(communities)s::int[]))
ORDER BY c.id
"""


def _falling(x: float | None, bad: float) -> float | None:
    return None if x is None else round(max(0.0, 1.0 - x / bad) * 100.0, 1)


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def community_scores(row: dict[str, Any], s: IndexSettings) -> dict[str, Any]:
    """The six sub-scores, the index and the colour of one community row.

    >>> r = {"units": 100, "hazards_found": 10, "hazards_due": 4, "due_rectified": 4,
    ...      "hazards_rectified": 2, "on_time": 1, "recurrent": 0, "public_reports": 0,
    ...      "sensor_alarms": 0}
    >>> out = community_scores(r, IndexSettings())
    >>> out["indicators"]["density"], out["indicators"]["timeliness"], out["index"]
    (50.0, 50.0, 82.5)
    """
    def per100(v):
        return (None if row["units"] == 0 else v * 100.0 / row["units"])
    rect = _rate(row["due_rectified"], row["hazards_due"])
    timely = _rate(row["on_time"], row["hazards_rectified"])
    recur = _rate(row["recurrent"], row["hazards_found"])
    ind = {
        "density": _falling(per100(row["hazards_found"]), s.density_bad_per_100_units),
        "rectification": None if rect is None else round(rect * 100.0, 1),
        "timeliness": None if timely is None else round(timely * 100.0, 1),
        "recurrence": _falling(recur, s.recurrence_bad) if recur is not None else None,
        "public_reports": _falling(per100(row["public_reports"]), s.public_bad_per_100_units),
        "sensor_alarms": _falling(per100(row["sensor_alarms"]),
                                  s.sensor_alarms_bad_per_100_units),
    }
    w = {"density": s.w_density, "rectification": s.w_rectification,
         "timeliness": s.w_timeliness, "recurrence": s.w_recurrence,
         "public_reports": s.w_public, "sensor_alarms": s.w_sensor}
    num = sum(w[k] * v for k, v in ind.items() if v is not None)
    den = sum(w[k] for k, v in ind.items() if v is not None)
    index = round(num / den, 1) if den else None
    colour = (None if index is None else "red" if index < s.red_below
              else "yellow" if index < s.yellow_below else "blue")
    return {"indicators": ind, "index": index, "colour": colour}


async def community_index(
    conn: AsyncConnection,
    *,
    start: datetime,
    end: datetime,
    settings: IndexSettings,
    communities: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Community safety index rows for ``[start, end)``, safest first, with ``rank``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_COMMUNITY_SQL, {"start": start, "end": end,
                                           "rec_days": settings.recurrence_days,
                                           "communities": communities})
        rows = await cur.fetchall()
    out = [{**r, **community_scores(r, settings)} for r in rows]
    out.sort(key=lambda r: (-(r["index"] if r["index"] is not None else -1), r["id"]))
    for i, r in enumerate(out, start=1):
        r["rank"] = i
    return out


_UNITS_SQL = """
WITH ins AS (
    SELECT unit_id,
        count(*) FILTER (WHERE kind IN ('patrol', 'inspection', 'double_random', 'recheck',
                                        'self_check')) AS patrols,
        count(*) FILTER (WHERE kind = 'self_check') AS self_checks
    FROM firetwin.inspection
    WHERE unit_id IS NOT NULL AND inspected_at >= %(w0)s AND inspected_at < %(end)s
    GROUP BY unit_id
), fac AS (
    SELECT unit_id, count(*) AS n, count(*) FILTER (WHERE status = 'in_service') AS ok
    FROM firetwin.facility WHERE unit_id IS NOT NULL GROUP BY unit_id
), hz AS (
    SELECT unit_id, count(*) AS due,
        count(*) FILTER (WHERE rectified_at <= rectify_due_at) AS on_time
    FROM firetwin.hazard
    WHERE unit_id IS NOT NULL AND status <> 'rejected'
      AND rectify_due_at >= %(w0)s AND rectify_due_at < %(end)s
    GROUP BY unit_id
)
SELECT u.id AS unit_id, u.code, u.name, u.category, u.colour_code, u.grid_id,
    coalesce(ins.patrols, 0) AS patrols, coalesce(ins.self_checks, 0) AS self_checks,
    greatest(1, %(days)s::float / CASE WHEN u.category = 'key_unit' THEN %(key)s
        WHEN u.colour_code = 'red' THEN %(red)s WHEN u.colour_code = 'yellow' THEN %(yellow)s
        ELSE %(green)s END) AS patrols_expected,
    fac.n AS facilities, fac.ok AS facilities_in_service,
    coalesce(hz.due, 0) AS hazards_due, coalesce(hz.on_time, 0) AS rectified_on_time
FROM firetwin.unit u
LEFT JOIN ins ON ins.unit_id = u.id
LEFT JOIN fac ON fac.unit_id = u.id
LEFT JOIN hz ON hz.unit_id = u.id
WHERE (%(grids)s::int[] IS NULL OR u.grid_id = ANY(%(grids)s::int[]))
  AND (%(units)s::int[] IS NULL OR u.id = ANY(%(units)s::int[]))
"""


def unit_scores(row: dict[str, Any], s: IndexSettings) -> dict[str, Any]:
    """Sub-scores and index of one unit row (0–100).

    >>> unit_scores({"patrols": 2, "patrols_expected": 4.0, "self_checks": 3, "facilities": 2,
    ...              "facilities_in_service": 1, "hazards_due": 0, "rectified_on_time": 0},
    ...             IndexSettings())["index"]
    65.0
    """
    patrol = min(1.0, row["patrols"] / row["patrols_expected"])
    drills = min(1.0, row["self_checks"] / s.self_checks_good)
    parts = []
    if row["facilities"]:
        parts.append(row["facilities_in_service"] / row["facilities"])
    if row["hazards_due"]:
        parts.append(row["rectified_on_time"] / row["hazards_due"])
    maint = sum(parts) / len(parts) if parts else 1.0
    index = round(100.0 * (0.4 * patrol + 0.3 * drills + 0.3 * maint), 1)
    return {"indicators": {"patrols": round(patrol * 100, 1), "self_checks": round(drills * 100, 1),
                           "maintenance": round(maint * 100, 1)}, "index": index}


async def unit_index(
    conn: AsyncConnection,
    *,
    end: datetime,
    settings: IndexSettings,
    cadence_days: dict[str, int],
    grids: list[int] | None,
    units: list[int] | None,
) -> list[dict[str, Any]]:
    """Unit management index rows (lowest first: the units to follow up)."""
    w0 = end - timedelta(days=settings.unit_window_days)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_UNITS_SQL, {"w0": w0, "end": end, "days": settings.unit_window_days,
                                       "grids": grids, "units": units, **cadence_days})
        rows = await cur.fetchall()
    out = [{**r, **unit_scores(r, settings)} for r in rows]
    out.sort(key=lambda r: (r["index"], r["unit_id"]))
    return out
