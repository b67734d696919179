"""Special grids (seed 003): markets, street-shop strips and office towers over ordinary grids.

About 30 per district: 10 market blocks beside arterials, 12 strips 45 m either side of a
run of arterial street, 8 office-tower squares near the centre. They overlap ordinary grids
(the database gives each its ordinary ``grid_id``) and belong to the street and community
holding their centre.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString

from gis.demo.context import District
from gis.demo.geo import frame
from gis.demo.names import PLACE_STEMS
from gis.demo.regions import Regions, locate

N_MARKETS = 10
N_STRIPS = 12
N_TOWERS = 8


def _spread(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, k: int, min_m: float
) -> list[int]:
    """Up to ``k`` indices of points at least ``min_m`` apart, in random order."""
    out: list[int] = []
    for i in rng.permutation(len(x)):
        if all(np.hypot(x[i] - x[j], y[i] - y[j]) >= min_m for j in out):
            out.append(int(i))
            if len(out) == k:
                break
    return out


def build_special_grids(d: District, r: Regions, edges: pd.DataFrame) -> gpd.GeoDataFrame:
    """Special grid polygons (EPSG:4326) with ids, codes and names."""
    rng = d.rng("special-grids")
    cx, cy = r.city_centre
    e = edges[edges["_kind"].isin(("urban", "old_town"))]
    mx = ((e["_x0"] + e["_x1"]) / 2).to_numpy()
    my = ((e["_y0"] + e["_y1"]) / 2).to_numpy()
    dist = np.hypot(mx - cx, my - cy)
    art = e["road_class"].isin(("primary", "secondary", "trunk")).to_numpy()
    polys: list = []
    kinds: list[str] = []
    labels: list[str] = []
    stems = rng.permutation(np.array(PLACE_STEMS, dtype=object))

    # Office towers: squares near the centre.
    near = np.flatnonzero(dist < 1_500)
    for k, i in enumerate(_spread(rng, mx[near], my[near], N_TOWERS, 500)):
        j = near[i]
        side = rng.uniform(200, 300)
        ang = np.arctan2(e["_y1"].iloc[j] - e["_y0"].iloc[j], e["_x1"].iloc[j] - e["_x0"].iloc[j])
        sq = shapely.affinity.rotate(
            shapely.box(-side / 2, -side / 2, side / 2, side / 2), ang, use_radians=True
        )
        polys.append(shapely.affinity.translate(sq, mx[j], my[j]))
        kinds.append("office_tower")
        labels.append(f"{stems[k % len(stems)]}大厦楼宇网格")

    # Markets: blocks beside an arterial.
    cand = np.flatnonzero(art & (dist < 4_000) & (dist > 600))
    for k, i in enumerate(_spread(rng, mx[cand], my[cand], N_MARKETS, 700)):
        j = cand[i]
        x0, y0, x1, y1 = (e[c].iloc[j] for c in ("_x0", "_y0", "_x1", "_y1"))
        ang = np.arctan2(y1 - y0, x1 - x0)
        a, b = rng.uniform(120, 200), rng.uniform(100, 160)
        hw = e["width_m"].iloc[j] / 2
        off = hw + 3 + b / 2
        side = rng.choice([-1.0, 1.0])
        pcx = mx[j] - np.sin(ang) * off * side
        pcy = my[j] + np.cos(ang) * off * side
        rect = shapely.affinity.rotate(
            shapely.box(-a / 2, -b / 2, a / 2, b / 2), ang, use_radians=True
        )
        polys.append(shapely.affinity.translate(rect, pcx, pcy))
        kinds.append("market")
        labels.append(f"{stems[(k + 20) % len(stems)]}农贸市场网格")

    # Street-shop strips: runs of one arterial line.
    lines = e["_line"].to_numpy() if "_line" in e.columns else None
    names = e["name"].to_numpy()
    cand = np.flatnonzero(art & (dist < 3_500))
    picked = _spread(rng, mx[cand], my[cand], N_STRIPS * 3, 900)
    made = 0
    for i in picked:
        if made == N_STRIPS:
            break
        j = cand[i]
        same = np.flatnonzero((names == names[j]) & art & (np.hypot(mx - mx[j], my - my[j]) < 320))
        if lines is not None:
            same = same[lines[same] == lines[j]]
        if len(same) < 2:
            continue
        pts = np.concatenate(
            [e[["_x0", "_y0"]].to_numpy()[same], e[["_x1", "_y1"]].to_numpy()[same]]
        )
        # Order the run's points along its main direction.
        c = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
        proj = (pts - c) @ vt[0]
        order = np.argsort(proj)
        run = LineString(pts[order][[0, -1]])
        polys.append(run.buffer(45, cap_style="flat"))
        kinds.append("street_shop")
        labels.append(f"{names[j]}沿街商铺网格")
        made += 1

    polys = [p.intersection(r.urban) for p in polys]
    keep = [i for i, p in enumerate(polys) if p.geom_type == "Polygon" and p.area > 5_000]
    polys = [polys[i] for i in keep]
    kinds = [kinds[i] for i in keep]
    labels = [labels[i] for i in keep]
    pts = shapely.point_on_surface(np.array(polys, dtype=object)) if polys else np.empty(0)
    px, py = shapely.get_x(pts), shapely.get_y(pts)
    comm = r.grid_community[locate(r.grids, px, py)] if polys else np.empty(0, dtype=int)
    street = r.community_street[comm] if polys else np.empty(0, dtype=int)
    street_codes = r.region_frame.set_index("id").loc[r.street_ids, "code"].to_numpy()
    counters: dict[int, int] = {}
    codes, names_out = [], []
    for si, lab in zip(street, labels, strict=True):
        counters[int(si)] = counters.get(int(si), 0) + 1
        codes.append(f"{street_codes[si]}S{counters[int(si)]:02d}")
        names_out.append(f"{r.street_names[si]}-{lab}")
    return frame(
        {
            "id": d.world.ids.take("grid", len(polys)),
            "code": codes,
            "name": names_out,
            "kind": kinds,
            "community_id": r.community_ids[comm],
            "street_id": r.street_ids[street],
        },
        np.array(polys, dtype=object),
    )
