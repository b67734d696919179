"""Train the fire-risk model on history up to a cut-off date, and score every unit as of a date.

Batch jobs run from the CLI (``firetwin risk train|score``) and the benchmark on a synchronous
connection; the API only reads what they store.

Training (``train_model``): snapshots every ``snapshot_step_months`` back from ``cutoff`` minus
the horizon (so every label window ends by the cut-off), each with features as of its date
(``gis.risk.features``) and the label "a fire at the unit within ``horizon_months``". Nothing
after the cut-off is read, except — when the database already holds the whole following
period — the evaluation on that later period, which is stored with the model version
(``metrics.later``: model, random order, "most hazards in the last 12 months").

Scoring (``score_units``): features as of ``as_of`` → probability, 0–100 score, tier, rank and
top factors per unit into ``risk_score``; mean and maximum per H3 r7 and r9 cell into
``risk_cell`` and per grid into ``risk_grid``. Re-scoring the same date and version replaces
its rows.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from gis.grid import cell_boundary
from gis.risk import evaluate, model
from gis.risk.features import (
    CATEGORICAL,
    FEATURE_NAMES,
    cutoff_instant,
    fire_labels,
    history_start,
    unit_features,
)
from gis.risk.settings import RiskSettings

Progress = Callable[[str, int, int], None]


def _months_back(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    m += 1
    last = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
    return date(y, m, min(d.day, last))


def snapshot_dates(
    cutoff: date, start: date, *, step_months: int, horizon_months: int, min_history_days: int
) -> list[date]:
    """As-of dates of the training snapshots, oldest first; each label window ends by ``cutoff``.

    >>> snapshot_dates(date(2025, 6, 30), date(2021, 7, 1), step_months=6, horizon_months=12,
    ...                min_history_days=180)[-2:]
    [datetime.date(2023, 12, 30), datetime.date(2024, 6, 30)]
    """
    out = []
    k = horizon_months
    while True:
        d = _months_back(cutoff, k)
        if d < start + timedelta(days=min_history_days):
            break
        out.append(d)
        k += step_months
    return sorted(out)


def _data_end(conn: psycopg.Connection) -> datetime | None:
    return conn.execute(
        "SELECT greatest((SELECT max(occurred_at) FROM firetwin.incident), "
        "(SELECT max(reported_at) FROM firetwin.hazard))"
    ).fetchone()[0]


def _label_vector(index: pd.Index, fired: pd.Series) -> np.ndarray:
    return index.isin(fired.index).astype(np.int8)


def train_model(
    conn: psycopg.Connection,
    *,
    cutoff: date,
    settings: RiskSettings,
    directory: Path,
    progress: Progress | None = None,
    version: str | None = None,
) -> dict:
    """Train on snapshots before ``cutoff``, evaluate on the later period when it is complete,
    save the model under ``directory`` and record it in ``risk_model``. Returns the row."""
    tz = settings.timezone
    start_at = history_start(conn)
    if start_at is None:
        msg = "no hazards in the database: nothing to learn from"
        raise ValueError(msg)
    dates = snapshot_dates(cutoff, start_at.date(), step_months=settings.snapshot_step_months,
                           horizon_months=settings.horizon_months,
                           min_history_days=settings.min_history_days)
    if not dates:
        msg = (f"the history before {cutoff} is too short for a "
               f"{settings.horizon_months}-month label")
        raise ValueError(msg)
    t0 = time.perf_counter()
    frames, labels = [], []
    for i, d in enumerate(dates):
        at = cutoff_instant(d, tz)
        X = unit_features(conn, at, start=start_at)
        frames.append(X)
        labels.append(_label_vector(X.index, fire_labels(conn, at, months=settings.horizon_months)))
        if progress:
            progress("training snapshots", i + 1, len(dates))
    t_features = time.perf_counter() - t0
    X_all = pd.concat([f[list(FEATURE_NAMES)] for f in frames], ignore_index=True)
    y_all = np.concatenate(labels)
    groups = np.concatenate([f.index.to_numpy() for f in frames])
    del frames[:-1]
    if y_all.sum() == 0:
        msg = "no fires in the training windows: nothing to learn from"
        raise ValueError(msg)
    if progress:
        progress("fit", 0, 1)
    t1 = time.perf_counter()
    booster, summary = model.fit(X_all, y_all, groups=groups, categorical=list(CATEGORICAL),
                                 seed=settings.seed, num_threads=settings.num_threads)
    t_fit = time.perf_counter() - t1
    if progress:
        progress("fit", 1, 1)
    latest = frames[-1][list(FEATURE_NAMES)]
    quantiles = model.reference_quantiles(model.predict(booster, latest))
    version = version or f"lgbm-{cutoff:%Y%m%d}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    params = {**model.DEFAULT_PARAMS, "num_rounds": model.NUM_ROUNDS,
              "snapshots": [d.isoformat() for d in dates],
              "horizon_months": settings.horizon_months, "timezone": tz,
              "features": list(FEATURE_NAMES), "categorical": list(CATEGORICAL)}
    art = model.RiskArtifact(booster, list(FEATURE_NAMES), list(CATEGORICAL), quantiles, params)
    path = art.save(directory, version)
    params["model_file"] = str(path)
    metrics: dict = {"train": {**summary, "features_s": round(t_features, 2),
                               "fit_s": round(t_fit, 2)}}
    later = evaluate_later(conn, art, cutoff=cutoff, settings=settings)
    if later is not None:
        metrics["later"] = later
    conn.execute(
        "INSERT INTO firetwin.risk_model (version, train_cutoff, metrics, params) "
        "VALUES (%s, %s, %s, %s)",
        (version, cutoff, json.dumps(metrics), json.dumps(params)),
    )
    return {"version": version, "train_cutoff": cutoff, "metrics": metrics, "params": params}


def evaluate_later(
    conn: psycopg.Connection, art: model.RiskArtifact, *, cutoff: date, settings: RiskSettings
) -> dict | None:
    """Metrics on the period after ``cutoff`` (features as of ``cutoff``), or None when the
    database does not yet hold that whole period."""
    at = cutoff_instant(cutoff, settings.timezone)
    end = at + timedelta(days=round(365.25 * settings.horizon_months / 12))
    data_end = _data_end(conn)
    if data_end is None or data_end < end - timedelta(days=2):
        return None
    X = unit_features(conn, at)
    y = _label_vector(X.index, fire_labels(conn, at, months=settings.horizon_months))
    p = model.predict(art.booster, X[art.features])
    rng = np.random.default_rng(0)
    most = X["hazards_1y"].to_numpy() + rng.random(len(X)) * 1e-3  # ties broken at random
    return {
        "as_of": cutoff.isoformat(),
        "window_end": end.date().isoformat(),
        "model": evaluate.metrics(y, p),
        "random": evaluate.random_baseline(y),
        "most_hazards_last_year": evaluate.metrics(y, most),
    }


def latest_version(conn: psycopg.Connection) -> str | None:
    """The most recently trained model version."""
    row = conn.execute(
        "SELECT version FROM firetwin.risk_model ORDER BY trained_at DESC, version DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def score_units(
    conn: psycopg.Connection,
    *,
    as_of: date,
    settings: RiskSettings,
    directory: Path,
    version: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Score every unit as of ``as_of`` with ``version`` (default the latest) and store it."""
    version = version or latest_version(conn)
    if version is None:
        msg = "no trained risk model: run `firetwin risk train --cutoff YYYY-MM-DD` first"
        raise LookupError(msg)
    art = model.RiskArtifact.load(directory, version)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    X = unit_features(conn, cutoff_instant(as_of, settings.timezone), progress=progress)
    timings["features_s"] = time.perf_counter() - t
    if progress:
        progress("score", 0, 3)
    t = time.perf_counter()
    Xf = X[art.features]
    p = model.predict(art.booster, Xf, num_threads=settings.num_threads)
    score = model.to_score(p, art.quantiles)
    tier = model.tiers(score, {"medium": settings.tier_medium, "high": settings.tier_high,
                               "very_high": settings.tier_very_high})
    rank = (pd.Series(-p).rank(method="min").to_numpy()).astype(np.int64)
    timings["predict_s"] = time.perf_counter() - t
    if progress:
        progress("score", 1, 3)
    t = time.perf_counter()
    contrib = model.contributions(art.booster, Xf, num_threads=settings.num_threads)
    factors = model.top_factors(contrib, Xf, k=settings.top_factors)
    del contrib
    timings["factors_s"] = time.perf_counter() - t
    if progress:
        progress("score", 2, 3)
    t = time.perf_counter()
    written = _store_scores(conn, X.index.to_numpy(), score, tier, rank, factors,
                            as_of=as_of, version=version)
    timings["store_s"] = time.perf_counter() - t
    if progress:
        progress("score", 3, 3)
    counts = dict(zip(*np.unique(tier, return_counts=True), strict=True))
    return {"version": version, "as_of": as_of, "units": written,
            "tiers": {k: int(counts.get(k, 0)) for k in ("low", "medium", "high", "very_high")},
            "timings": {k: round(v, 2) for k, v in timings.items()}}


def _store_scores(
    conn: psycopg.Connection,
    unit_ids: np.ndarray,
    score: np.ndarray,
    tier: np.ndarray,
    rank: np.ndarray,
    factors: list[str],
    *,
    as_of: date,
    version: str,
) -> int:
    conn.execute("CREATE TEMP TABLE _risk_in (unit_id integer, score double precision, "
                 "tier text, rank integer, factors jsonb) ON COMMIT DROP")
    frame = pd.DataFrame({"u": unit_ids, "s": score, "t": tier, "r": rank, "f": factors})
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False)
    data = buf.getvalue().encode()
    with conn.cursor() as cur, cur.copy(
        "COPY _risk_in FROM STDIN WITH (FORMAT csv)"
    ) as cp:
        view = memoryview(data)
        for i in range(0, len(data), 1 << 20):
            cp.write(view[i:i + (1 << 20)])
    p = {"as_of": as_of, "v": version}
    for table in ("risk_score", "risk_cell", "risk_grid"):
        conn.execute(f"DELETE FROM firetwin.{table} WHERE as_of = %(as_of)s "
                     "AND model_version = %(v)s", p)
    n = conn.execute(
        "INSERT INTO firetwin.risk_score (unit_id, score, tier, rank, as_of, model_version, "
        "factors, geom, h3_r7, h3_r9, h3_r11, grid_id) "
        "SELECT i.unit_id, i.score, i.tier, i.rank, %(as_of)s, %(v)s, i.factors, u.geom, "
        "u.h3_r7, u.h3_r9, u.h3_r11, u.grid_id "
        "FROM _risk_in i JOIN firetwin.unit u ON u.id = i.unit_id", p
    ).rowcount
    for res in (7, 9):
        cells = conn.execute(
            f"SELECT h3_r{res}, avg(score), max(score), count(*) FROM _risk_in i "
            f"JOIN firetwin.unit u ON u.id = i.unit_id WHERE h3_r{res} IS NOT NULL GROUP BY 1"
        ).fetchall()
        if not cells:
            continue
        wkt = ["POLYGON((" + ", ".join(f"{x} {y}" for x, y in cell_boundary(c)) + "))"
               for c, *_ in cells]
        conn.execute(
            "INSERT INTO firetwin.risk_cell (h3_cell, as_of, model_version, resolution, score, "
            "max_score, units, geom) SELECT c, %(as_of)s, %(v)s, %(res)s, round(s::numeric, 2), "
            "m, n, ST_GeomFromText(w, 4326) FROM unnest(%(c)s::bigint[], %(s)s::float8[], "
            "%(m)s::float8[], %(n)s::int[], %(w)s::text[]) AS x(c, s, m, n, w)",
            {**p, "res": res, "c": [r[0] for r in cells], "s": [r[1] for r in cells],
             "m": [r[2] for r in cells], "n": [r[3] for r in cells], "w": wkt},
        )
    conn.execute(
        "INSERT INTO firetwin.risk_grid (grid_id, as_of, model_version, score, max_score, units, "
        "high_units) SELECT u.grid_id, %(as_of)s, %(v)s, round(avg(i.score)::numeric, 2), "
        "max(i.score), count(*), count(*) FILTER (WHERE i.tier IN ('high', 'very_high')) "
        "FROM _risk_in i JOIN firetwin.unit u ON u.id = i.unit_id "
        "WHERE u.grid_id IS NOT NULL GROUP BY u.grid_id", p
    )
    conn.execute("DROP TABLE _risk_in")
    return n


# ---------------------------------------------------------------- rescue capability per street


_STREETS_SQL = """
SELECT s.id, s.code, s.name, s.population, s.area_km2,
    (SELECT count(*) FROM firetwin.station st WHERE ST_Intersects(st.geom, s.geom)
        AND st.status <> 'out_of_service') AS stations,
    (SELECT count(*) FROM firetwin.vehicle v JOIN firetwin.station st ON st.id = v.station_id
        WHERE ST_Intersects(st.geom, s.geom) AND st.status <> 'out_of_service'
          AND v.status = 'available') AS vehicles,
    (SELECT coalesce(sum(st.staff), 0) FROM firetwin.station st
        WHERE ST_Intersects(st.geom, s.geom) AND st.status <> 'out_of_service') AS staff
FROM firetwin.region s WHERE s.level = 'street' ORDER BY s.id
"""
_UNIT_STREET_SQL = """
SELECT g.street_id, ST_X(u.geom), ST_Y(u.geom)
FROM firetwin.unit u JOIN firetwin.grid g ON g.id = u.grid_id WHERE g.street_id IS NOT NULL
"""


async def rescue_capability(conn, net, *, settings) -> list[dict]:
    """Rescue-capability index per street: 5-minute truck coverage of its units (60 %),
    available vehicles (20 %) and station staff (20 %) per 10,000 residents of stations inside
    it; without a population the resource parts are left out. ``net`` is the road graph state
    (``RoadGraphState.current``); coverage uses ``routing.coverage``.
    """
    import asyncio

    from gis.queries import roads
    from routing import weight_for
    from routing.coverage import point_times, station_reach

    band = settings.response_standard_s - settings.turnout_s
    stations = await roads.stations_for_dispatch(conn)
    blocked = await roads.blocked_edge_ids(conn)
    weight = weight_for("truck", closed_edges=blocked)
    cur = await conn.execute(_UNIT_STREET_SQL)
    pts = await cur.fetchall()
    street = np.array([p[0] for p in pts], dtype=np.int64)
    xy = np.array([(p[1], p[2]) for p in pts], dtype=float).reshape(-1, 2)

    def reach() -> np.ndarray:
        if not stations or len(xy) == 0:
            return np.full(len(xy), np.inf)
        locs = {s["id"]: (s["lon"], s["lat"]) for s in stations}
        times, _ = station_reach(net.graph, locs, weight=weight, cutoff=band, index=net.index)
        return point_times(net.graph, net.index, times, xy, weight=weight)

    t = await asyncio.to_thread(reach)
    cur = await conn.execute(_STREETS_SQL)
    out = []
    for sid, code, name, pop, _area, n_st, n_veh, staff in await cur.fetchall():
        mine = street == sid
        n = int(mine.sum())
        covered = int((t[mine] <= band).sum())
        share = covered / n if n else None
        parts = {"coverage_5min": None if share is None else round(share * 100, 1)}
        if pop:
            parts["vehicles"] = round(min(1.0, n_veh / pop * 1e4 / settings.vehicles_per_10k_good)
                                      * 100, 1)
            parts["staff"] = round(min(1.0, staff / pop * 1e4 / settings.staff_per_10k_good)
                                   * 100, 1)
        w = {"coverage_5min": 0.6, "vehicles": 0.2, "staff": 0.2}
        num = sum(w[k] * v for k, v in parts.items() if v is not None)
        den = sum(w[k] for k, v in parts.items() if v is not None)
        out.append({"id": sid, "code": code, "name": name, "population": pop,
                    "units": n, "units_within_5min": covered, "stations": n_st,
                    "vehicles_available": n_veh, "staff": int(staff), "indicators": parts,
                    "index": round(num / den, 1) if den else None})
    out.sort(key=lambda r: (-(r["index"] if r["index"] is not None else -1), r["id"]))
    for i, r in enumerate(out, start=1):
        r["rank"] = i
    return out
