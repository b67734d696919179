"""Per-unit fire-risk features as of an instant, computed in PostGIS.

``unit_features(conn, cutoff)`` returns one row per unit built only from rows dated strictly
before ``cutoff`` (the start of the day after the as-of date): hazards by their ``reported_at``
(and their stage timestamps compared with the cutoff, never their current status), inspections
by ``inspected_at``, work orders by ``issued_at``, sensors by ``installed_at`` and readings by
``observed_at``, incidents by ``occurred_at``. Current-state columns that carry no history
(``unit.colour_code``, ``hazard.status``/``tier``, ``facility.status``, ``sensor.status``,
``hazard.cluster_id``, computed over the whole history) are deliberately not read: a feature for
a past date must not see the future. The colour code is reconstructed as of the cutoff from open
hazards and enforcement.

Units: days, years, counts, metres; rates are per year of observed history (``years_obs``: from
the first hazard in the database, or ``history_start``, to the cutoff, at least a quarter).
The neighbourhood of a unit is its H3 r7 cell (~5 km²) and the H3 r9 disk of radius 2 around
its r9 cell (~500 m), counted in Python from per-cell fire counts (no h3-pg in PostGIS).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
from h3.api import basic_int as h3i

from gis import vocab

#: Hazard categories counted separately (the rest count in the totals only).
HAZARD_CATEGORIES = (
    "ebike", "electrical", "gas", "fire_passage", "fire_facility", "building_structure",
    "hot_work", "hazardous_materials", "management",
)
KINDS = ("general", *vocab.SMALL_PLACE_TYPES, *vocab.KEY_DOMAINS, *vocab.KEY_UNIT_TYPES)
CATEGORICAL = ("category", "kind", "building_use")
NEIGHBOUR_K = 2  # H3 r9 disk radius: 2 rings of ~174 m edge ≈ 500 m

#: Feature name → what it means (shown with the top factors of a unit).
FEATURES: dict[str, str] = {
    "category": "unit category (key unit, small place, key domain, general)",
    "kind": "place type (nine small places, five key domains, key unit type)",
    "building_use": "use of the building",
    "floor_area_log": "floor area (log m²)",
    "employees": "employees",
    "management_level": "management level",
    "building_height_m": "building height (m)",
    "building_floors": "building floors",
    "building_age_y": "building age (years)",
    "high_rise": "high-rise building (GB 50016)",
    "unit_age_y": "years since the unit opened",
    "hazards_rate": "confirmed hazards per year",
    "hazards_1y": "confirmed hazards in the last 12 months",
    **{f"hz_{c}_rate": f"{c.replace('_', ' ')} hazards per year" for c in HAZARD_CATEGORIES},
    "hz_ebike_1y": "e-bike hazards in the last 12 months",
    "hz_electrical_1y": "electrical hazards in the last 12 months",
    "open_hazards": "hazards open on the date",
    "overdue_hazards": "open hazards past their rectification deadline",
    "delay_mean_d": "mean rectification delay (days past deadline)",
    "delay_max_d": "longest rectification delay (days)",
    "recurrences": "repeat hazards of the same subcategory",
    "public_reports_rate": "public reports per year",
    "sensor_hazards_rate": "sensor-raised hazards per year",
    "days_since_hazard": "days since the last hazard",
    "inspections_1y": "inspections in the last 12 months",
    "inspections_found_1y": "inspections finding hazards in the last 12 months",
    "not_accessible_rate": "inspections refused or not accessible per year",
    "days_since_inspection": "days since the last inspection",
    "penalties": "penalties",
    "seals": "temporary seals and three-stops",
    "correction_orders": "correction orders",
    "sensors": "sensors installed",
    "sensor_alarms_1y": "sensor alarms in the last 12 months",
    "own_fires": "earlier fires at the unit",
    "own_false_alarms": "earlier false alarms at the unit",
    "colour_at": "colour code on the date (0 green, 1 yellow, 2 red)",
    "cell_r7_fires_3y": "fires in the same H3 r7 cell in 3 years",
    "near_fires_3y": "fires within ~500 m (H3 r9 disk) in 3 years",
    "near_hazards_1y": "hazards within ~500 m in the last 12 months",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)


def cutoff_instant(as_of: date, tz: str) -> datetime:
    """The first instant after the as-of day in zone ``tz`` (data must be strictly earlier)."""
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))


def _arr(values: tuple[str, ...]) -> str:
    return "ARRAY[" + vocab.sql_in(values) + "]::text[]"


_CAT_COLS = ",\n        ".join(
    f"count(*) FILTER (WHERE h.category = '{c}') AS n_{c}" for c in HAZARD_CATEGORIES
)

_SQL = f"""
WITH hz AS (
    SELECT h.unit_id,
        count(*) AS n_all,
        count(*) FILTER (WHERE h.reported_at >= %(t1y)s) AS n_1y,
        {_CAT_COLS},
        count(*) FILTER (WHERE h.category = 'ebike' AND h.reported_at >= %(t1y)s) AS n_ebike_1y,
        count(*) FILTER (WHERE h.category = 'electrical' AND h.reported_at >= %(t1y)s)
            AS n_electrical_1y,
        count(*) FILTER (WHERE h.closed_at IS NULL OR h.closed_at >= %(t)s) AS n_open,
        count(*) FILTER (WHERE (h.closed_at IS NULL OR h.closed_at >= %(t)s)
                           AND h.rectify_due_at < %(t)s
                           AND (h.rectified_at IS NULL OR h.rectified_at >= %(t)s)) AS n_overdue,
        avg(greatest(0, extract(epoch FROM least(coalesce(h.rectified_at, %(t)s), %(t)s)
                                         - h.rectify_due_at) / 86400.0))
            FILTER (WHERE h.rectify_due_at < %(t)s) AS delay_mean,
        max(greatest(0, extract(epoch FROM least(coalesce(h.rectified_at, %(t)s), %(t)s)
                                         - h.rectify_due_at) / 86400.0))
            FILTER (WHERE h.rectify_due_at < %(t)s) AS delay_max,
        count(*) - count(DISTINCT h.subcategory) AS recurrences,
        count(*) FILTER (WHERE h.source = 'public') AS n_public,
        count(*) FILTER (WHERE h.source = 'sensor') AS n_sensor,
        extract(epoch FROM %(t)s - max(h.reported_at)) / 86400.0 AS since_hazard
    FROM firetwin.hazard h
    WHERE h.unit_id IS NOT NULL AND h.reported_at < %(t)s AND h.verified_at < %(t)s
    GROUP BY h.unit_id
), insp AS (
    SELECT i.unit_id,
        count(*) FILTER (WHERE i.inspected_at >= %(t1y)s AND i.kind <> 'self_check') AS n_1y,
        count(*) FILTER (WHERE i.inspected_at >= %(t1y)s AND i.result = 'hazards_found')
            AS found_1y,
        count(*) FILTER (WHERE i.result = 'not_accessible') AS n_na,
        extract(epoch FROM %(t)s - max(i.inspected_at) FILTER (WHERE i.kind <> 'self_check'))
            / 86400.0 AS since_insp
    FROM firetwin.inspection i
    WHERE i.unit_id IS NOT NULL AND i.inspected_at < %(t)s
    GROUP BY i.unit_id
), wo AS (
    SELECT w.unit_id,
        count(*) FILTER (WHERE w.kind = 'penalty') AS penalties,
        count(*) FILTER (WHERE w.kind IN ('temporary_seal', 'three_stops')) AS seals,
        count(*) FILTER (WHERE w.kind = 'correction_order') AS corrections,
        bool_or((w.kind = 'penalty' AND w.issued_at >= %(t)s - interval '90 days')
                OR (w.kind IN ('temporary_seal', 'three_stops')
                    AND (w.closed_at IS NULL OR w.closed_at >= %(t)s))) AS red_wo
    FROM firetwin.work_order w
    WHERE w.unit_id IS NOT NULL AND w.issued_at < %(t)s
    GROUP BY w.unit_id
), sen AS (
    SELECT s.unit_id, count(*) AS n FROM firetwin.sensor s
    WHERE s.unit_id IS NOT NULL AND s.installed_at < %(t)s
    GROUP BY s.unit_id
), alarm AS (
    SELECT s.unit_id, count(*) AS n
    FROM firetwin.sensor_reading r JOIN firetwin.sensor s ON s.id = r.sensor_id
    WHERE s.unit_id IS NOT NULL AND r.state = 'alarm'
      AND r.observed_at < %(t)s AND r.observed_at >= %(t1y)s
    GROUP BY s.unit_id
), inc AS (
    SELECT c.unit_id,
        count(*) FILTER (WHERE c.kind = 'fire') AS fires,
        count(*) FILTER (WHERE c.kind = 'false_alarm') AS false_alarms
    FROM firetwin.incident c
    WHERE c.unit_id IS NOT NULL AND c.occurred_at < %(t)s
    GROUP BY c.unit_id
), r7 AS (
    SELECT c.h3_r7, count(*) AS fires FROM firetwin.incident c
    WHERE c.kind = 'fire' AND c.occurred_at < %(t)s AND c.occurred_at >= %(t3y)s
    GROUP BY c.h3_r7
)
SELECT u.id AS unit_id, u.h3_r9,
    array_position({_arr(vocab.UNIT_CATEGORIES)}, u.category::text) AS category,
    coalesce(array_position({_arr(KINDS)},
        coalesce(u.small_place_type, u.key_domain, u.key_unit_type, u.category)::text), 0) AS kind,
    coalesce(array_position({_arr(vocab.BUILDING_USES)}, b.use::text), 0) AS building_use,
    ln(greatest(u.floor_area_m2, 1)) AS floor_area_log,
    u.employees, u.management_level,
    b.height_m AS building_height_m, b.floors AS building_floors,
    %(year)s - b.built_year AS building_age_y,
    CASE WHEN b.height_m IS NULL THEN NULL
         WHEN b.height_m > CASE WHEN b.use = 'residential' THEN 27 ELSE 24 END THEN 1 ELSE 0 END
        AS high_rise,
    %(year)s - u.opened_year AS unit_age_y,
    coalesce(hz.n_all, 0) / %(years)s AS hazards_rate,
    coalesce(hz.n_1y, 0) AS hazards_1y,
    {", ".join(f"coalesce(hz.n_{c}, 0) / %(years)s AS hz_{c}_rate" for c in HAZARD_CATEGORIES)},
    coalesce(hz.n_ebike_1y, 0) AS hz_ebike_1y,
    coalesce(hz.n_electrical_1y, 0) AS hz_electrical_1y,
    coalesce(hz.n_open, 0) AS open_hazards,
    coalesce(hz.n_overdue, 0) AS overdue_hazards,
    hz.delay_mean AS delay_mean_d, hz.delay_max AS delay_max_d,
    coalesce(hz.recurrences, 0) AS recurrences,
    coalesce(hz.n_public, 0) / %(years)s AS public_reports_rate,
    coalesce(hz.n_sensor, 0) / %(years)s AS sensor_hazards_rate,
    hz.since_hazard AS days_since_hazard,
    coalesce(insp.n_1y, 0) AS inspections_1y,
    coalesce(insp.found_1y, 0) AS inspections_found_1y,
    coalesce(insp.n_na, 0) / %(years)s AS not_accessible_rate,
    insp.since_insp AS days_since_inspection,
    coalesce(wo.penalties, 0) AS penalties,
    coalesce(wo.seals, 0) AS seals,
    coalesce(wo.corrections, 0) AS correction_orders,
    coalesce(sen.n, 0) AS sensors,
    coalesce(alarm.n, 0) AS sensor_alarms_1y,
    coalesce(inc.fires, 0) AS own_fires,
    coalesce(inc.false_alarms, 0) AS own_false_alarms,
    CASE WHEN coalesce(wo.red_wo, false) THEN 2 WHEN coalesce(hz.n_open, 0) > 0 THEN 1 ELSE 0 END
        AS colour_at,
    coalesce(r7.fires, 0) AS cell_r7_fires_3y
FROM firetwin.unit u
LEFT JOIN firetwin.building b ON b.id = u.building_id
LEFT JOIN hz ON hz.unit_id = u.id
LEFT JOIN insp ON insp.unit_id = u.id
LEFT JOIN wo ON wo.unit_id = u.id
LEFT JOIN sen ON sen.unit_id = u.id
LEFT JOIN alarm ON alarm.unit_id = u.id
LEFT JOIN inc ON inc.unit_id = u.id
LEFT JOIN r7 ON r7.h3_r7 = u.h3_r7
{{where}}
ORDER BY u.id
"""

_CELL_SQL = """
SELECT h3_r9, count(*) FILTER (WHERE src = 'fire'), count(*) FILTER (WHERE src = 'hazard')
FROM (
    SELECT h3_r9, 'fire' AS src FROM firetwin.incident
    WHERE kind = 'fire' AND occurred_at < %(t)s AND occurred_at >= %(t3y)s
    UNION ALL
    SELECT h3_r9, 'hazard' FROM firetwin.hazard
    WHERE reported_at < %(t)s AND reported_at >= %(t1y)s AND verified_at < %(t)s
) x WHERE h3_r9 IS NOT NULL GROUP BY h3_r9
"""


def history_start(conn: psycopg.Connection) -> datetime | None:
    """The first hazard report in the database (the start of the observed history)."""
    return conn.execute("SELECT min(reported_at) FROM firetwin.hazard").fetchone()[0]


def _disk_sums(cells: np.ndarray, counts: dict[int, tuple[int, int]]) -> np.ndarray:
    """Fire and hazard counts summed over the r9 disk of radius ``NEIGHBOUR_K`` of each cell."""
    uniq, inv = np.unique(cells, return_inverse=True)
    sums = np.zeros((len(uniq), 2))
    for i, c in enumerate(uniq.tolist()):
        if c <= 0:
            continue
        f = h = 0
        for n in h3i.grid_disk(c, NEIGHBOUR_K):
            v = counts.get(n)
            if v is not None:
                f += v[0]
                h += v[1]
        sums[i] = (f, h)
    return sums[inv]


def unit_features(
    conn: psycopg.Connection,
    cutoff: datetime,
    *,
    unit_ids: list[int] | None = None,
    start: datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> pd.DataFrame:
    """Features of every unit (or ``unit_ids``) from data strictly before ``cutoff``.

    Returns a frame indexed by ``unit_id`` with the columns of ``FEATURE_NAMES`` (float32;
    missing values as NaN) and ``h3_r9``. ``start`` is the start of the observed history
    (default: the first hazard report).
    """
    start = start if start is not None else history_start(conn)
    years = max(((cutoff - start).total_seconds() / 86400 / 365.25) if start else 0.25, 0.25)
    params = {
        "t": cutoff, "t1y": cutoff - timedelta(days=365), "t3y": cutoff - timedelta(days=3 * 365),
        "year": cutoff.year, "years": years, "ids": unit_ids,
    }
    where = "WHERE u.id = ANY(%(ids)s)" if unit_ids is not None else ""
    query = _SQL.replace("{where}", where)
    if progress:
        progress("features", 0, 3)
    buf = io.BytesIO()
    # COPY: one round trip and CSV parsing in C, far cheaper than 1e6 Python tuples. COPY takes
    # no bind parameters, so the values are quoted client-side (they are dates and numbers).
    sql_text = psycopg.ClientCursor(conn).mogrify(query, params)
    with conn.cursor() as cur:
        with cur.copy(f"COPY ({sql_text}) TO STDOUT WITH (FORMAT csv, HEADER true)") as cp:
            for chunk in cp:
                buf.write(chunk)
    if progress:
        progress("features", 1, 3)
    buf.seek(0)
    dtypes = dict.fromkeys(FEATURE_NAMES, np.float32) | {"unit_id": np.int64, "h3_r9": np.int64}
    frame = pd.read_csv(buf, dtype=dtypes)
    frame = frame.set_index("unit_id")
    cell_rows = conn.execute(_CELL_SQL, params).fetchall()
    counts = {int(c): (int(f), int(h)) for c, f, h in cell_rows}
    sums = _disk_sums(frame["h3_r9"].to_numpy(dtype=np.int64), counts)
    frame["near_fires_3y"] = sums[:, 0].astype(np.float32)
    frame["near_hazards_1y"] = sums[:, 1].astype(np.float32)
    if progress:
        progress("features", 3, 3)
    return frame[[*FEATURE_NAMES, "h3_r9"]]


def fire_labels(
    conn: psycopg.Connection, cutoff: datetime, *, months: int = 12
) -> pd.Series:
    """Units with a fire in ``[cutoff, cutoff + months)``: the label of a snapshot (evaluation
    and training only; never a feature)."""
    end = cutoff + timedelta(days=round(365.25 * months / 12))
    rows = conn.execute(
        "SELECT DISTINCT unit_id FROM firetwin.incident WHERE kind = 'fire' "
        "AND unit_id IS NOT NULL AND occurred_at >= %s AND occurred_at < %s",
        (cutoff, end),
    ).fetchall()
    return pd.Series(1, index=pd.Index([r[0] for r in rows], name="unit_id"), dtype=np.int8)
