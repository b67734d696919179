"""Red / yellow / green unit codes (赋码管理) derived from open hazards and enforcement.

Seed 003 (绍兴柯桥, 柯岩街道): "关停退出、停产整治类的赋红码,限期整改类的赋黄码,隐患整改完成且验收
合格的赋绿码" — units being shut down or stopped for rectification are red, units rectifying by a
deadline are yellow, units whose hazards are rectified and accepted are green; red units are
watched daily, yellow weekly, green monthly (``gis.queries.patrols.PatrolSettings``). Seed 001
(赤峰红山) lists the enforcement that drives it: 风险提示函, 自查建议通知书, 责令改正通知书,
行政处罚决定书, 临时查封决定书, 责令"三停".

The rule (every threshold a ``FIRETWIN_COLOUR_*`` setting):

1. **red** when the unit has an open hazard of a high tier (red/orange), an open work order of a
   stopping kind (temporary seal, three stops), or a penalty issued in the last
   ``penalty_days`` days;
2. **yellow** otherwise when it has any open hazard (any status but the settled ones: rechecked —
   seed 003's "验收合格" —, closed, rejected), or an open work order of a deadline kind
   (correction order, risk notice); the reason also counts the overdue hazards;
3. **green** otherwise.

A work order belongs to its ``unit_id``, or to its hazard's unit when it has none.
``recompute_colour_codes`` does it in one set-based statement for all units or for some, and
writes ``colour_code``, ``colour_reason`` and ``colour_updated_at`` only on the rows where the
code or its reason changed (the tile change log then evicts just those tiles).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from psycopg import AsyncConnection
from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis import vocab

#: Chinese names of the work-order documents (seed 001), for the reason text.
WORK_ORDER_LABEL_ZH = {
    "risk_notice": "重要火灾风险提示函",
    "self_inspection_notice": "自查建议通知书",
    "correction_order": "责令改正通知书",
    "penalty": "行政处罚决定书",
    "temporary_seal": "临时查封",
    "three_stops": "责令三停",
}
_TIER_ZH = {"blue": "蓝", "yellow": "黄", "orange": "橙", "red": "红"}


class ColourSettings(BaseSettings):
    """The colour-code rule of seed 003 (``FIRETWIN_COLOUR_*``); see the module docstring."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_COLOUR_", extra="ignore")

    red_tiers: list[str] = Field(
        default=["red", "orange"], description="An open hazard of these tiers makes a unit red."
    )
    red_order_kinds: list[str] = Field(
        default=["temporary_seal", "three_stops"],
        description="An open work order of these kinds makes a unit red (停产整治, seed 003).",
    )
    penalty_days: int = Field(
        default=90, ge=0, description="A penalty issued within this many days makes a unit red."
    )
    yellow_order_kinds: list[str] = Field(
        default=["correction_order", "risk_notice"],
        description="An open work order of these kinds makes a unit yellow (限期整改, seed 003).",
    )
    settled_statuses: list[str] = Field(
        default=["rechecked", "closed", "rejected"],
        description="Hazards in these statuses no longer count (rechecked = 验收合格, seed 003).",
    )

    @model_validator(mode="after")
    def _in_vocabularies(self) -> ColourSettings:
        """Refuse values outside the vocabularies (a typo would silently turn units green)."""
        for name, values, allowed in (
            ("red_tiers", self.red_tiers, vocab.HAZARD_TIERS),
            ("red_order_kinds", self.red_order_kinds, vocab.WORK_ORDER_KINDS),
            ("yellow_order_kinds", self.yellow_order_kinds, vocab.WORK_ORDER_KINDS),
            ("settled_statuses", self.settled_statuses, vocab.HAZARD_STATUSES),
        ):
            bad = sorted(set(values) - set(allowed))
            if bad:
                msg = f"FIRETWIN_COLOUR_{name.upper()}: {bad} not in {list(allowed)}"
                raise ValueError(msg)
        return self


class ColourChange(BaseModel):
    """One unit whose code or reason changed."""

    unit_id: int
    old_colour: str
    colour: str
    reason: str


class ColourRecompute(BaseModel):
    """What a recompute looked at and what it changed."""

    units: int
    changed: list[ColourChange]


_RECOMPUTE_SQL = """
WITH target AS (
    SELECT u.id, u.colour_code, u.colour_reason FROM firetwin.unit u
    WHERE %(all)s OR u.id = ANY(%(ids)s)
),
hz AS (
    SELECT h.unit_id,
           count(*) AS n_open,
           count(*) FILTER (WHERE h.tier = ANY(%(red_tiers)s)) AS n_high,
           count(*) FILTER (WHERE CASE h.status
                WHEN 'reported' THEN h.verify_due_at
                WHEN 'verified' THEN h.rectify_due_at
                WHEN 'rectifying' THEN h.rectify_due_at
                WHEN 'rectified' THEN h.recheck_due_at END < %(now)s) AS n_overdue
    FROM firetwin.hazard h JOIN target t ON t.id = h.unit_id
    WHERE h.status <> ALL(%(settled)s)
    GROUP BY h.unit_id
),
wo AS (
    SELECT coalesce(w.unit_id, h.unit_id) AS unit_id, w.kind,
           count(*) FILTER (WHERE w.status = 'open') AS n_open,
           count(*) FILTER (WHERE w.kind = 'penalty' AND w.issued_at <= %(now)s
                            AND w.issued_at > %(now)s - make_interval(days => %(penalty_days)s))
               AS n_recent
    FROM firetwin.work_order w
    LEFT JOIN firetwin.hazard h ON h.id = w.hazard_id
    JOIN target t ON t.id = coalesce(w.unit_id, h.unit_id)
    GROUP BY 1, 2
),
wo_unit AS (
    SELECT wo.unit_id,
           sum(wo.n_recent) AS n_penalties,
           string_agg(l.zh, '、' ORDER BY wo.kind)
               FILTER (WHERE wo.n_open > 0 AND wo.kind = ANY(%(red_kinds)s)) AS red_zh,
           string_agg(replace(wo.kind, '_', ' '), ', ' ORDER BY wo.kind)
               FILTER (WHERE wo.n_open > 0 AND wo.kind = ANY(%(red_kinds)s)) AS red_en,
           string_agg(l.zh, '、' ORDER BY wo.kind)
               FILTER (WHERE wo.n_open > 0 AND wo.kind = ANY(%(yellow_kinds)s)) AS yellow_zh,
           string_agg(replace(wo.kind, '_', ' '), ', ' ORDER BY wo.kind)
               FILTER (WHERE wo.n_open > 0 AND wo.kind = ANY(%(yellow_kinds)s)) AS yellow_en
    FROM wo JOIN unnest(%(label_kinds)s::text[], %(label_zh)s::text[]) AS l(kind, zh)
        ON l.kind = wo.kind
    GROUP BY wo.unit_id
),
facts AS (
    SELECT t.id, t.colour_code AS old_colour, t.colour_reason AS old_reason,
           coalesce(hz.n_open, 0) AS n_open, coalesce(hz.n_high, 0) AS n_high,
           coalesce(hz.n_overdue, 0) AS n_overdue, coalesce(w.n_penalties, 0) AS n_penalties,
           w.red_zh, w.red_en, w.yellow_zh, w.yellow_en
    FROM target t
    LEFT JOIN hz ON hz.unit_id = t.id
    LEFT JOIN wo_unit w ON w.unit_id = t.id
),
computed AS (
    SELECT f.id, f.old_colour, f.old_reason,
           CASE WHEN f.n_high > 0 OR f.red_zh IS NOT NULL OR f.n_penalties > 0 THEN 'red'
                WHEN f.n_open > 0 OR f.yellow_zh IS NOT NULL THEN 'yellow'
                ELSE 'green' END AS colour,
           CASE
           WHEN f.n_high > 0 OR f.red_zh IS NOT NULL OR f.n_penalties > 0 THEN
               '红码 red: ' || concat_ws('; ',
                   CASE WHEN f.n_high > 0 THEN
                        format('未闭环%%s级隐患 %%s 处 (%%s open %%s hazards)',
                               %(tiers_zh)s::text, f.n_high, f.n_high, %(tiers_en)s::text) END,
                   CASE WHEN f.red_zh IS NOT NULL THEN
                        format('%%s未解除 (open %%s)', f.red_zh, f.red_en) END,
                   CASE WHEN f.n_penalties > 0 THEN
                        format('近 %%s 天行政处罚 %%s 次 (%%s penalties in the last %%s days)',
                               %(penalty_days)s::int, f.n_penalties, f.n_penalties,
                               %(penalty_days)s::int) END)
           WHEN f.n_open > 0 OR f.yellow_zh IS NOT NULL THEN
               '黄码 yellow: ' || concat_ws('; ',
                   CASE WHEN f.n_open > 0 THEN
                        format('未闭环隐患 %%s 处 (%%s open hazards)', f.n_open, f.n_open) END,
                   CASE WHEN f.n_overdue > 0 THEN
                        format('其中超期 %%s 处 (%%s overdue)', f.n_overdue, f.n_overdue) END,
                   CASE WHEN f.yellow_zh IS NOT NULL THEN
                        format('%%s未完成 (open %%s)', f.yellow_zh, f.yellow_en) END)
           ELSE '绿码 green: 无未闭环隐患和执法措施 (no open hazards or enforcement actions)'
           END AS reason
    FROM facts f
),
changed AS (
    UPDATE firetwin.unit u
    SET colour_code = c.colour, colour_reason = c.reason, colour_updated_at = %(now)s
    FROM computed c
    WHERE u.id = c.id AND (c.colour, c.reason) IS DISTINCT FROM (c.old_colour, c.old_reason)
    RETURNING u.id, c.old_colour, c.colour, c.reason
)
SELECT (SELECT count(*) FROM target),
       coalesce(json_agg(json_build_object('unit_id', id, 'old_colour', old_colour,
                                           'colour', colour, 'reason', reason) ORDER BY id),
                '[]'::json)
FROM changed
"""


async def recompute_colour_codes(
    conn: AsyncConnection,
    unit_ids: Iterable[int] | None = None,
    *,
    now: datetime,
    settings: ColourSettings | None = None,
) -> ColourRecompute:
    """Recompute the colour code of every unit, or of ``unit_ids``, as of ``now``.

    One statement in the caller's transaction (so a hazard transition and the colour it implies
    commit together); only rows whose code or reason changed are written, with
    ``colour_updated_at = now``. ``now`` must be timezone-aware.
    """
    if now.tzinfo is None:
        msg = "now must be timezone-aware"
        raise ValueError(msg)
    s = settings or ColourSettings()
    ids = None if unit_ids is None else sorted({int(i) for i in unit_ids})
    if ids is not None and not ids:
        return ColourRecompute(units=0, changed=[])
    tiers = [t for t in reversed(vocab.HAZARD_TIERS) if t in s.red_tiers]
    cur = await conn.execute(_RECOMPUTE_SQL, {
        "all": ids is None, "ids": ids or [], "now": now,
        "red_tiers": s.red_tiers, "settled": s.settled_statuses,
        "red_kinds": s.red_order_kinds, "yellow_kinds": s.yellow_order_kinds,
        "penalty_days": s.penalty_days,
        "label_kinds": list(WORK_ORDER_LABEL_ZH), "label_zh": list(WORK_ORDER_LABEL_ZH.values()),
        "tiers_zh": "/".join(_TIER_ZH[t] for t in tiers),
        "tiers_en": "/".join(tiers),
    })
    row = await cur.fetchone()
    assert row is not None
    return ColourRecompute(units=row[0], changed=[ColourChange(**c) for c in row[1]])
