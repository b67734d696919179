"""Fire facilities: street hydrants and the facilities inside units.

Hydrants stand beside urban roads every 100–130 m in the core and 140–190 m further out
(GB 50974-2014 §7.2: spacing ≤ 120 m, radius ≤ 150 m; the gaps are real), plus a few in each
village. Units get extinguishers, alarm panels, control rooms, sprinklers, smoke exhaust,
emergency lights and fire doors by category and building; poorly managed units have more
faulty ones and older inspections. Every facility has a named owner (seed 000).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.demo import clock
from gis.demo.context import District
from gis.demo.geo import point_frame
from gis.demo.names import person_names
from gis.demo.regions import Regions

HYDRANT_CLASSES = ("trunk", "primary", "secondary", "tertiary", "residential")


def _hydrants(d: District, r: Regions, edges: pd.DataFrame, rng: np.random.Generator) -> dict:
    e = edges[
        edges["road_class"].isin(HYDRANT_CLASSES)
        & edges["_kind"].isin(("urban", "old_town", "village"))
    ]
    x0, y0, x1, y1 = (e[c].to_numpy() for c in ("_x0", "_y0", "_x1", "_y1"))
    length = np.hypot(x1 - x0, y1 - y0)
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    dist = np.hypot(mx - r.city_centre[0], my - r.city_centre[1])
    village = (e["_kind"] == "village").to_numpy()
    spacing = np.where(dist < 3_200, rng.uniform(100, 130, len(e)), rng.uniform(140, 190, len(e)))
    spacing = np.where(village, rng.uniform(200, 300, len(e)), spacing)
    xs, ys, eid = [], [], []
    half_width = e["width_m"].to_numpy() / 2
    e_ids = e["id"].to_numpy()
    for i in range(len(e)):
        t = np.arange(rng.uniform(0, spacing[i]), length[i], spacing[i])
        if village[i] and rng.random() < 0.5:
            t = t[:0]
        if not len(t):
            continue
        ux, uy = (x1[i] - x0[i]) / length[i], (y1[i] - y0[i]) / length[i]
        side = rng.choice([-1.0, 1.0], len(t))
        off = half_width[i] + 1.5
        xs.append(x0[i] + ux * t - uy * off * side)
        ys.append(y0[i] + uy * t + ux * off * side)
        eid.append(np.full(len(t), e_ids[i]))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    edge_id = np.concatenate(eid)
    n = len(x)
    status = np.array(("in_service", "faulty", "out_of_service", "unknown"), dtype=object)[
        rng.choice(4, n, p=[0.92, 0.04, 0.03, 0.01])
    ]
    age_days = np.where(status == "in_service", rng.uniform(5, 240, n), rng.uniform(60, 600, n))
    owners = person_names(rng, 24)
    under = rng.random(n) < 0.2
    props = [
        {
            "type": "地下式" if u else "地上式",
            "diameter_mm": int(dm),
            "nominal_pressure_mpa": 0.3,
            "road_edge_id": int(ei),
        }
        for u, dm, ei in zip(under, rng.choice([100, 150], n, p=[0.7, 0.3]), edge_id, strict=True)
    ]
    return {
        "code": [f"XHS{d.code}{k:05d}" for k in range(1, n + 1)],
        "kind": "hydrant",
        "status": status,
        "unit_id": None,
        "building_id": None,
        "owner_person": [f"自来水公司-{o}" for o in owners[rng.integers(0, len(owners), n)]],
        "last_inspected_at": clock.REF_S - (age_days * clock.DAY).astype(np.int64),
        "properties": props,
        "_x": x,
        "_y": y,
    }


def _unit_facilities(d: District, units: gpd.GeoDataFrame, rng: np.random.Generator) -> dict:
    cat = units["category"].to_numpy()
    kind = units["_kind"].to_numpy()
    hr = units["_high_rise"].to_numpy()
    n = len(units)
    big = np.isin(kind, ("mall", "hospital", "hotel", "high_rise_office", "school"))
    rules = [  # (facility kind, probability per unit)
        (
            "extinguisher",
            np.select(
                [cat == "key_unit", cat == "small_place", cat == "key_domain"],
                [1.0, 0.85, 0.55],
                0.35,
            ),
        ),
        ("extinguisher", np.where(cat == "key_unit", 0.8, 0.0)),
        (
            "alarm_panel",
            np.where(cat == "key_unit", 0.95, np.where(kind == "small_hotel", 0.3, 0.0)),
        ),
        ("fire_control_room", np.where((cat == "key_unit") & (hr | big), 0.95, 0.0)),
        ("sprinkler", np.where((cat == "key_unit") & (hr | big | (kind == "warehouse")), 0.9, 0.0)),
        ("smoke_exhaust", np.where((cat == "key_unit") & hr, 0.6, 0.0)),
        ("emergency_light", np.select([cat == "key_unit", cat == "small_place"], [0.9, 0.4], 0.05)),
        ("fire_door", np.where(hr & (cat == "key_unit"), 0.8, 0.0)),
    ]
    rows_u, rows_k = [], []
    for fk, p in rules:
        take = np.flatnonzero(rng.random(n) < p)
        rows_u.append(take)
        rows_k.append(np.full(len(take), fk, dtype=object))
    ui = np.concatenate(rows_u)
    fkind = np.concatenate(rows_k)
    order = np.lexsort((fkind, ui))
    ui, fkind = ui[order], fkind[order]
    m = len(ui)
    z = units["_z_mgmt"].to_numpy()[ui]
    p_bad = 1 / (1 + np.exp(-(-3.0 + 0.9 * z)))
    roll = rng.random(m)
    status = np.where(
        roll < p_bad,
        "faulty",
        np.where(
            roll < p_bad * 1.3, "out_of_service", np.where(roll > 0.985, "unknown", "in_service")
        ),
    )
    age = rng.exponential(60, m) * np.exp(0.5 * z)
    a = rng.uniform(-0.4, 0.4, m) * units["_blen"].to_numpy()[ui]
    c = rng.uniform(-0.4, 0.4, m) * units["_bwid"].to_numpy()[ui]
    ang = units["_bang"].to_numpy()[ui]
    x = units["_bcx"].to_numpy()[ui] + np.cos(ang) * a - np.sin(ang) * c
    y = units["_bcy"].to_numpy()[ui] + np.sin(ang) * a + np.cos(ang) * c
    counts = rng.integers(1, 12, m)
    props = []
    for fk, cnt in zip(fkind, counts, strict=True):
        if fk == "extinguisher":
            exp_y = 2026 + int(cnt % 3)
            props.append(
                {
                    "agent": "ABC干粉",
                    "capacity_kg": 4,
                    "count": int(cnt) + 1,
                    "expires_on": f"{exp_y}-{1 + int(cnt) % 12:02d}",
                }
            )
        elif fk == "alarm_panel":
            props.append({"model": "JB-QB-GST200", "loops": int(cnt % 4) + 1})
        elif fk == "fire_control_room":
            props.append({"staffed_24h": bool(cnt > 2), "duty_staff": 2})
        elif fk == "sprinkler":
            props.append({"system": "湿式", "heads": int(cnt) * 40})
        else:
            props.append({"count": int(cnt)})
    return {
        "code": [f"F{d.code}{k:06d}" for k in range(1, m + 1)],
        "kind": fkind,
        "status": status,
        "unit_id": units["id"].to_numpy()[ui],
        "building_id": units["building_id"].to_numpy()[ui],
        "owner_person": units["manager_person"].to_numpy()[ui],
        "last_inspected_at": clock.REF_S - (age * clock.DAY).astype(np.int64) - clock.DAY,
        "properties": props,
        "_x": x,
        "_y": y,
    }


def build_facilities(
    d: District, r: Regions, edges: pd.DataFrame, units: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Hydrants and unit facilities (EPSG:4326)."""
    rng = d.rng("facilities")
    parts = [
        pd.DataFrame(_hydrants(d, r, edges, rng)),
        pd.DataFrame(_unit_facilities(d, units, rng)),
    ]
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "id", d.world.ids.take("facility", len(df)))
    df["unit_id"] = df["unit_id"].astype("Int64")
    df["building_id"] = df["building_id"].astype("Int64")
    x, y = df.pop("_x").to_numpy(), df.pop("_y").to_numpy()
    df["_t_inspected"] = df["last_inspected_at"].to_numpy()
    df["last_inspected_at"] = clock.timestamps(df["last_inspected_at"].to_numpy())
    return point_frame(df, x, y)
