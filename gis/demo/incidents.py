"""Fires and other incidents, drawn from a known per-unit fire propensity (the ground truth).

Each unit's chance of at least one fire in the five years is a logistic function of what the
platform can see (category, high-rise, building age, floor area, its hazard history: e-bike
and electrical hazards especially, open hazards, rectification delays) plus what it cannot
(the hidden management and wiring traits, and noise), so a model can learn it but not
perfectly. The coefficients are fixed below; each unit's log-odds and the contribution of
every driver go to ``demo_truth.unit_propensity``. Fire causes follow the drivers; there are
also false alarms (more where smoke detectors are), rescues and a few fires outside units
(straw and grass in villages, vehicles on roads).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.demo import clock
from gis.demo.context import District
from gis.demo.geo import point_frame
from gis.demo.rand import categorical

INTERCEPT = -4.7
TYPE_EFFECT = {
    "small_restaurant": 0.9,
    "small_workshop": 1.0,
    "small_entertainment": 0.6,
    "small_hotel": 0.5,
    "industrial_enterprise": 1.0,
    "factory": 0.9,
    "warehouse": 0.8,
    "mall": 0.6,
    "rental_housing": 0.7,
    "village_house": 0.8,
    "street_shop": 0.4,
    "village_property": 0.3,
    "small_internet_cafe": 0.3,
    "general": -0.7,
    "high_rise_office": -0.5,
    "school": -0.8,
    "hospital": -0.3,
    "small_clinic": -0.4,
    "small_school": -0.6,
    "small_beauty_bath": -0.2,
}
COEF = {
    "high_rise": 0.5,
    "building_age": 0.035,
    "floor_area": 0.3,
    "ebike_hazards": 0.30,
    "electrical_hazards": 0.28,
    "gas_hazards": 0.20,
    "open_hazards": 0.30,
    "rectification_delay": 0.03,
    "village": 0.2,
    "management_latent": 0.35,
    "wiring_latent": 0.30,
    "noise_sd": 0.35,
}
CAUSES = (
    "electrical_fault",
    "ebike_battery",
    "gas_leak",
    "careless_use_of_fire",
    "smoking",
    "heating_appliance",
    "hot_work",
    "arson",
    "unknown",
)
CAUSE_TEXT = {
    "electrical_fault": "电气线路故障",
    "ebike_battery": "电动自行车电池故障",
    "gas_leak": "燃气泄漏",
    "careless_use_of_fire": "用火不慎",
    "smoking": "遗留火种（吸烟）",
    "heating_appliance": "取暖设备使用不当",
    "hot_work": "违规动火作业",
    "arson": "人为放火",
    "unknown": "原因待查",
}


def propensity(
    rng: np.random.Generator, units: gpd.GeoDataFrame, summary: pd.DataFrame
) -> pd.DataFrame:
    """Log-odds, probability and per-driver contributions of a fire in five years, per unit."""
    n = len(units)
    kind = units["_kind"].to_numpy()
    age = np.clip(2026 - units["_built_year"].to_numpy() - 15, 0, 30)
    area = np.clip(
        np.log(np.maximum(units["floor_area_m2"].to_numpy(), 1.0)) - np.log(150), -1.5, 2.5
    )
    c = {
        "intercept": np.full(n, INTERCEPT),
        "category": np.array([TYPE_EFFECT.get(k, 0.0) for k in kind]),
        "high_rise": COEF["high_rise"] * units["_high_rise"].to_numpy(),
        "building_age": COEF["building_age"] * age,
        "floor_area": COEF["floor_area"] * area,
        "ebike_hazards": COEF["ebike_hazards"] * np.minimum(summary["n_ebike"].to_numpy(), 6),
        "electrical_hazards": COEF["electrical_hazards"]
        * np.minimum(summary["n_electrical"].to_numpy(), 6),
        "gas_hazards": COEF["gas_hazards"] * np.minimum(summary["n_gas"].to_numpy(), 4),
        "open_hazards": COEF["open_hazards"] * np.minimum(summary["n_open"].to_numpy(), 3),
        "rectification_delay": COEF["rectification_delay"]
        * np.minimum(summary["delay_days"].to_numpy(), 30),
        "village": COEF["village"] * (units["_zone"].to_numpy() == "village"),
        "management_latent": COEF["management_latent"] * units["_z_mgmt"].to_numpy(),
        "wiring_latent": COEF["wiring_latent"] * units["_z_elec"].to_numpy(),
        "noise": rng.normal(0, COEF["noise_sd"], n),
    }
    contrib = pd.DataFrame(c).round(4)
    log_odds = contrib.sum(axis=1).to_numpy()
    return pd.DataFrame(
        {
            "unit_id": units["id"].to_numpy(),
            "p_fire": np.round(1 / (1 + np.exp(-log_odds)), 6),
            "log_odds": np.round(log_odds, 4),
            "drivers": [
                dict(zip(contrib.columns, row, strict=True)) for row in contrib.to_numpy().tolist()
            ],
        }
    )


def build_incidents(
    d: District,
    units: gpd.GeoDataFrame,
    prop: pd.DataFrame,
    sensors: gpd.GeoDataFrame,
    edges: pd.DataFrame,
    village_points: tuple[np.ndarray, np.ndarray],
) -> gpd.GeoDataFrame:
    """Incidents (EPSG:4326): fires drawn from ``prop``, false alarms, rescues, outdoor fires."""
    rng = d.rng("incidents")
    n = len(units)
    p = prop["p_fire"].to_numpy()
    fire = rng.random(n) < p
    reps = np.where(fire, 1 + rng.poisson(0.08, n), 0)
    fu = np.repeat(np.arange(n), reps)
    drv = prop["drivers"].to_numpy()
    w = np.zeros((len(fu), len(CAUSES)))
    for j, i in enumerate(fu):
        dr = drv[i]
        w[j] = (
            1.0 + max(dr["electrical_hazards"], 0) * 3 + max(dr["wiring_latent"], 0) * 2,
            0.2 + max(dr["ebike_hazards"], 0) * 3,
            0.1 + max(dr["gas_hazards"], 0) * 3,
            1.0,
            0.4,
            0.5,
            0.1
            + 2.0
            * (units["_kind"].iat[i] in ("small_workshop", "factory", "industrial_enterprise")),
            0.05,
            0.2,
        )
    cause = np.array(CAUSES, dtype=object)[categorical(rng, w)] if len(fu) else np.empty(0, object)
    has_smoke = np.isin(
        units["id"].to_numpy(),
        sensors.loc[sensors["kind"] == "smoke", "unit_id"].dropna().astype(np.int64).to_numpy(),
    )
    p_fa = 1 / (1 + np.exp(-(-4.3 + 1.3 * has_smoke + 0.3 * (units["category"] == "key_unit"))))
    fa = np.flatnonzero(rng.random(n) < p_fa)
    n_rescue = d.count(15, minimum=1)
    rs = rng.choice(n, n_rescue)
    n_out = d.count(25, minimum=1)
    vx, vy = village_points
    out_village = (rng.random(n_out) < 0.7) & (len(vx) > 0)
    vi = rng.integers(0, max(len(vx), 1), n_out)
    e = edges[edges["_kind"] != "isolated"]
    pick_e = rng.choice(len(e), n_out)
    ex = (e["_x0"].to_numpy()[pick_e] + e["_x1"].to_numpy()[pick_e]) / 2
    ey = (e["_y0"].to_numpy()[pick_e] + e["_y1"].to_numpy()[pick_e]) / 2
    ox = np.where(out_village, vx[vi] if len(vx) else ex, ex)
    oy = np.where(out_village, vy[vi] if len(vy) else ey, ey)
    parts = {
        "fire": (fu, cause),
        "false_alarm": (fa, choice_arr(rng, ("sensor_false_alarm", "cooking_smoke"), len(fa))),
        "rescue": (rs, np.full(len(rs), "trapped_person", dtype=object)),
    }
    rows = []
    for kind, (ui, cs) in parts.items():
        profile_heat = rng.random(len(ui)) < (0.45 if kind == "fire" else 0.2)
        day = np.where(
            profile_heat,
            clock.sample_days(rng, "heating", len(ui)),
            clock.sample_days(rng, "festival" if kind == "fire" else "flat", len(ui)),
        )
        day = np.where(rng.random(len(ui)) < 0.6, clock.sample_days(rng, "flat", len(ui)), day)
        t = clock.day_start(day) + clock.any_hour(rng, len(ui))
        rows.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "_t": t,
                    "_u": ui,
                    "cause": cs,
                    "_x": units["_x"].to_numpy()[ui],
                    "_y": units["_y"].to_numpy()[ui],
                }
            )
        )
    day = clock.sample_days(rng, "straw", n_out)
    rows.append(
        pd.DataFrame(
            {
                "kind": "fire",
                "_t": clock.day_start(day) + clock.working_hours(rng, n_out),
                "_u": -1,
                "cause": np.where(out_village, "straw_burning", "vehicle_fire"),
                "_x": ox,
                "_y": oy,
            }
        )
    )
    inc = pd.concat(rows, ignore_index=True)
    inc["_t"] = np.minimum(inc["_t"].to_numpy(), clock.REF_S - 3_600)
    inc = inc.sort_values(["_t", "_u"], kind="stable").reset_index(drop=True)
    m = len(inc)
    ui = inc["_u"].to_numpy()
    has_u = ui >= 0
    fires = inc["kind"].to_numpy() == "fire"
    severity = np.where(fires, rng.choice([1, 2, 3, 4], m, p=[0.55, 0.3, 0.12, 0.03]), 0)
    casualties = np.where(fires & (rng.random(m) < 0.03), rng.integers(1, 3, m), 0)
    loss = np.where(fires, np.round(rng.lognormal(np.log(8_000), 1.2, m), -1), 0.0)
    names = units["name"].to_numpy()
    desc = [
        (
            f"{names[u]}发生火灾，起火原因初步认定为{CAUSE_TEXT.get(c, c)}"
            if u >= 0
            else ("田间秸秆起火" if c == "straw_burning" else "道路车辆起火")
        )
        if k == "fire"
        else (
            f"{names[u]}火灾报警，经核实为误报" if k == "false_alarm" else f"{names[u]}人员被困救援"
        )
        for k, u, c in zip(inc["kind"], ui, inc["cause"], strict=True)
    ]
    frame = pd.DataFrame(
        {
            "id": d.world.ids.take("incident", m),
            "kind": inc["kind"].to_numpy(),
            "occurred_at": clock.timestamps(inc["_t"].to_numpy()),
            "unit_id": pd.array(
                np.where(has_u, units["id"].to_numpy()[np.where(has_u, ui, 0)], None), dtype="Int64"
            ),
            "building_id": pd.array(
                np.where(has_u, units["building_id"].to_numpy()[np.where(has_u, ui, 0)], None),
                dtype="Int64",
            ),
            "cause": inc["cause"].to_numpy(),
            "severity": pd.array(np.where(severity > 0, severity, None), dtype="Int64"),
            "casualties": casualties.astype(int),
            "loss_cny": np.where(fires, loss, np.nan),
            "description": desc,
        }
    )
    return point_frame(frame, inc["_x"].to_numpy(), inc["_y"].to_numpy())


def choice_arr(rng: np.random.Generator, opts: tuple[str, ...], n: int) -> np.ndarray:
    """``n`` uniform draws from ``opts``."""
    return np.array(opts, dtype=object)[rng.integers(0, len(opts), n)]
