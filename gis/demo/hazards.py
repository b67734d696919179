"""Hazards (隐患) over five years: where, what, when, how serious, who reported them.

Most hazards belong to units. Each unit has an intensity per class from its type and hidden
traits (``gis.demo.units``), scaled so a district at density 1 gets about 25,000 hazards in
five years; counts are Poisson. E-bike hazards and corridor clutter share the unit's
``_z_disorder`` (strongly, so their unit counts correlate as in seed 002, r ≈ 0.78); hot-spot
communities and markets multiply everything; poor management adds more. The rest lie in
public space: broken street furniture and blocked fire lanes on roads, vulnerable residents
at residential buildings, straw burning in village fields. Dates follow seasonal profiles
(``gis.demo.clock``): heating in winter, overload in summer, fireworks at Spring Festival.
Timestamps and history come from ``gis.demo.lifecycle``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import vocab
from gis.demo import clock
from gis.demo.context import District
from gis.demo.geo import inside
from gis.demo.names import person_names, phones, short_name
from gis.demo.rand import categorical, choice
from gis.demo.regions import Regions, locate
from gis.demo.users import Staff

HAZARDS_PER_DISTRICT = 25_000
UNIT_SHARE = 0.85
STREAMS = (
    "fire_passage",
    "corridor_clutter",
    "ebike",
    "electrical",
    "gas",
    "fire_facility",
    "building_structure",
    "hot_work",
    "hazardous_materials",
    "management",
    "public_facility",
    "vulnerable_groups",
    "seasonal",
)
BASE = np.array([0.14, 0.08, 0.12, 0.16, 0.07, 0.13, 0.05, 0.03, 0.03, 0.10, 0.01, 0.01, 0.07])
SUB_P = {
    "fire_passage": (0.35, 0.35, 0.30, 0.0),
    "ebike": (0.35, 0.30, 0.25, 0.10),
    "electrical": (0.35, 0.25, 0.25, 0.15),
    "gas": (0.10, 0.40, 0.30, 0.20),
    "fire_facility": (0.15, 0.50, 0.15, 0.20),
    "building_structure": (0.35, 0.25, 0.20, 0.20),
    "hot_work": (0.45, 0.25, 0.20, 0.10),
    "hazardous_materials": (0.45, 0.25, 0.10, 0.20),
    "management": (0.20, 0.35, 0.25, 0.20),
    "public_facility": (0.35, 0.20, 0.20, 0.25),
    "vulnerable_groups": (0.50, 0.20, 0.15, 0.15),
    "seasonal": (0.0, 0.50, 0.25, 0.25),
}
TIER_P = {
    "default": (0.55, 0.30, 0.11, 0.04),
    "gas": (0.30, 0.35, 0.22, 0.13),
    "hazardous_materials": (0.30, 0.35, 0.22, 0.13),
    "hot_work": (0.35, 0.35, 0.20, 0.10),
    "fire_passage": (0.45, 0.35, 0.15, 0.05),
    "ebike": (0.45, 0.35, 0.15, 0.05),
    "public_facility": (0.70, 0.25, 0.05, 0.0),
    "vulnerable_groups": (0.60, 0.30, 0.10, 0.0),
}
PROFILE = {
    "heating_appliance": "heating",
    "summer_overload": "summer",
    "festival_fireworks": "festival",
    "fireworks_storage": "festival",
    "straw_burning": "straw",
}
SENSOR_FOR = {
    "ebike": ("ebike_charging", "smoke"),
    "electrical": ("residual_current", "cable_temperature", "smoke"),
    "gas": ("gas",),
    "fire_facility": ("smoke",),
    "seasonal": ("residual_current",),
}


def _unit_intensity(units: gpd.GeoDataFrame) -> np.ndarray:
    kind = units["_kind"].to_numpy()
    cat = units["category"].to_numpy()
    zone = units["_zone"].to_numpy()
    n = len(units)
    lam = np.tile(BASE, (n, 1))
    col = {s: i for i, s in enumerate(STREAMS)}
    dis = np.exp(1.25 * units["_z_disorder"].to_numpy())
    lam[:, col["ebike"]] *= dis
    lam[:, col["corridor_clutter"]] *= dis
    lam[:, col["fire_passage"]] *= np.exp(0.3 * units["_z_disorder"].to_numpy())
    lam[:, col["electrical"]] *= np.exp(0.6 * units["_z_elec"].to_numpy())

    def mult(stream: str, kinds: tuple[str, ...], f: float) -> None:
        lam[np.isin(kind, kinds), col[stream]] *= f

    mult("gas", ("small_restaurant",), 4.0)
    mult("gas", ("gas_station", "hotel", "small_hotel"), 2.5)
    mult("gas", ("village_house",), 1.5)
    mult("gas", ("high_rise_office", "general", "small_school"), 0.3)
    mult("hot_work", ("small_workshop", "industrial_enterprise", "factory"), 5.0)
    mult("hazardous_materials", ("gas_station",), 6.0)
    mult("hazardous_materials", ("warehouse", "industrial_enterprise", "factory"), 3.0)
    mult("hazardous_materials", ("street_shop", "small_shop"), 1.4)
    mult("building_structure", ("rental_housing",), 3.0)
    mult("building_structure", ("village_house", "small_workshop"), 2.0)
    mult("vulnerable_groups", ("rental_housing", "village_house"), 3.0)
    lam[cat == "key_unit", col["fire_facility"]] *= 2.0
    lam[zone == "village", col["seasonal"]] *= 2.0
    lam[:, col["management"]] *= np.exp(0.5 * units["_z_mgmt"].to_numpy())
    size = np.select([cat == "key_unit", cat == "general"], [1.8, 0.6], 1.0)
    lam *= (size * units["_hot"].to_numpy() * np.exp(0.45 * units["_z_mgmt"].to_numpy()))[:, None]
    return lam


def _subcategories(rng: np.random.Generator, cats: np.ndarray, village: np.ndarray) -> np.ndarray:
    subs = np.empty(len(cats), dtype=object)
    for c, p in SUB_P.items():
        m = np.flatnonzero(cats == c)
        if not len(m):
            continue
        w = np.tile(np.array(p, dtype=float), (len(m), 1))
        if c == "seasonal":
            w[:, 0] = np.where(village[m], 0.35, 0.0)
        subs[m] = np.array(vocab.HAZARD_TAXONOMY[c], dtype=object)[categorical(rng, w)]
    return subs


def _public_hazards(
    d: District,
    r: Regions,
    edges: pd.DataFrame,
    buildings: gpd.GeoDataFrame,
    n: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    kinds = choice(
        rng, ("road", "lane", "building", "field", "festival"), (0.40, 0.25, 0.20, 0.10, 0.05), n
    )
    x = np.zeros(n)
    y = np.zeros(n)
    cat = np.empty(n, dtype=object)
    sub = np.empty(n, dtype=object)
    edge_id = np.full(n, -1, dtype=np.int64)
    bld = np.full(n, -1, dtype=np.int64)
    e = edges[edges["_kind"] != "isolated"]
    ex0, ey0, ex1, ey1 = (e[c].to_numpy() for c in ("_x0", "_y0", "_x1", "_y1"))
    emx, emy = (ex0 + ex1) / 2, (ey0 + ey1) / 2
    ew = e["length_m"].to_numpy() * (r.density(emx, emy) + 0.01)
    for k, mult in (("road", None), ("lane", "fire"), ("festival", None)):
        m = np.flatnonzero(kinds == k)
        if not len(m):
            continue
        w = ew * (
            np.where(
                e["is_fire_lane"].to_numpy() | (e["road_class"] == "service").to_numpy(), 20.0, 1.0
            )
            if mult
            else 1.0
        )
        pick = rng.choice(len(e), len(m), p=w / w.sum())
        t = rng.uniform(0.1, 0.9, len(m))
        x[m] = ex0[pick] + t * (ex1[pick] - ex0[pick])
        y[m] = ey0[pick] + t * (ey1[pick] - ey0[pick])
        edge_id[m] = e["id"].to_numpy()[pick]
        if k == "road":
            cat[m] = "public_facility"
        elif k == "lane":
            cat[m], sub[m] = "fire_passage", "fire_lane_blocked"
        else:
            cat[m], sub[m] = "seasonal", "festival_fireworks"
    m = np.flatnonzero(kinds == "building")
    res = buildings[buildings["use"] == "residential"]
    if len(m) and len(res):
        w = r.density(res["_cx"].to_numpy(), res["_cy"].to_numpy()) + 0.01
        pick = rng.choice(len(res), len(m), p=w / w.sum())
        x[m] = res["_cx"].to_numpy()[pick] + rng.normal(0, 4, len(m))
        y[m] = res["_cy"].to_numpy()[pick] + rng.normal(0, 4, len(m))
        bld[m] = res["id"].to_numpy()[pick]
        vul = rng.random(len(m)) < 0.7
        cat[m] = np.where(vul, "vulnerable_groups", "ebike")
        sub[m[~vul]] = "flying_wire_charging"
    m = np.flatnonzero(kinds == "field")
    villages = np.flatnonzero(r.community_is_village)
    if len(m) and len(villages):
        from gis.demo.geo import random_points

        per = rng.choice(villages, len(m))
        for ci in np.unique(per):
            mm = m[per == ci]
            fx, fy = random_points(rng, r.communities[ci].buffer(-20), len(mm))
            x[mm], y[mm] = fx, fy
        cat[m], sub[m] = "seasonal", "straw_burning"
    elif len(m):  # no villages: treat as road hazards
        cat[m] = "public_facility"
        x[m], y[m] = emx[0], emy[0]
    return pd.DataFrame(
        {"category": cat, "subcategory": sub, "_x": x, "_y": y, "_edge": edge_id, "_building": bld}
    )


def build_hazards(
    d: District,
    r: Regions,
    units: gpd.GeoDataFrame,
    edges: pd.DataFrame,
    buildings: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    staff: Staff,
) -> pd.DataFrame:
    """Hazard records without lifecycle timestamps (metric ``_x``/``_y``; no ids yet)."""
    rng = d.rng("hazards")
    total = d.count(HAZARDS_PER_DISTRICT, minimum=40)
    lam = _unit_intensity(units)
    lam *= total * UNIT_SHARE / lam.sum()
    counts = rng.poisson(lam)
    ui, si = np.nonzero(counts)
    reps = counts[ui, si]
    ui = np.repeat(ui, reps)
    si = np.repeat(si, reps)
    streams = np.array(STREAMS, dtype=object)[si]
    cat = np.where(streams == "corridor_clutter", "fire_passage", streams)
    village = units["_zone"].to_numpy()[ui] == "village"
    sub = _subcategories(rng, cat, village)
    sub = np.where(streams == "corridor_clutter", "corridor_clutter", sub)
    hx = units["_x"].to_numpy()[ui] + rng.normal(0, 2.0, len(ui))
    hy = units["_y"].to_numpy()[ui] + rng.normal(0, 2.0, len(ui))
    ok = inside(r.district, hx, hy)
    hx = np.where(ok, hx, units["_x"].to_numpy()[ui])
    hy = np.where(ok, hy, units["_y"].to_numpy()[ui])
    unit_part = pd.DataFrame(
        {
            "category": cat,
            "subcategory": sub,
            "_x": hx,
            "_y": hy,
            "_edge": -1,
            "_building": units["building_id"].to_numpy()[ui],
            "_unit": ui,
        }
    )
    pub = _public_hazards(d, r, edges, buildings, round(total * (1 - UNIT_SHARE)), rng)
    pub["_unit"] = -1
    miss = pub["subcategory"].isna().to_numpy()
    if miss.any():
        pub.loc[miss, "subcategory"] = _subcategories(
            rng, pub["category"].to_numpy()[miss], np.zeros(int(miss.sum()), dtype=bool)
        )
    h = pd.concat([unit_part, pub], ignore_index=True)
    n = len(h)
    cat = h["category"].to_numpy()
    sub = h["subcategory"].to_numpy()
    uidx = h["_unit"].to_numpy()
    has_unit = uidx >= 0

    # When: seasonal profile by subcategory or class, inside the unit's opening window.
    profile = np.array(
        [
            PROFILE.get(s, "electrical" if c == "electrical" else "flat")
            for c, s in zip(cat, sub, strict=True)
        ],
        dtype=object,
    )
    day = np.zeros(n, dtype=np.int64)
    for p in clock.PROFILES:
        m = np.flatnonzero(profile == p)
        if len(m):
            day[m] = clock.sample_days(rng, p, len(m))
    t = clock.day_start(day)
    opened = units["opened_year"].to_numpy()[np.where(has_unit, uidx, 0)]
    open_s = clock.year_start(np.maximum(opened, 2021))
    late_open = has_unit & (open_s > clock.START_S)
    span = clock.REF_S - clock.START_S
    t = np.where(late_open, open_s + (t - clock.START_S) * (clock.REF_S - open_s) // span, t)
    t = clock.day_start((t - clock.START_S) // clock.DAY)

    # Source and reporter.
    src = np.where(
        has_unit,
        choice(
            rng,
            ("grid_worker", "inspection", "public", "sensor", "camera"),
            (0.55, 0.15, 0.12, 0.12, 0.06),
            n,
        ),
        choice(rng, ("grid_worker", "inspection", "public", "camera"), (0.45, 0.05, 0.35, 0.15), n),
    )
    sensor_id = np.full(n, -1, dtype=np.int64)
    if len(sensors):
        s_unit = sensors["unit_id"].fillna(-1).to_numpy().astype(np.int64)
        s_kind = sensors["kind"].to_numpy()
        key = {(int(u), k): int(i) for u, k, i in zip(s_unit, s_kind, sensors["id"], strict=True)}
        uid_all = units["id"].to_numpy()
        for i in np.flatnonzero(src == "sensor"):
            u_id = int(uid_all[uidx[i]])
            sid = next(
                (key[(u_id, k)] for k in SENSOR_FOR.get(cat[i], ()) if (u_id, k) in key), None
            )
            if sid is None:
                src[i] = "grid_worker"
            else:
                sensor_id[i] = sid
    else:
        src = np.where(src == "sensor", "grid_worker", src)
    camera_ok = np.isin(cat, ("fire_passage", "ebike", "public_facility", "seasonal"))
    src = np.where((src == "camera") & ~camera_ok, "grid_worker", src)
    tod = np.where(
        np.isin(src, ("public", "sensor", "camera")),
        clock.any_hour(rng, n),
        clock.working_hours(rng, n),
    )
    t = np.minimum(t + tod, clock.REF_S - rng.integers(60, 3_600, n))

    tier_idx = np.zeros(n, dtype=int)
    for c in np.unique(cat):
        m = np.flatnonzero(cat == c)
        p = np.array(TIER_P.get(c, TIER_P["default"]))
        tier_idx[m] = rng.choice(4, len(m), p=p / p.sum())
    key_unit = has_unit & (units["category"].to_numpy()[np.where(has_unit, uidx, 0)] == "key_unit")
    tier_idx = np.minimum(3, tier_idx + ((rng.random(n) < 0.15) & key_unit))
    tier = np.array(vocab.HAZARD_TIERS, dtype=object)[tier_idx]

    gidx = locate(r.grids, h["_x"].to_numpy(), h["_y"].to_numpy())
    gidx = np.where(
        gidx < 0,
        np.where(has_unit, units["_grid"].to_numpy()[np.where(has_unit, uidx, 0)], 0),
        gidx,
    )
    street = r.community_street[r.grid_community[gidx]]
    worker = staff.grid_worker[gidx]
    inspector = staff.inspectors[street, rng.integers(0, 2, n)]
    officer = staff.officers[street, rng.integers(0, 2, n)]
    reporter = np.select([src == "grid_worker", src == "inspection"], [worker, inspector], -1)
    public_names = person_names(rng, n)
    names_by_id = dict(zip(staff.users["id"], staff.users["display_name"], strict=True))
    s_codes = dict(zip(sensors["id"], sensors["code"], strict=True)) if len(sensors) else {}
    reporter_name = [
        names_by_id[int(rp)]
        if rp >= 0
        else (
            public_names[i]
            if src[i] == "public"
            else (
                f"物联网监测平台({s_codes.get(int(sensor_id[i]), '')})"
                if src[i] == "sensor"
                else "视频AI识别"
            )
        )
        for i, rp in enumerate(reporter)
    ]
    assignee = np.where(np.isin(tier, ("orange", "red")), inspector, worker)
    resp = np.where(
        has_unit,
        units["responsible_person"].to_numpy()[np.where(has_unit, uidx, 0)],
        person_names(rng, n),
    )
    return h.assign(
        tier=tier,
        source=src,
        _t_report=t,
        _grid=gidx,
        _street=street,
        _worker=worker,
        _inspector=inspector,
        _officer=officer,
        reporter_user_id=reporter,
        reporter_name=reporter_name,
        reporter_phone=np.where(src == "public", phones(rng, n), None),
        assignee_user_id=assignee,
        responsible_person=resp,
        sensor_id=sensor_id,
        _street_short=np.array([short_name(s) for s in r.street_names], dtype=object)[street],
    )
