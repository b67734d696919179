"""IoT sensors on units and hydrants, with a short recent history of readings.

Kinds and units follow ``gis.vocab.SENSOR_KINDS``/``SENSOR_UNITS``: smoke (obscuration %/m),
gas (% LEL; alarm 1 at 25 %, GB/T 50493-2019), residual current (mA; alarm 300–500 mA,
GB 50116-2013), cable temperature and e-bike charging (°C), hydrant pressure (MPa). Mostly
online; some offline, faulty or in alarm. Device keys are hashes of a deterministic secret.
"""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.demo import clock
from gis.demo.context import District
from gis.demo.geo import point_frame

ABBR = {
    "smoke": "SMK",
    "gas": "GAS",
    "residual_current": "RCD",
    "cable_temperature": "CBT",
    "hydrant_pressure": "HYP",
    "ebike_charging": "EBK",
}
# kind -> (normal mean, normal sd, alarm low, alarm high, low is bad)
VALUES = {
    "smoke": (0.05, 0.03, 3.0, 8.0, False),
    "gas": (1.0, 0.8, 26.0, 60.0, False),
    "residual_current": (60.0, 30.0, 320.0, 520.0, False),
    "cable_temperature": (34.0, 5.0, 72.0, 95.0, False),
    "hydrant_pressure": (0.32, 0.04, 0.02, 0.08, True),
    "ebike_charging": (31.0, 4.0, 62.0, 85.0, False),
}
NOTES = {
    "smoke": ("一层大厅", "客房走廊", "库房", "楼梯间", "后厨"),
    "gas": ("厨房", "燃气表间", "锅炉房"),
    "residual_current": ("配电箱", "总配电柜", "二层配电箱"),
    "cable_temperature": ("配电室", "电缆井", "总配电柜"),
    "ebike_charging": ("电动车充电棚", "地下车库充电区", "楼道口充电点"),
    "hydrant_pressure": ("消火栓出水口",),
}
READINGS_PER_SENSOR = 8
READING_STEP_S = 6 * clock.HOUR


def _plan(units: gpd.GeoDataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    cat = units["category"].to_numpy()
    kind = units["_kind"].to_numpy()
    n = len(units)
    p = {
        "smoke": np.select(
            [
                cat == "key_unit",
                np.isin(
                    kind,
                    ("small_hotel", "small_internet_cafe", "small_entertainment", "elderly_home"),
                ),
                kind == "rental_housing",
                cat == "small_place",
            ],
            [0.9, 0.7, 0.2, 0.1],
            0.03,
        ),
        "gas": np.select(
            [
                kind == "small_restaurant",
                kind == "gas_station",
                np.isin(kind, ("hotel", "mall", "hospital", "school")),
            ],
            [0.6, 1.0, 0.7],
            0.01,
        ),
        "residual_current": np.select(
            [cat == "key_unit", np.isin(kind, ("small_workshop", "industrial_enterprise"))],
            [0.6, 0.4],
            0.06,
        ),
        "cable_temperature": np.select(
            [cat == "key_unit", kind == "industrial_enterprise"], [0.4, 0.3], 0.0
        ),
        "ebike_charging": np.select(
            [kind == "rental_housing", kind == "village_property"], [0.4, 0.3], 0.02
        )
        + 0.08 * (units["_z_disorder"].to_numpy() > 1.2),
    }
    ui, kk = [], []
    for k, pk in p.items():
        take = np.flatnonzero(rng.random(n) < pk)
        ui.append(take)
        kk.append(np.full(len(take), k, dtype=object))
    ui = np.concatenate(ui)
    kk = np.concatenate(kk)
    order = np.lexsort((kk, ui))
    return ui[order], kk[order]


def build_sensors(
    d: District,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Sensors (EPSG:4326) and their recent readings."""
    rng = d.rng("sensors")
    ui, kinds = _plan(units, rng)
    hyd = facilities[facilities["kind"] == "hydrant"]
    take = np.flatnonzero(rng.random(len(hyd)) < 0.15)
    n_u, n_h = len(ui), len(take)
    n = n_u + n_h
    kinds = np.concatenate([kinds, np.full(n_h, "hydrant_pressure", dtype=object)])
    a = rng.uniform(-0.35, 0.35, n_u) * units["_blen"].to_numpy()[ui]
    c = rng.uniform(-0.35, 0.35, n_u) * units["_bwid"].to_numpy()[ui]
    ang = units["_bang"].to_numpy()[ui]
    x = np.concatenate(
        [
            units["_bcx"].to_numpy()[ui] + np.cos(ang) * a - np.sin(ang) * c,
            hyd["_x"].to_numpy()[take],
        ]
    )
    y = np.concatenate(
        [
            units["_bcy"].to_numpy()[ui] + np.sin(ang) * a + np.cos(ang) * c,
            hyd["_y"].to_numpy()[take],
        ]
    )
    unit_id = np.concatenate([units["id"].to_numpy()[ui], np.full(n_h, -1)])
    bld = np.concatenate([units["building_id"].to_numpy()[ui], np.full(n_h, -1)])
    fac = np.concatenate([np.full(n_u, -1), hyd["id"].to_numpy()[take]])
    z = np.concatenate([units["_z_mgmt"].to_numpy()[ui], np.zeros(n_h)])
    roll = rng.random(n)
    p_off = 0.05 * np.exp(0.4 * z)
    status = np.where(
        roll < p_off,
        "offline",
        np.where(roll < p_off + 0.025, "fault", np.where(roll > 0.985, "alarm", "online")),
    )
    counters: dict[str, int] = {}
    codes = []
    for k in kinds:
        counters[k] = counters.get(k, 0) + 1
        codes.append(f"SN{d.code}{ABBR[k]}{counters[k]:05d}")
    seed = d.world.seed
    key_hash = [hashlib.sha256(f"firetwin-demo:{seed}:{c}".encode()).hexdigest() for c in codes]
    installed = (
        clock.START_S - 180 * clock.DAY + (rng.random(n) * 1_950 * clock.DAY).astype(np.int64)
    )
    installed = np.minimum(installed, clock.REF_S - 20 * clock.DAY)
    last_seen = np.select(
        [status == "offline", status == "fault"],
        [
            clock.REF_S - (rng.uniform(2, 60, n) * clock.DAY).astype(np.int64),
            clock.REF_S - (rng.uniform(1, 20, n) * clock.DAY).astype(np.int64),
        ],
        clock.REF_S - rng.integers(30, 900, n),
    )
    readings, last_value = _readings(rng, codes, kinds, status, last_seen)
    notes = [
        NOTES[k][int(i) % len(NOTES[k])] for k, i in zip(kinds, rng.integers(0, 10, n), strict=True)
    ]
    ids = d.world.ids.take("sensor", n)
    sensors = point_frame(
        {
            "id": ids,
            "code": codes,
            "kind": kinds,
            "status": status,
            "unit_id": pd.array(np.where(unit_id < 0, None, unit_id), dtype="Int64"),
            "building_id": pd.array(np.where(bld < 0, None, bld), dtype="Int64"),
            "facility_id": pd.array(np.where(fac < 0, None, fac), dtype="Int64"),
            "location_note": notes,
            "device_key_hash": key_hash,
            "installed_at": clock.timestamps(installed),
            "last_seen_at": clock.timestamps(last_seen),
            "last_value": last_value,
        },
        x,
        y,
    )
    readings["sensor_id"] = ids[readings.pop("_i").to_numpy()]
    readings.insert(0, "id", d.world.ids.take("sensor_reading", len(readings)))
    return sensors, readings


def _readings(
    rng: np.random.Generator,
    codes: list[str],
    kinds: np.ndarray,
    status: np.ndarray,
    last_seen: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray]:
    n = len(codes)
    k = READINGS_PER_SENSOR
    t = last_seen[:, None] - np.arange(k)[None, ::-1] * READING_STEP_S
    mean = np.array([VALUES[s][0] for s in kinds])
    sd = np.array([VALUES[s][1] for s in kinds])
    v = np.abs(rng.normal(mean[:, None], sd[:, None], (n, k)))
    state = np.full((n, k), "normal", dtype=object)
    alarm = status == "alarm"
    lo = np.array([VALUES[s][2] for s in kinds])
    hi = np.array([VALUES[s][3] for s in kinds])
    v[alarm, -1] = rng.uniform(lo[alarm], hi[alarm])
    state[alarm, -1] = "alarm"
    fault = status == "fault"
    v[fault, -1] = 0.0
    state[fault, -1] = "fault"
    v = np.round(v, 3)
    obs = t.ravel()
    idx = np.repeat(np.arange(n), k)
    df = pd.DataFrame(
        {
            "_i": idx,
            "observed_at": clock.timestamps(obs),
            "received_at": clock.timestamps(obs + rng.integers(1, 6, n * k)),
            "value": v.ravel(),
            "message_id": [f"{codes[i]}-{o}" for i, o in zip(idx, obs, strict=True)],
            "state": state.ravel(),
        }
    )
    return df, v[:, -1]
