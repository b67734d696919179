"""Road attributes and frames: class-dependent width, speed, clearance, costs and names.

Costs follow pgRouting: ``cost``/``reverse_cost`` are travel times in seconds (geodesic length
over speed) and ``reverse_cost = -1`` marks a one-way edge. ``truck_ok`` is false when the clear
width or headroom is under 4.0 m (GB 50016-2014 §7.1.8) or the edge is blocked.
"""

from __future__ import annotations

from itertools import pairwise

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.demo.context import District
from gis.demo.geo import line_lengths_m, lonlat, to_wgs84
from gis.demo.names import estate_names, lane_names, road_names
from gis.demo.regions import Regions
from gis.demo.roads import Network

FIRE_ENGINE_MIN_M = 4.0
SPEED_KPH = {
    "trunk": 60,
    "primary": 50,
    "secondary": 40,
    "tertiary": 30,
    "residential": 20,
    "service": 15,
    "lane": 10,
}
RURAL_SPEED_KPH = {"trunk": 70, "secondary": 50, "tertiary": 40}
WIDTH_M = {  # (low, high) of the usual width
    "trunk": (30, 42),
    "primary": (20, 30),
    "secondary": (14, 20),
    "tertiary": (9, 14),
    "residential": (4.5, 8.0),
    "service": (4.0, 6.5),
    "lane": (2.2, 3.8),
}
NARROW_SHARE = {"residential": 0.12, "service": 0.25}  # share under 4 m


def _names(rng: np.random.Generator, net: Network, r: Regions) -> np.ndarray:
    names = np.array(net.name, dtype=object)
    lines = sorted({ln for ln in net.line if ln and ln[0] in ("r", "c")})
    trunk = {ln for e, ln in enumerate(net.line) if ln in lines and net.cls[e] == "trunk"}
    pool = road_names(rng, len(lines), ("路", "街", "大街"))
    line_name = {}
    for k, ln in enumerate(lines):
        base = pool[k]
        if ln[0] == "r" and not base.endswith("路"):
            base = base.removesuffix("大街").removesuffix("街") + "路"
        elif ln[0] == "c" and base.endswith("路"):
            base = base.removesuffix("路") + "街"
        line_name[ln] = (
            base.removesuffix("路").removesuffix("大街").removesuffix("街") + "大道"
            if ln in trunk
            else base
        )
    lanes = lane_names(rng, len(lines) + len(net.u))
    estates = estate_names(rng, len(net.u))
    for e in range(len(net.u)):
        if names[e] is not None:
            continue
        ln, kind, cls = net.line[e], net.kind[e], net.cls[e]
        if kind == "alley" or (cls == "lane" and ln and ln[0] in ("r", "c")):
            names[e] = lanes[lines.index(ln) if ln in line_name else len(lines) + e]
        elif ln in line_name:
            names[e] = line_name[ln]
        elif kind == "compound":
            names[e] = f"{estates[e]}内部路" if rng.random() < 0.6 else None
        elif kind == "fire_loop":
            names[e] = "小区消防通道"
        elif kind == "village":
            vname = r.community_names[ln[1]].removesuffix("村")
            names[e] = (
                f"{vname}中心街" if ln[2] else (f"{vname}村路" if rng.random() < 0.5 else None)
            )
    return names


def edge_attributes(rng: np.random.Generator, net: Network, r: Regions) -> pd.DataFrame:
    """Per-edge class attributes (no geometry): width, clearance, speed, slope, names, flags."""
    n = len(net.u)
    cls = np.array(net.cls, dtype=object)
    kind = np.array(net.kind, dtype=object)
    rural = np.isin(kind, ("rural", "connector"))
    lo = np.array([WIDTH_M[c][0] for c in cls])
    hi = np.array([WIDTH_M[c][1] for c in cls])
    width = rng.uniform(lo, hi)
    width = np.where(rural & (cls == "trunk"), rng.uniform(12, 16, n), width)
    width = np.where(rural & (cls == "secondary"), rng.uniform(8, 12, n), width)
    width = np.where(rural & (cls == "tertiary"), rng.uniform(6, 8, n), width)
    width = np.where((kind == "village") & (cls == "tertiary"), rng.uniform(5, 8, n), width)
    narrow_p = np.array([NARROW_SHARE.get(c, 0.0) for c in cls])
    narrow_p = np.where(kind == "old_town", 0.3 * (cls == "residential"), narrow_p)
    narrow_p = np.where(kind == "village", 0.25 * (cls == "residential"), narrow_p)
    narrow_p = np.where(kind == "fire_loop", 0.15, narrow_p)
    narrow = rng.random(n) < narrow_p
    width = np.where(narrow, rng.uniform(3.0, 3.9, n), width)
    wide_lane = (cls == "lane") & (rng.random(n) < 0.08)
    width = np.where(wide_lane, rng.uniform(4.0, 4.4, n), width)
    width = np.round(width, 1)

    maxh = np.array(net.maxheight, dtype=float)
    bars = (kind == "compound") & (rng.random(n) < 0.12)
    maxh = np.where(bars, rng.uniform(2.2, 3.6, n), maxh)
    maxh = np.round(maxh, 1)

    speed = np.array([SPEED_KPH[c] for c in cls], dtype=float)
    speed = np.where(rural, [RURAL_SPEED_KPH.get(c, SPEED_KPH[c]) for c in cls], speed)

    x = (np.array(net.x)[net.u] + np.array(net.x)[net.v]) / 2
    cxw, _ = r.district.bounds[0], r.district.bounds[1]
    hills = np.clip((r.city_centre[0] - x) / max(r.city_centre[0] - cxw, 1.0), 0, 1)
    slope = np.abs(rng.normal(0, np.where(rural | (kind == "village"), 1.5 + 5.0 * hills, 1.0)))
    slope = np.round(np.clip(slope, 0, 14), 1)

    fire_lane = np.array(net.fire_lane, dtype=bool)
    blocked = np.zeros(n, dtype=bool)
    loops = np.flatnonzero(fire_lane)
    if len(loops):
        blocked[rng.choice(loops, size=min(2, len(loops)), replace=False)] = True
    oneway = np.array(net.oneway, dtype=bool)
    truck_ok = (~blocked) & (width >= FIRE_ENGINE_MIN_M) & ~(maxh < FIRE_ENGINE_MIN_M)
    return pd.DataFrame(
        {
            "speed_kph": speed,
            "road_class": cls,
            "name": _names(rng, net, r),
            "oneway": oneway,
            "width_m": width,
            "maxheight_m": maxh,
            "slope_pct": slope,
            "is_fire_lane": fire_lane,
            "blocked": blocked,
            "truck_ok": truck_ok,
            "_kind": kind,
        }
    )


def network_frames(
    d: District,
    net: Network,
    attrs: pd.DataFrame,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, np.ndarray]:
    """``road_node`` and ``road_edge`` frames (EPSG:4326) with global ids.

    Returns the frames and the map from network node index to global node id.
    """
    used = np.unique(np.concatenate([net.u, net.v]))
    node_ids = np.full(len(net.x), -1, dtype=np.int64)
    node_ids[used] = d.world.ids.take("road_node", len(used))
    nx_, ny_ = np.array(net.x)[used], np.array(net.y)[used]
    lon, lat = lonlat(nx_, ny_)
    nodes = gpd.GeoDataFrame(
        {"id": node_ids[used], "_x": nx_, "_y": ny_}, geometry=shapely.points(lon, lat), crs=4326
    )
    u, v = np.array(net.u), np.array(net.v)
    x0, y0 = np.array(net.x)[u], np.array(net.y)[u]
    x1, y1 = np.array(net.x)[v], np.array(net.y)[v]
    lines_m = shapely.linestrings(
        np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
    )
    edges = edge_frame(d, node_ids[u], node_ids[v], lines_m, attrs)
    edges["_x0"], edges["_y0"], edges["_x1"], edges["_y1"] = x0, y0, x1, y1
    return nodes, edges, node_ids


def edge_frame(
    d: District, source: np.ndarray, target: np.ndarray, lines_m: np.ndarray, attrs: pd.DataFrame
) -> gpd.GeoDataFrame:
    """A ``road_edge`` frame with ids, geodesic lengths and travel-time costs."""
    geoms = to_wgs84(lines_m)
    length = np.round(line_lengths_m(geoms), 2)
    cost = np.round(length / (attrs["speed_kph"].to_numpy() / 3.6), 2)
    reverse = np.where(attrs["oneway"].to_numpy(), -1.0, cost)
    df = pd.DataFrame(
        {
            "id": d.world.ids.take("road_edge", len(source)),
            "source": source,
            "target": target,
            "cost": cost,
            "reverse_cost": reverse,
            "length_m": length,
        }
    )
    df = pd.concat([df, attrs.reset_index(drop=True)], axis=1)
    return gpd.GeoDataFrame(df, geometry=geoms, crs=4326)


def connector_frames(
    d: District,
    plans_centres: dict[int, tuple[float, float]],
    ports: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Highways joining this district to its earlier neighbours (large scales only)."""
    rng = d.rng("connectors")
    pid, px, py = ports
    node_rows: list[tuple[int, float, float]] = []
    src: list[int] = []
    dst: list[int] = []
    segs: list[np.ndarray] = []
    me = d.plan.centre
    for j in d.plan.neighbours:
        oid, ox, oy = d.world.ports[j]
        cj = plans_centres[j]
        a = int(np.argmin((px - cj[0]) ** 2 + (py - cj[1]) ** 2))
        b = int(np.argmin((ox - me[0]) ** 2 + (oy - me[1]) ** 2))
        ax, ay, bx, by = px[a], py[a], ox[b], oy[b]
        k = max(1, int(np.ceil(np.hypot(bx - ax, by - ay) / 1_000)))
        chain = [(int(pid[a]), ax, ay)]
        new_ids = d.world.ids.take("road_node", k - 1)
        for s in range(1, k):
            t = s / k
            chain.append((int(new_ids[s - 1]), ax + t * (bx - ax), ay + t * (by - ay)))
            node_rows.append(chain[-1])
        chain.append((int(oid[b]), bx, by))
        for p, q in pairwise(chain):
            src.append(p[0])
            dst.append(q[0])
            segs.append(np.array([[p[1], p[2]], [q[1], q[2]]]))
    n = len(src)
    nodes_xy = np.array([(x, y) for _, x, y in node_rows]).reshape(-1, 2)
    lon, lat = lonlat(nodes_xy[:, 0], nodes_xy[:, 1])
    nodes = gpd.GeoDataFrame(
        {"id": [i for i, _, _ in node_rows]}, geometry=shapely.points(lon, lat), crs=4326
    )
    attrs = pd.DataFrame(
        {
            "speed_kph": np.full(n, 70.0),
            "road_class": "trunk",
            "name": f"{d.short}联络高速",
            "oneway": False,
            "width_m": np.round(rng.uniform(14, 20, n), 1),
            "maxheight_m": np.nan,
            "slope_pct": np.round(rng.uniform(0, 3, n), 1),
            "is_fire_lane": False,
            "blocked": False,
            "truck_ok": True,
            "_kind": "connector",
        },
        index=range(n),
    )
    lines_m = shapely.linestrings(np.array(segs).reshape(-1, 2, 2)) if n else np.empty(0, object)
    edges = edge_frame(
        d, np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64), lines_m, attrs
    )
    return nodes, edges
