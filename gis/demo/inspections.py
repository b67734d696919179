"""Inspections and patrol check-ins, with the phone's GPS position.

Over the last 90 days units are visited at the cadence of their colour code (red daily,
yellow weekly, green monthly; key units patrolled every working day, seed 003 / DESIGN §4),
with some visits missed. Every hazard found by an inspection has its inspection, and every
recheck of the last year is one too. Check-ins are made within a few metres of the unit;
a few are logged far away (> 200 m), which a patrol audit should flag.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.demo import clock
from gis.demo.context import District
from gis.demo.geo import distance_m, inside, lonlat, point_frame
from gis.demo.regions import Regions
from gis.demo.users import Staff

WINDOW_DAYS = 90
INTERVAL_DAYS = {"red": 1.0, "yellow": 7.0, "green": 30.0}
MISSED = 0.08
FAR_SHARE = 0.03


def _cadence(rng: np.random.Generator, units: gpd.GeoDataFrame, colour: np.ndarray) -> pd.DataFrame:
    start = clock.REF_S - WINDOW_DAYS * clock.DAY
    interval = np.array([INTERVAL_DAYS[c] for c in colour])
    key = units["category"].to_numpy() == "key_unit"
    interval = np.where(key, np.minimum(interval, 1.4), interval)  # working days
    rows_u, rows_t = [], []
    first = start + (rng.random(len(units)) * interval * clock.DAY).astype(np.int64)
    for i in range(len(units)):
        step = interval[i] * clock.DAY
        k = int((clock.REF_S - first[i]) // step) + 1
        t = first[i] + (np.arange(k) * step).astype(np.int64)
        t = t[t < clock.REF_S]
        rows_u.append(np.full(len(t), i))
        rows_t.append(t)
    ui = np.concatenate(rows_u)
    day = (np.concatenate(rows_t) - clock.START_S) // clock.DAY
    t = clock.day_start(day) + clock.working_hours(rng, len(ui))
    keep = (rng.random(len(ui)) > MISSED) & (t < clock.REF_S)
    return pd.DataFrame({"_u": ui[keep], "_t": t[keep]})


def build_inspections(
    d: District,
    r: Regions,
    units: gpd.GeoDataFrame,
    hazards: pd.DataFrame,
    staff: Staff,
    managers: pd.DataFrame,
    colour: np.ndarray,
) -> gpd.GeoDataFrame:
    """Inspection rows (EPSG:4326) for district ``d``."""
    rng = d.rng("inspections")
    cad = _cadence(rng, units, colour)
    n = len(cad)
    u = cad["_u"].to_numpy()
    grid = units["_grid"].to_numpy()[u]
    street = units["_street"].to_numpy()[u]
    worker = staff.grid_worker[grid]
    insp = staff.inspectors[street, rng.integers(0, 2, n)]
    mgr = dict(zip(managers["unit_id"].astype(int), managers["id"], strict=True))
    mgr_u = np.array([mgr.get(int(i), -1) for i in units["id"].to_numpy()[u]])
    col = colour[u]
    roll = rng.random(n)
    kind = np.where(
        np.isin(col, ("red", "yellow")) & (roll < 0.4),
        "inspection",
        np.where(
            roll < 0.08,
            "double_random",
            np.where((roll > 0.9) & (mgr_u >= 0), "self_check", "patrol"),
        ),
    )
    who = np.select(
        [np.isin(kind, ("inspection", "double_random")), kind == "self_check"],
        [insp, mgr_u],
        worker,
    )
    z = units["_z_mgmt"].to_numpy()[u]
    p_na = 0.03 * np.exp(0.4 * z)
    p_found = np.where(col == "green", 0.08, 0.25)
    roll = rng.random(n)
    result = np.where(
        roll < p_na, "not_accessible", np.where(roll < p_na + p_found, "hazards_found", "pass")
    )
    found = np.where(result == "hazards_found", rng.integers(1, 4, n), 0)
    cadence = pd.DataFrame(
        {
            "_u": u,
            "_t": cad["_t"].to_numpy(),
            "kind": kind,
            "_who": who,
            "result": result,
            "hazards_found": found,
        }
    )
    # Inspections that found a hazard, and rechecks of the last year.
    hz = hazards
    hu = hz["_unit"].to_numpy()
    src = hz["source"].to_numpy()
    m = (hu >= 0) & (src == "inspection")
    found_rows = pd.DataFrame(
        {
            "_u": hu[m],
            "_t": hz["_t_report"].to_numpy()[m],
            "kind": "inspection",
            "_who": hz["_inspector"].to_numpy()[m],
            "result": "hazards_found",
            "hazards_found": 1,
        }
    )
    t_rc = hz["_t_recheck"].to_numpy()
    m = (
        (hu >= 0)
        & (t_rc < clock.REF_S)
        & (t_rc >= clock.REF_S - 365 * clock.DAY)
        & ~hz["_reject"].to_numpy()
    )
    rechecks = pd.DataFrame(
        {
            "_u": hu[m],
            "_t": t_rc[m],
            "kind": "recheck",
            "_who": hz["assignee_user_id"].to_numpy()[m].astype(np.int64),
            "result": "pass",
            "hazards_found": 0,
        }
    )
    allr = pd.concat([cadence, found_rows, rechecks], ignore_index=True)
    allr = allr.sort_values(["_t", "_u"], kind="stable").reset_index(drop=True)
    n = len(allr)
    u = allr["_u"].to_numpy()
    ux, uy = units["_x"].to_numpy()[u], units["_y"].to_numpy()[u]
    far = rng.random(n) < FAR_SHARE
    dist = np.where(far, rng.uniform(220, 700, n), np.abs(rng.normal(0, 12, n)))
    ang = rng.uniform(0, 2 * np.pi, n)
    gx, gy = ux + np.cos(ang) * dist, uy + np.sin(ang) * dist
    ok = inside(r.district, gx, gy)
    gx, gy = np.where(ok, gx, ux), np.where(ok, gy, uy)
    glon, glat = lonlat(gx, gy)
    ulon, ulat = lonlat(ux, uy)
    who = allr["_who"].to_numpy()
    frame = pd.DataFrame(
        {
            "id": d.world.ids.take("inspection", n),
            "kind": allr["kind"].to_numpy(),
            "unit_id": units["id"].to_numpy()[u],
            "inspector_user_id": pd.array(np.where(who < 0, None, who), dtype="Int64"),
            "inspected_at": clock.timestamps(allr["_t"].to_numpy()),
            "result": allr["result"].to_numpy(),
            "hazards_found": allr["hazards_found"].to_numpy().astype(int),
            "distance_from_unit_m": np.round(distance_m(ulon, ulat, glon, glat), 1),
            "note": np.where(
                allr["result"].to_numpy() == "not_accessible", "场所关门，无法进入检查", None
            ),
        }
    )
    return point_frame(frame, gx, gy)
