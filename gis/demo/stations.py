"""Fire stations and their vehicles.

Urban stations are spread over the city by weighted k-means on the road nodes (about one
level-1/level-2 station per 7 km² of the dense core, 建标152-2017), each at an arterial node;
the towns get a small station at each town seat and an emergency station (综合应急救援站,
seed 003); ten micro stations (驿站, converted kiosks, seed 001) stand on busy core streets, and
two patrol posts at street offices. Vehicles by station kind, with call signs like 红山1-水罐.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.demo.context import District
from gis.demo.geo import point_frame
from gis.demo.names import phones
from gis.demo.rand import kmeans_seeds
from gis.demo.regions import Regions

N_MICRO = 10
N_POSTS = 2
# kind -> (staff, vehicles as (kind, label, width_m, height_m, water_l))
FLEET = {
    "level1": (
        45,
        [
            ("pumper", "水罐", 2.5, 3.4, 6000),
            ("pumper", "泡沫", 2.5, 3.4, 5000),
            ("tanker", "供水", 2.5, 3.6, 15000),
            ("ladder", "云梯", 2.55, 3.95, None),
            ("rescue", "抢险", 2.5, 3.3, None),
            ("command", "指挥", 2.0, 2.2, None),
        ],
    ),
    "level2": (
        30,
        [
            ("pumper", "水罐", 2.5, 3.4, 6000),
            ("tanker", "供水", 2.5, 3.6, 12000),
            ("rescue", "抢险", 2.5, 3.3, None),
        ],
    ),
    "small": (15, [("pumper", "水罐", 2.5, 3.3, 5000), ("tanker", "供水", 2.5, 3.5, 10000)]),
    "emergency": (20, [("pumper", "水罐", 2.5, 3.4, 6000), ("rescue", "抢险", 2.5, 3.3, None)]),
    "micro": (6, [("motorcycle", "摩托", 0.9, 1.4, 30), ("motorcycle", "摩托", 0.9, 1.4, 30)]),
    "post": (4, [("motorcycle", "摩托", 0.9, 1.4, 30)]),
}
KIND_LABEL = {
    "level1": "消防救援站",
    "level2": "消防救援站",
    "small": "小型消防救援站",
    "emergency": "综合应急救援站",
    "micro": "消防驿站",
    "post": "消防工作站",
}


def build_stations(
    d: District, r: Regions, nodes: gpd.GeoDataFrame, edges: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Stations (EPSG:4326) and their vehicles."""
    rng = d.rng("stations")
    cx, cy = r.city_centre
    nid = nodes["id"].to_numpy()
    nxs, nys = nodes["_x"].to_numpy(), nodes["_y"].to_numpy()
    art = edges[
        edges["road_class"].isin(("trunk", "primary", "secondary"))
        & edges["_kind"].isin(("urban", "old_town"))
    ]
    art_nodes = np.unique(np.concatenate([art["source"], art["target"]]))
    is_art = np.isin(nid, art_nodes)
    urban_w = r.urban_density(nxs, nys)
    core_km2 = float(np.sum(r.urban.area) / 1e6) * 0.4
    n_urban = max(3, round(core_km2 / 7.0) + 1)
    sel = np.flatnonzero(is_art & (urban_w > 0))
    seeds = kmeans_seeds(rng, nxs[sel], nys[sel], n_urban, weights=urban_w[sel] ** 0.7)
    picks: list[tuple[str, int]] = []
    used: set[int] = set()

    def nearest(x: float, y: float, pool: np.ndarray) -> int:
        cand = [i for i in pool if i not in used]
        j = cand[int(np.argmin((nxs[cand] - x) ** 2 + (nys[cand] - y) ** 2))]
        used.add(int(j))
        return int(j)

    by_dist = np.argsort(np.hypot(seeds[:, 0] - cx, seeds[:, 1] - cy))
    for rank, s in enumerate(by_dist):
        kind = "level1" if rank < max(2, n_urban // 2) else "level2"
        picks.append((kind, nearest(seeds[s, 0], seeds[s, 1], sel)))
    for ci in np.flatnonzero(r.village_is_seat):
        vx, vy = r.village_centre[ci]
        picks.append(("small", nearest(vx, vy, np.arange(len(nid)))))
    villages = list(np.flatnonzero(r.community_is_village & ~r.village_is_seat))
    for si in sorted(set(r.community_street[villages])):
        members = [ci for ci in villages if r.community_street[ci] == si]
        ci = max(members, key=lambda c: r.community_population[c])
        vx, vy = r.village_centre[ci]
        picks.append(("emergency", nearest(vx, vy, np.arange(len(nid)))))
    core = np.flatnonzero(is_art & (np.hypot(nxs - cx, nys - cy) < 3_000))
    for i in rng.permutation(core):
        if sum(k == "micro" for k, _ in picks) == N_MICRO:
            break
        if all(np.hypot(nxs[i] - nxs[j], nys[i] - nys[j]) > 500 for _, j in picks):
            picks.append(("micro", int(i)))
            used.add(int(i))
    for i in rng.permutation(core)[: N_POSTS * 5]:
        if sum(k == "post" for k, _ in picks) == N_POSTS:
            break
        if int(i) not in used:
            picks.append(("post", int(i)))
            used.add(int(i))
    n = len(picks)
    kinds = np.array([k for k, _ in picks], dtype=object)
    at = np.array([j for _, j in picks])
    # Stand the station a little off its road node.
    ang = rng.uniform(0, 2 * np.pi, n)
    off = np.where(np.isin(kinds, ("micro", "post")), 8.0, 25.0)
    x = nxs[at] + np.cos(ang) * off
    y = nys[at] + np.sin(ang) * off
    ids = d.world.ids.take("station", n)
    seq = np.arange(1, n + 1)
    names, addresses = [], []
    street_of = _street_names(r, x, y)
    per_kind: dict[str, int] = {}
    for k, kind in enumerate(kinds):
        per_kind[kind] = per_kind.get(kind, 0) + 1
        place = street_of[k].removesuffix("街道").removesuffix("镇").removesuffix("乡")
        special = "特勤" if kind == "level1" and k == 0 else place
        names.append(
            f"{d.short}区{special}{KIND_LABEL[kind]}"
            + (f"{per_kind[kind]}号" if kind in ("micro", "post") else "")
        )
        addresses.append(f"{d.name}{street_of[k]}")
    names = _dedupe(names)
    status = np.where(rng.random(n) < 0.05, "out_of_service", "on_duty")
    status = np.where(np.isin(kinds, ("level1", "level2")), "on_duty", status)
    stations = point_frame(
        {
            "id": ids,
            "code": [f"ST{d.code}{i:03d}" for i in seq],
            "name": names,
            "kind": kinds,
            "status": status,
            "staff": [FLEET[k][0] for k in kinds],
            "phone": phones(rng, n),
            "address": addresses,
        },
        x,
        y,
    )
    rows = []
    for sid, s_no, kind in zip(ids, seq, kinds, strict=True):
        counts: dict[str, int] = {}
        for vk, label, w, h, water in FLEET[kind][1]:
            counts[label] = counts.get(label, 0) + 1
            suffix = "" if counts[label] == 1 else str(counts[label])
            rows.append(
                {
                    "station_id": int(sid),
                    "call_sign": f"{d.short}{s_no}-{label}{suffix}",
                    "kind": vk,
                    "status": "available",
                    "width_m": w,
                    "height_m": h,
                    "water_l": water,
                }
            )
    vehicles = pd.DataFrame(rows)
    vehicles.insert(0, "id", d.world.ids.take("vehicle", len(vehicles)))
    vehicles["water_l"] = vehicles["water_l"].astype("Int64")
    busy = rng.random(len(vehicles)) < 0.06
    vehicles.loc[busy, "status"] = "maintenance"
    return stations, vehicles


def _street_names(r: Regions, x: np.ndarray, y: np.ndarray) -> list[str]:
    import shapely

    out = []
    for xi, yi in zip(x, y, strict=True):
        hit = [i for i, s in enumerate(r.streets) if shapely.contains_xy(s, xi, yi)]
        out.append(r.street_names[hit[0]] if hit else r.street_names[0])
    return out


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for nm in names:
        seen[nm] = seen.get(nm, 0) + 1
        out.append(nm if seen[nm] == 1 else f"{nm}（{seen[nm]}）")
    return out
