"""Building footprints: small rotated rectangles set back along the roads.

Candidate slots line both sides of every urban and village road (one or two rows, pitch and
depth by zone: old town, core, outer city, industrial park, village). Each slot gets a use,
floors, height (~3 m a floor), year and size drawn for its zone; slots are then taken in a
density-weighted random order, skipping any rectangle that touches a road corridor or an
already placed building, until the scaled count (20,000 at scale 1) is reached. Towers are
newer and more common in the core, so high-rise buildings (GB 50016: > 27 m residential,
> 24 m other) cluster there.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.demo.context import District
from gis.demo.geo import frame, rectangles
from gis.demo.names import estate_names
from gis.demo.rand import weighted_order
from gis.demo.regions import Regions, locate

BUILDINGS_PER_DISTRICT = 20_000
# zone: (setback m, max depth m, pitch m, rows)
ZONES = {
    "old_town": (4.0, 16.0, 30.0, 2),
    "core": (8.0, 24.0, 48.0, 2),
    "outer": (10.0, 30.0, 60.0, 2),
    "industrial": (12.0, 50.0, 90.0, 1),
    "village": (5.0, 14.0, 22.0, 1),
}
USES = (
    "residential",
    "commercial",
    "office",
    "industrial",
    "warehouse",
    "public",
    "mixed",
    "other",
)
USE_MIX = {  # zone -> weights over USES
    "old_town": (70, 20, 1, 0, 0, 5, 4, 0),
    "core": (74, 9, 3, 0, 0, 5, 7, 2),
    "frontage": (20, 35, 10, 0, 0, 5, 30, 0),
    "outer": (76, 7, 2, 3, 2, 5, 3, 2),
    "industrial": (5, 2, 5, 50, 30, 0, 0, 8),
    "village": (85, 4, 0, 4, 5, 2, 0, 0),
}


def _slots(net_edges: pd.DataFrame, r: Regions, rng: np.random.Generator) -> pd.DataFrame:
    e = net_edges
    ok = e["_kind"].isin(("urban", "old_town", "village", "alley")).to_numpy()
    e = e[ok]
    x0, y0, x1, y1 = (e[c].to_numpy() for c in ("_x0", "_y0", "_x1", "_y1"))
    length = np.hypot(x1 - x0, y1 - y0)
    ang = np.arctan2(y1 - y0, x1 - x0)
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    cx, cy = r.city_centre
    dist = np.hypot(mx - cx, my - cy)
    sector = rng.uniform(-np.pi, np.pi)
    rel = np.angle(np.exp(1j * (np.arctan2(my - cy, mx - cx) - sector)))
    kind = e["_kind"].to_numpy()
    zone = np.where(
        kind == "village",
        "village",
        np.where(
            dist < 1_800,
            "old_town",
            np.where(dist < 3_200, "core", np.where(np.abs(rel) < 0.6, "industrial", "outer")),
        ),
    )
    rows = []
    hw = e["width_m"].to_numpy() / 2
    cls = e["road_class"].to_numpy()
    for i in range(len(e)):
        _, _, pitch, nrows = ZONES[zone[i]]
        n = int((length[i] - 24) // pitch)
        if n <= 0:
            continue
        t = 12 + pitch * (np.arange(n) + 0.5) + (length[i] - 24 - n * pitch) / 2
        for side in (-1.0, 1.0):
            for row in range(1, nrows + 1):
                rows.append((i, side, row, t))
    if not rows:
        return pd.DataFrame()
    ei = np.concatenate([np.full(len(t), i) for i, _, _, t in rows])
    side = np.concatenate([np.full(len(t), s) for _, s, _, t in rows])
    row = np.concatenate([np.full(len(t), rw) for _, _, rw, t in rows])
    tt = np.concatenate([t for *_, t in rows])
    return pd.DataFrame(
        {
            "_edge": e.index.to_numpy()[ei],
            "_side": side,
            "_row": row,
            "_t": tt,
            "_ang": ang[ei],
            "_hw": hw[ei],
            "_zone": zone[ei],
            "_cls": cls[ei],
            "_x0": x0[ei],
            "_y0": y0[ei],
            "_len_e": length[ei],
            "_dist": dist[ei],
            "_road": e["name"].to_numpy()[ei],
        }
    )


def _attributes(s: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(s)
    zone = s["_zone"].to_numpy()
    frontage = (
        (s["_row"].to_numpy() == 1)
        & np.isin(s["_cls"].to_numpy(), ("primary", "secondary"))
        & np.isin(zone, ("core", "old_town", "outer"))
    )
    mix_key = np.where(frontage, "frontage", zone)
    use = np.empty(n, dtype=object)
    for key, w in USE_MIX.items():
        m = mix_key == key
        if m.any():
            p = np.array(w, dtype=float)
            use[m] = np.array(USES, dtype=object)[
                rng.choice(len(USES), size=int(m.sum()), p=p / p.sum())
            ]
    u = rng.random(n)
    floors = np.ones(n)
    year = rng.integers(1980, 2025, n).astype(float)
    res = use == "residential"
    # Residential periods: old walk-ups, mid-rise, towers; newer and taller away from old town.
    p_old = np.select([zone == "old_town", zone == "core"], [0.55, 0.42], 0.2)
    p_mid = np.select([zone == "old_town", zone == "core"], [0.3, 0.3], 0.35)
    old, mid = u < p_old, (u >= p_old) & (u < p_old + p_mid)
    new = ~(old | mid)
    floors = np.where(res & old, rng.integers(5, 8, n), floors)
    year = np.where(res & old, rng.integers(1980, 2000, n), year)
    floors = np.where(res & mid, rng.choice([5, 6, 6, 7, 7, 9, 11, 18], n), floors)
    year = np.where(res & mid, rng.integers(2000, 2011, n), year)
    floors = np.where(res & new, rng.choice([6, 7, 9, 11, 11, 18, 26, 33], n), floors)
    year = np.where(res & new, rng.integers(2011, 2025, n), year)
    court = res & (zone == "old_town") & (rng.random(n) < 0.45)
    floors = np.where(court, rng.integers(1, 3, n), floors)
    year = np.where(court, rng.integers(1980, 1996, n), year)
    vil = res & (zone == "village")
    floors = np.where(vil, rng.choice([1, 1, 1, 2, 2, 3], n), floors)
    year = np.where(vil, rng.integers(1980, 2025, n), year)
    floors = np.where(use == "commercial", rng.choice([1, 2, 2, 3, 4, 5, 6, 8], n), floors)
    floors = np.where(use == "mixed", rng.choice([3, 4, 6, 7, 9, 12, 20], n), floors)
    floors = np.where(use == "office", rng.choice([4, 5, 6, 8, 12, 16, 24], n), floors)
    floors = np.where(use == "public", rng.choice([2, 3, 4, 5, 6, 9, 12], n), floors)
    floors = np.where(
        np.isin(use, ("industrial", "warehouse", "other")), rng.integers(1, 3, n), floors
    )
    year = np.where(
        np.isin(use, ("commercial", "mixed", "office")), rng.integers(1990, 2025, n), year
    )
    per_floor = rng.uniform(2.9, 3.15, n)
    per_floor = np.where(
        np.isin(use, ("industrial", "warehouse")), rng.uniform(5.0, 7.5, n), per_floor
    )
    height = floors * per_floor + np.where(np.isin(use, ("commercial", "mixed")), 1.5, 0.0)
    # Footprints (length along the road × depth).
    length = rng.uniform(12, 20, n)
    width = rng.uniform(9, 14, n)
    slab = res & (floors <= 9) & ~court & ~vil
    tower = res & (floors > 9)
    for m, (l0, l1, w0, w1) in (
        (slab, (40, 60, 11, 14)),
        (tower, (22, 36, 16, 22)),
        (court, (12, 20, 10, 14)),
        (vil, (10, 16, 8, 12)),
        (use == "commercial", (15, 40, 12, 22)),
        (use == "mixed", (30, 45, 14, 20)),
        (use == "office", (25, 40, 20, 28)),
        (use == "public", (30, 48, 18, 26)),
        (use == "industrial", (40, 80, 25, 45)),
        (use == "warehouse", (30, 70, 20, 40)),
    ):
        length = np.where(m, rng.uniform(l0, l1, n), length)
        width = np.where(m, rng.uniform(w0, w1, n), width)
    setback = np.array([ZONES[z][0] for z in zone])
    depth = np.array([ZONES[z][1] for z in zone])
    pitch = np.array([ZONES[z][2] for z in zone])
    length = np.minimum(length, pitch - 5)
    width = np.minimum(width, depth)
    row2 = s["_row"].to_numpy() == 2
    off = s["_hw"].to_numpy() + setback + width / 2 + np.where(row2, depth + 12, 0.0)
    ang = s["_ang"].to_numpy()
    t = s["_t"].to_numpy()
    side = s["_side"].to_numpy()
    cx = s["_x0"].to_numpy() + np.cos(ang) * t - np.sin(ang) * off * side
    cy = s["_y0"].to_numpy() + np.sin(ang) * t + np.cos(ang) * off * side
    return s.assign(
        use=use,
        floors=floors.astype(int),
        height_m=np.round(height, 1),
        built_year=year.astype(int),
        _len=length,
        _wid=width,
        _cx=cx,
        _cy=cy,
        _frontage=frontage,
    )


def _select(
    s: pd.DataFrame, polys: np.ndarray, roads: np.ndarray, order: np.ndarray, target: int
) -> np.ndarray:
    """Indices of the first ``target`` slots in ``order`` that clash with nothing kept."""
    road_tree = shapely.STRtree(roads)
    hit = np.zeros(len(polys), dtype=bool)
    hit[np.unique(road_tree.query(polys, predicate="intersects")[0])] = True
    tree = shapely.STRtree(polys)
    a, b = tree.query(polys, predicate="intersects")
    m = a != b
    a, b = a[m], b[m]
    srt = np.argsort(a, kind="stable")
    a, b = a[srt], b[srt]
    starts = np.searchsorted(a, np.arange(len(polys) + 1))
    kept = np.zeros(len(polys), dtype=bool)
    out: list[int] = []
    for i in order:
        if hit[i]:
            continue
        nb = b[starts[i] : starts[i + 1]]
        if nb.size and kept[nb].any():
            continue
        kept[i] = True
        out.append(int(i))
        if len(out) >= target:
            break
    return np.array(sorted(out), dtype=np.int64)


def build_buildings(d: District, r: Regions, edges: pd.DataFrame) -> gpd.GeoDataFrame:
    """Building footprints (EPSG:4326) with private metric columns for later stages."""
    rng = d.rng("buildings")
    slots = _slots(edges, r, rng)
    s = _attributes(slots, rng)
    polys = rectangles(
        s["_cx"].to_numpy(),
        s["_cy"].to_numpy(),
        s["_len"].to_numpy(),
        s["_wid"].to_numpy(),
        s["_ang"].to_numpy(),
    )
    inner = r.district.buffer(-5)
    shapely.prepare(inner)
    inside = shapely.contains(inner, polys)
    corridor = shapely.buffer(
        shapely.linestrings(
            np.stack([edges[["_x0", "_y0"]].to_numpy(), edges[["_x1", "_y1"]].to_numpy()], axis=1)
        ),
        edges["width_m"].to_numpy() / 2 + 1.0,
        cap_style="flat",
    )
    w = r.density(s["_cx"].to_numpy(), s["_cy"].to_numpy()) + 0.02
    w = w * np.where(s["_row"].to_numpy() == 2, 0.8, 1.0) * inside
    order = weighted_order(rng, w)
    order = order[w[order] > 0]
    keep = _select(s, polys, corridor, order, d.count(BUILDINGS_PER_DISTRICT, minimum=50))
    s = s.iloc[keep].reset_index(drop=True)
    polys = polys[keep]
    n = len(s)
    s["id"] = d.world.ids.take("building", n)
    s["footprint_m2"] = np.round(s["_len"] * s["_wid"], 1)
    s["_grid"] = locate(r.grids, s["_cx"].to_numpy(), s["_cy"].to_numpy())
    s["_comm"] = r.grid_community[s["_grid"].to_numpy()]
    # Estate names per road side; residential buildings are numbered within their estate.
    group = s.groupby(["_edge", "_side"], sort=False).ngroup().to_numpy()
    estates = estate_names(rng, int(group.max()) + 1 if n else 0)
    s["_estate"] = estates[group] if n else []
    res = (s["use"] == "residential") & (s["_zone"] != "village")
    num = s.groupby(group).cumcount().to_numpy() + 1
    s["name"] = np.where(res, [f"{e}{k}号楼" for e, k in zip(s["_estate"], num, strict=True)], None)
    house = (
        (s["_t"] // 8).astype(int) * 2
        + np.where(s["_side"] > 0, 1, 2)
        + (s["_edge"] % 7).astype(int) * 60
    )
    comm_names = np.array(r.community_names, dtype=object)[s["_comm"].to_numpy()]
    s["_address"] = [
        f"{d.name}{rd if isinstance(rd, str) else cn}{h}号"
        for rd, cn, h in zip(s["_road"], comm_names, house, strict=True)
    ]
    cols = ["id", "name", "use", "floors", "height_m", "built_year", "footprint_m2"]
    priv = [c for c in s.columns if c.startswith("_")]
    return frame(s[cols + priv], polys)
