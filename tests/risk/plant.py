"""A planted risk world on top of ``tests/services/small_district``: many units in grids G1–G3
with a five-year history (2021-07 … 2026-06) where one trait drives fires.

"Bad" units (every third unit) get an e-bike hazard every two months, rectified late, and a
fire with probability 0.35 per year; the others get a hazard a year and fires with probability
0.01 per year. Fixed seed: the same rows every time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
from shapely.geometry import Point

from gis.bulk import copy_frame

START = datetime(2021, 7, 1, tzinfo=UTC)
END = datetime(2026, 7, 1, tzinfo=UTC)
FIRST_UNIT = 100


def plant_units(conn: psycopg.Connection, n: int = 600, *, seed: int = 5) -> pd.DataFrame:
    """Units ``FIRST_UNIT…`` spread over G1–G3, every third one bad; returns id, bad."""
    rng = np.random.default_rng(seed)
    ids = np.arange(FIRST_UNIT, FIRST_UNIT + n)
    lon = rng.uniform(120.505, 120.695, n)
    lat = rng.uniform(30.005, 30.095, n)
    bad = (ids % 3) == 0
    copy_frame(conn, "unit", gpd.GeoDataFrame(
        {"id": ids, "code": [f"P{i}" for i in ids], "name": [f"单位{i}" for i in ids],
         "category": np.where(bad, "small_place", "general"),
         "small_place_type": np.where(bad, "small_workshop", None),
         "floor_area_m2": rng.uniform(50, 500, n).round(1), "employees": rng.integers(1, 20, n)},
        geometry=[Point(x, y) for x, y in zip(lon, lat, strict=True)], crs=4326))
    return pd.DataFrame({"id": ids, "bad": bad, "lon": lon, "lat": lat})


def plant_history(conn: psycopg.Connection, units: pd.DataFrame, *, seed: int = 5) -> None:
    """Hazards (with lifecycle times) and fires for the planted units."""
    rng = np.random.default_rng(seed)
    hz, fires = [], []
    days = (END - START).days
    for uid, bad, lon, lat in units.itertuples(index=False):
        k = 30 if bad else 5
        for d in np.sort(rng.integers(0, days, k)):
            t = START + timedelta(days=int(d), hours=10)
            due = t + timedelta(days=7)
            late = timedelta(days=int(rng.integers(10, 40))) if bad else timedelta(days=2)
            done = t + late
            hz.append((uid, "ebike" if bad else "management",
                       "ebike_indoor_charging" if bad else "no_patrol_records",
                       t, t + timedelta(hours=5), due, done, done + timedelta(days=1), lon, lat))
        p = 0.35 if bad else 0.01
        for year in range(5):
            if rng.random() < p:
                d = year * 365 + int(rng.integers(0, 365))
                fires.append((uid, START + timedelta(days=d, hours=20), lon, lat))
    hazards = pd.DataFrame(hz, columns=["unit_id", "category", "subcategory", "reported_at",
                                        "verified_at", "rectify_due_at", "rectified_at",
                                        "closed_at", "lon", "lat"])
    hazards = hazards[hazards["reported_at"] < END]
    closed = hazards["closed_at"] < END
    n = len(hazards)
    copy_frame(conn, "hazard", gpd.GeoDataFrame(
        {"id": np.arange(1000, 1000 + n), "code": [f"PH{i}" for i in range(n)],
         "category": hazards["category"].to_numpy(),
         "subcategory": hazards["subcategory"].to_numpy(), "tier": "blue",
         "status": np.where(closed, "closed", "rectifying"), "source": "grid_worker",
         "title": "隐患", "unit_id": hazards["unit_id"].to_numpy(),
         "reported_at": hazards["reported_at"].to_numpy(),
         "verified_at": hazards["verified_at"].to_numpy(),
         "rectify_due_at": hazards["rectify_due_at"].to_numpy(),
         "rectified_at": hazards["rectified_at"].where(closed).to_numpy(),
         "closed_at": hazards["closed_at"].where(closed).to_numpy()},
        geometry=[Point(x, y) for x, y in zip(hazards["lon"], hazards["lat"], strict=True)],
        crs=4326))
    f = pd.DataFrame(fires, columns=["unit_id", "occurred_at", "lon", "lat"])
    copy_frame(conn, "incident", gpd.GeoDataFrame(
        {"id": np.arange(1, len(f) + 1), "kind": "fire", "unit_id": f["unit_id"].to_numpy(),
         "occurred_at": f["occurred_at"].to_numpy(), "cause": "ebike_battery"},
        geometry=[Point(x, y) for x, y in zip(f["lon"], f["lat"], strict=True)], crs=4326))
