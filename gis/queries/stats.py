"""Hazard and inspection statistics per grid, community, street or district for a period.

The figures seeds 001 and 002 report (赤峰红山: "检查单位5621家,发现隐患4999处,督促整改隐患4987处";
社区隐患排查: 整改率 ≥ 95 %, 复发率 ≤ 5 %, overdue items escalated). For a period of days
``[from, to]`` (both inclusive, in ``FIRETWIN_STATS_TIMEZONE``) and a grouping level:

- ``units_inspected``: distinct units with an inspection in the period (kinds in
  ``inspection_kinds``: the unit's own self-checks are left out by default);
  ``inspections``: how many. An inspection counts where its unit is (the unit's grid), or where it
  was made when it has no unit.
- ``hazards_found``: hazards reported in the period, false reports (``rejected``) left out;
  ``rectified_of_found`` / ``closed_of_found``: of those, how many were rectified / closed by the
  end of the period; ``rectification_rate`` and ``closure_rate`` are these over ``hazards_found``
  (null when nothing was found). Measured at the period's end (or now, if earlier), so a past
  period's report does not change when it is run again.
- ``hazards_rectified``: hazards whose ``rectified_at`` falls in the period, whenever found.
- ``overdue``: hazards open at the end of the period and past the deadline of their stage —
  ``verify_due_at`` while reported, ``rectify_due_at`` while verified or rectifying,
  ``recheck_due_at`` once rectified. For a period ending now, the live status says the stage;
  for a past period it is rebuilt from the stage timestamps.
- ``recurrent`` / ``recurrence_rate``: of ``hazards_found``, those whose unit — or, for a hazard
  without a unit, whose H3 resolution-11 cell (~2,000 m²) — had a hazard of the same subcategory
  closed within the ``recurrence_days`` before it was reported.

Hazards are grouped by the grid they lie in (``hazard.grid_id``); a grid belongs to a community
and a street (``grid.community_id``, ``grid.street_id``), a street to its district
(``region.parent_id``). Rows outside any grid or region form one ``unassigned`` row (id null),
shown only to callers who see every grid.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis import vocab

GROUPS = ("grid", "community", "street", "district")
COUNT_COLUMNS = ("units_inspected", "inspections", "hazards_found", "rectified_of_found",
                 "closed_of_found", "hazards_rectified", "overdue", "recurrent")
COLUMNS = ("group", "id", "code", "name", "parent_code", "parent_name", *COUNT_COLUMNS,
           "rectification_rate", "closure_rate", "recurrence_rate")


class StatsSettings(BaseSettings):
    """Statistics rules (``FIRETWIN_STATS_*``); targets from seed 002."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_STATS_", extra="ignore")

    timezone: str = Field(default="UTC", description="Zone whose days periods are counted in "
                          "(e.g. Asia/Shanghai); UTC like the patrol lists.")
    recurrence_days: int = Field(default=90, ge=1, le=3650,
                                 description="Look-back for a recurrence (same place, same "
                                 "subcategory, closed within this many days).")
    inspection_kinds: list[str] = Field(
        default=["patrol", "inspection", "recheck", "double_random"],
        description="Inspection kinds counted (self-checks by the unit itself left out).")
    target_rectification_rate: float = Field(default=0.95, description="Seed 002: ≥ 95 %.")
    target_recurrence_rate: float = Field(default=0.05, description="Seed 002: ≤ 5 %.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            msg = f"unknown time zone {v!r}"
            raise ValueError(msg) from e
        return v

    @field_validator("inspection_kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - set(vocab.INSPECTION_KINDS))
        if bad:
            msg = f"unknown inspection kinds {bad}"
            raise ValueError(msg)
        return v


def period_bounds(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """``[start, end)`` instants of the days ``first`` to ``last`` (inclusive) in zone ``tz``."""
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end_day = last + timedelta(days=1)
    return start, datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)


# Group key of a grid, the table naming the group, and the column of that table naming its
# parent. Only these fixed fragments become SQL; the request's group is a key of this dict.
_GROUPING = {
    "grid": ("g.id", "grid", "community_id"),
    "community": ("g.community_id", "region", "parent_id"),
    "street": ("g.street_id", "region", "parent_id"),
    "district": ("s.parent_id", "region", "parent_id"),
}

_STATS_SQL = """
WITH sg AS (
    SELECT g.id AS grid_id, {key} AS group_id
    FROM firetwin.grid g LEFT JOIN firetwin.region s ON s.id = g.street_id
    WHERE %(all)s OR g.id = ANY(%(grids)s)
),
ins AS (
    SELECT sg.group_id, count(*) AS inspections, count(DISTINCT i.unit_id) AS units_inspected
    FROM firetwin.inspection i
    LEFT JOIN firetwin.unit u ON u.id = i.unit_id
    LEFT JOIN sg ON sg.grid_id = coalesce(u.grid_id, i.grid_id)
    WHERE i.inspected_at >= %(start)s AND i.inspected_at < %(end)s
      AND i.kind = ANY(%(kinds)s) AND (%(all)s OR sg.grid_id IS NOT NULL)
    GROUP BY 1
),
found AS (
    SELECT sg.group_id, count(*) AS hazards_found,
           count(*) FILTER (WHERE h.rectified_at < %(asof)s OR h.closed_at < %(asof)s)
               AS rectified_of_found,
           count(*) FILTER (WHERE h.closed_at < %(asof)s) AS closed_of_found,
           count(*) FILTER (WHERE CASE WHEN h.unit_id IS NOT NULL THEN EXISTS (
                   SELECT 1 FROM firetwin.hazard p
                   WHERE p.unit_id = h.unit_id AND p.subcategory = h.subcategory
                     AND p.id <> h.id AND p.status <> 'rejected'
                     AND p.closed_at < h.reported_at
                     AND p.closed_at >= h.reported_at - make_interval(days => %(window)s))
               ELSE EXISTS (
                   SELECT 1 FROM firetwin.hazard p
                   WHERE p.h3_r11 = h.h3_r11 AND p.subcategory = h.subcategory
                     AND p.id <> h.id AND p.status <> 'rejected'
                     AND p.closed_at < h.reported_at
                     AND p.closed_at >= h.reported_at - make_interval(days => %(window)s))
               END) AS recurrent
    FROM firetwin.hazard h LEFT JOIN sg ON sg.grid_id = h.grid_id
    WHERE h.reported_at >= %(start)s AND h.reported_at < %(end)s AND h.status <> 'rejected'
      AND (%(all)s OR sg.grid_id IS NOT NULL)
    GROUP BY 1
),
rect AS (
    SELECT sg.group_id, count(*) AS hazards_rectified
    FROM firetwin.hazard h LEFT JOIN sg ON sg.grid_id = h.grid_id
    WHERE h.rectified_at >= %(start)s AND h.rectified_at < %(end)s AND h.status <> 'rejected'
      AND (%(all)s OR sg.grid_id IS NOT NULL)
    GROUP BY 1
),
stage AS (
    SELECT h.grid_id, CASE
        WHEN %(live)s THEN CASE h.status
            WHEN 'reported' THEN h.verify_due_at
            WHEN 'verified' THEN h.rectify_due_at
            WHEN 'rectifying' THEN h.rectify_due_at
            WHEN 'rectified' THEN h.recheck_due_at END
        WHEN h.rechecked_at < %(asof)s THEN NULL
        WHEN h.rectified_at < %(asof)s THEN h.recheck_due_at
        WHEN h.verified_at < %(asof)s THEN h.rectify_due_at
        ELSE h.verify_due_at END AS due_at
    FROM firetwin.hazard h
    WHERE h.reported_at < %(asof)s AND h.status <> 'rejected'
      AND (h.closed_at IS NULL OR h.closed_at >= %(asof)s)
),
overdue AS (
    SELECT sg.group_id, count(*) AS overdue
    FROM stage LEFT JOIN sg ON sg.grid_id = stage.grid_id
    WHERE stage.due_at < %(asof)s AND (%(all)s OR sg.grid_id IS NOT NULL)
    GROUP BY 1
),
keys AS (
    SELECT group_id FROM sg WHERE group_id IS NOT NULL
    UNION SELECT group_id FROM ins UNION SELECT group_id FROM found
    UNION SELECT group_id FROM rect UNION SELECT group_id FROM overdue
)
SELECT k.group_id AS id, r.code, r.name, p.code AS parent_code, p.name AS parent_name,
       coalesce(ins.units_inspected, 0) AS units_inspected,
       coalesce(ins.inspections, 0) AS inspections,
       coalesce(found.hazards_found, 0) AS hazards_found,
       coalesce(found.rectified_of_found, 0) AS rectified_of_found,
       coalesce(found.closed_of_found, 0) AS closed_of_found,
       coalesce(rect.hazards_rectified, 0) AS hazards_rectified,
       coalesce(overdue.overdue, 0) AS overdue,
       coalesce(found.recurrent, 0) AS recurrent
FROM keys k
LEFT JOIN firetwin.{table} r ON r.id = k.group_id
LEFT JOIN firetwin.region p ON p.id = r.{parent}
LEFT JOIN ins ON ins.group_id IS NOT DISTINCT FROM k.group_id
LEFT JOIN found ON found.group_id IS NOT DISTINCT FROM k.group_id
LEFT JOIN rect ON rect.group_id IS NOT DISTINCT FROM k.group_id
LEFT JOIN overdue ON overdue.group_id IS NOT DISTINCT FROM k.group_id
ORDER BY k.group_id IS NULL, r.code, k.group_id
"""


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _rates(row: dict) -> dict:
    found = row["hazards_found"]
    row["rectification_rate"] = _rate(row["rectified_of_found"], found)
    row["closure_rate"] = _rate(row["closed_of_found"], found)
    row["recurrence_rate"] = _rate(row["recurrent"], found)
    return row


async def hazard_stats(
    conn: AsyncConnection,
    *,
    group: str,
    first: date,
    last: date,
    now: datetime,
    grids: list[int] | None = None,
    settings: StatsSettings | None = None,
) -> dict:
    """Statistics rows per ``group`` for the days ``first``..``last``; see the module docstring.

    ``grids=None`` counts every grid (and an ``unassigned`` row); a list restricts the counts
    and the rows to those grids. Returns ``{"rows": [...], "totals": {...}, ...}``.
    """
    if group not in _GROUPING:
        msg = f"group must be one of {GROUPS}"
        raise ValueError(msg)
    if first > last:
        msg = "first day after last day"
        raise ValueError(msg)
    s = settings or StatsSettings()
    start, end = period_bounds(first, last, s.timezone)
    asof = min(end, now)
    key, table, parent = _GROUPING[group]
    query = sql.SQL(_STATS_SQL).format(
        key=sql.SQL(key), table=sql.Identifier(table), parent=sql.Identifier(parent))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {
            "all": grids is None, "grids": list(grids or []), "start": start, "end": end,
            "asof": asof, "live": asof >= now, "kinds": s.inspection_kinds,
            "window": s.recurrence_days})
        rows = await cur.fetchall()
    out = []
    for r in rows:
        if r["id"] is None:
            r["name"] = "未归属 unassigned"
        out.append(_rates({"group": group, **r}))
    totals = _rates({c: sum(r[c] for r in out) for c in COUNT_COLUMNS})
    return {
        "group": group, "from": first.isoformat(), "to": last.isoformat(),
        "timezone": s.timezone, "as_of": asof.isoformat(),
        "recurrence_days": s.recurrence_days,
        "targets": {"rectification_rate": s.target_rectification_rate,
                    "recurrence_rate": s.target_recurrence_rate},
        "rows": out, "totals": totals,
    }
