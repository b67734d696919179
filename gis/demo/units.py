"""Units and places (单位/场所): category, type, building, people and latent habits.

5,621 units at scale 1 (seed 001 inspected 5,621). Each unit sits at a point inside a building
chosen to suit its type (hospitals in large public buildings, restaurants on shop fronts,
rental rooms in old walk-ups, village houses in villages...). Hidden traits drive the history:

- ``_z_disorder``: tenants' habits; raises e-bike charging *and* corridor clutter together
  (seed 002 measured r = 0.78 between them);
- ``_z_mgmt``: poor safety management; more hazards, slower rectification, more fires;
- ``_z_elec``: wiring condition (old buildings, kitchens, workshops);
- ``_hot``: hot-spot multiplier of the unit's community and special grid (markets).

The colour code is filled in later from the hazard history (``gis.demo.hazards``).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import vocab
from gis.demo import clock
from gis.demo.context import District
from gis.demo.geo import lonlat, point_frame
from gis.demo.names import person_names, phones
from gis.demo.rand import hex_tokens
from gis.demo.regions import Regions
from gis.demo.unit_names import unit_names

UNITS_PER_DISTRICT = 5_621
CATEGORY_P = {"key_unit": 0.06, "small_place": 0.50, "key_domain": 0.24, "general": 0.20}
SUBTYPE_P = {
    "key_unit": dict(
        zip(
            vocab.KEY_UNIT_TYPES,
            (0.08, 0.15, 0.08, 0.12, 0.12, 0.15, 0.10, 0.07, 0.06, 0.07),
            strict=True,
        )
    ),
    "small_place": dict(
        zip(
            vocab.SMALL_PLACE_TYPES,
            (0.30, 0.25, 0.06, 0.05, 0.03, 0.10, 0.08, 0.06, 0.07),
            strict=True,
        )
    ),
    "key_domain": dict(zip(vocab.KEY_DOMAINS, (0.10, 0.35, 0.12, 0.18, 0.25), strict=True)),
    "general": {"general": 1.0},
}
SHOPFRONT = (
    "small_shop",
    "small_restaurant",
    "small_hotel",
    "small_entertainment",
    "small_internet_cafe",
    "small_beauty_bath",
    "small_clinic",
    "small_school",
    "street_shop",
)
DISORDER = {
    "rental_housing": 1.0,
    "village_house": 0.7,
    "village_property": 0.5,
    "small_hotel": 0.4,
    "small_shop": 0.3,
    "street_shop": 0.3,
    "elderly_home": 0.2,
    "small_restaurant": 0.2,
    "high_rise_office": -0.6,
    "hospital": -0.4,
    "school": -0.5,
    "mall": -0.3,
    "general": -0.3,
    "gas_station": -0.8,
}
MGMT = {"key_unit": -0.5, "small_place": 0.25, "key_domain": 0.35, "general": 0.0}
ELEC = {
    "small_restaurant": 0.4,
    "small_workshop": 0.5,
    "industrial_enterprise": 0.4,
    "factory": 0.3,
    "rental_housing": 0.3,
    "village_house": 0.3,
}


def _building_weights(kind: str, b: pd.DataFrame) -> np.ndarray:
    use = b["use"].to_numpy()
    zone = b["_zone"].to_numpy()
    area = b["footprint_m2"].to_numpy() * b["floors"].to_numpy()
    front = b["_frontage"].to_numpy()
    village = zone == "village"
    old = b["built_year"].to_numpy() < 2000
    m = np.full(len(b), 0.0)
    shop_use = np.isin(use, ("commercial", "mixed"))
    if kind in SHOPFRONT:
        m = np.where(shop_use, 3.0, np.where(use == "residential", 0.6, 0.05))
        m = m * np.where(front, 3.0, 1.0) * np.where(village, 0.3, 1.0)
        if kind == "street_shop":
            m = m * np.where(front, 3.0, 0.2)
    elif kind == "small_workshop":
        m = np.where(np.isin(use, ("industrial", "warehouse", "other")), 3.0, 0.2)
    elif kind in ("hospital", "school", "elderly_home", "public_venue"):
        m = np.where(use == "public", 3.0, 0.02) * area
        if kind == "elderly_home":
            m = m + np.where(use == "residential", 0.3, 0.0) * area
    elif kind in ("mall", "hotel"):
        m = np.where(shop_use, 1.0, 0.01) * area * np.where(b["floors"].to_numpy() >= 3, 3.0, 0.5)
    elif kind == "high_rise_office":
        m = np.where(use == "office", 1.0, np.where(use == "mixed", 0.2, 0.0)) * np.where(
            b["height_m"].to_numpy() > 24, 5.0, 0.3
        )
    elif kind in ("factory", "industrial_enterprise"):
        m = np.where(use == "industrial", 3.0, np.where(use == "warehouse", 0.5, 0.0))
        m = m + np.where(village & (use != "residential"), 0.5, 0.0)
    elif kind == "warehouse":
        m = np.where(use == "warehouse", 3.0, np.where(use == "industrial", 0.5, 0.0))
    elif kind == "gas_station":
        m = np.where(front | village, 1.0, 0.05) * np.where(use == "residential", 0.1, 1.0)
    elif kind in ("village_property", "village_house"):
        m = np.where(village, 1.0, 0.0) * np.where(
            use == "residential", 3.0 if kind == "village_house" else 0.5, 1.0
        )
    elif kind == "rental_housing":
        m = np.where((use == "residential") & ~village, 1.0, 0.0) * np.where(old, 4.0, 1.0)
    else:  # general
        m = np.where(
            np.isin(use, ("office", "commercial", "mixed")),
            2.0,
            np.where(np.isin(use, ("industrial", "other")), 0.6, 0.05),
        )
    return m + 1e-6


def build_units(
    d: District, r: Regions, b: gpd.GeoDataFrame, special: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Units (EPSG:4326) with building, people, codes and hidden traits."""
    rng = d.rng("units")
    n = d.count(UNITS_PER_DISTRICT, minimum=20)
    cats = list(CATEGORY_P)
    cat = np.array(cats, dtype=object)[rng.choice(len(cats), n, p=list(CATEGORY_P.values()))]
    kind = np.empty(n, dtype=object)
    for c in cats:
        m = cat == c
        opts = list(SUBTYPE_P[c])
        p = np.array(list(SUBTYPE_P[c].values()))
        kind[m] = np.array(opts, dtype=object)[rng.choice(len(opts), int(m.sum()), p=p / p.sum())]
    # Choose a building per unit from weights suited to its kind.
    bidx = np.empty(n, dtype=np.int64)
    for k in sorted(set(kind)):
        m = np.flatnonzero(kind == k)
        w = _building_weights(k, b)
        bidx[m] = rng.choice(len(b), size=len(m), p=w / w.sum())
    order = np.lexsort((kind, bidx))  # ids follow buildings (spatially coherent)
    cat, kind, bidx = cat[order], kind[order], bidx[order]
    bb = b.iloc[bidx].reset_index(drop=True)
    # A point inside the building footprint.
    a = rng.uniform(-0.4, 0.4, n) * bb["_len"].to_numpy()
    c = rng.uniform(-0.4, 0.4, n) * bb["_wid"].to_numpy()
    ang = bb["_ang"].to_numpy()
    x = bb["_cx"].to_numpy() + np.cos(ang) * a - np.sin(ang) * c
    y = bb["_cy"].to_numpy() + np.sin(ang) * a + np.cos(ang) * c

    comm = bb["_comm"].to_numpy()
    villages = np.array(r.community_names, dtype=object)[comm]
    names = unit_names(
        d.rng("unit-names"),
        kind,
        district=d.short + "区",
        villages=villages,
        estates=bb["_estate"].to_numpy(),
    )
    resp = person_names(rng, n)
    mgr = np.where(
        rng.random(n) < np.where(cat == "key_unit", 0.9, 0.3), person_names(rng, n), resp
    )
    floor_area = np.select(
        [
            cat == "key_unit",
            kind == "industrial_enterprise",
            kind == "village_house",
            kind == "rental_housing",
        ],
        [
            bb["footprint_m2"].to_numpy() * bb["floors"].to_numpy() * rng.uniform(0.3, 1.0, n),
            rng.lognormal(np.log(1_500), 0.7, n),
            rng.lognormal(np.log(160), 0.4, n),
            rng.lognormal(np.log(110), 0.5, n),
        ],
        rng.lognormal(np.log(90), 0.7, n),
    )
    employees = np.select(
        [cat == "key_unit", cat == "small_place", kind == "industrial_enterprise"],
        [
            np.maximum(10, floor_area / rng.uniform(15, 60, n)),
            rng.integers(1, 12, n),
            rng.integers(5, 120, n),
        ],
        rng.integers(1, 25, n),
    ).astype(int)
    employees = np.where(np.isin(kind, ("village_house", "rental_housing")), 0, employees)
    opened = np.maximum(bb["built_year"].to_numpy(), rng.integers(1995, 2026, n))
    mgmt_level = np.select([cat == "key_unit", cat == "general"], [1, 3], 2)

    hot_comm = rng.lognormal(0, 0.45, len(r.communities)) * np.where(
        rng.random(len(r.communities)) < 0.08, 3.0, 1.0
    )
    in_market = np.zeros(n, dtype=bool)
    if len(special):
        lon, lat = lonlat(x, y)
        tree = shapely.STRtree(special.geometry.values)
        pi, gi = tree.query(shapely.points(lon, lat), predicate="intersects")
        m = np.isin(special["kind"].to_numpy()[gi], ("market", "street_shop"))
        in_market[pi[m]] = True
    hot = hot_comm[comm] * np.where(in_market, 2.2, 1.0)
    z_dis = rng.normal(0, 1, n) + np.array([DISORDER.get(k, 0.0) for k in kind])
    z_mgmt = rng.normal(0, 1, n) + np.array([MGMT[c] for c in cat])
    z_elec = (
        0.7 * rng.normal(0, 1, n)
        + np.array([ELEC.get(k, 0.0) for k in kind])
        + np.where(bb["built_year"].to_numpy() < 1995, 0.4, 0.0)
    )
    use = bb["use"].to_numpy()
    height = bb["height_m"].to_numpy()
    high_rise = np.where(use == "residential", height > 27, height > 24)
    ids = d.world.ids.take("unit", n)
    est = np.where(
        np.isin(use, ("residential",)) & (bb["_zone"].to_numpy() != "village"),
        bb["_estate"].to_numpy(),
        "",
    )
    data = {
        "id": ids,
        "code": [f"U{d.code}{i:06d}" for i in range(1, n + 1)],
        "name": names,
        "category": cat,
        "small_place_type": np.where(cat == "small_place", kind, None),
        "key_domain": np.where(cat == "key_domain", kind, None),
        "key_unit_type": np.where(cat == "key_unit", kind, None),
        "address": [f"{a_}{e_}" for a_, e_ in zip(bb["_address"], est, strict=True)],
        "responsible_person": resp,
        "responsible_phone": phones(rng, n),
        "manager_person": mgr,
        "colour_code": "green",
        "management_level": mgmt_level,
        "floor_area_m2": np.round(floor_area, 1),
        "employees": employees,
        "opened_year": opened,
        "building_id": bb["id"].to_numpy(),
        "qr_token": hex_tokens(rng, n),
        "created_at": clock.timestamps(
            np.minimum(
                np.maximum(
                    clock.START_S - rng.integers(1, 180, n) * clock.DAY,
                    clock.year_start(opened, 3) + rng.integers(0, 200, n) * clock.DAY,
                ),
                clock.REF_S - clock.DAY,
            )
        ),
        "_kind": kind,
        "_grid": bb["_grid"].to_numpy(),
        "_comm": comm,
        "_street": r.community_street[comm],
        "_zone": bb["_zone"].to_numpy(),
        "_high_rise": high_rise,
        "_built_year": bb["built_year"].to_numpy(),
        "_floors": bb["floors"].to_numpy(),
        "_hot": hot,
        "_in_market": in_market,
        "_z_disorder": z_dis,
        "_z_mgmt": z_mgmt,
        "_z_elec": z_elec,
        "_bidx": bidx,
        "_bang": ang,
        "_blen": bb["_len"].to_numpy(),
        "_bwid": bb["_wid"].to_numpy(),
        "_bcx": bb["_cx"].to_numpy(),
        "_bcy": bb["_cy"].to_numpy(),
    }
    return point_frame(data, x, y)
