"""The road network's topology: an urban lattice, village lattices and rural highways.

All in local metres. The city is a jittered, rotated 200 m lattice: every 6th line an arterial
(primary; the two axes through the centre trunk), every 3rd a secondary, the rest tertiary or
residential and thinned towards the edge of the city. A railway crosses the city: only some
roads pass it, the minor ones through low underpasses. The old town has lanes (胡同) and
dead-end alleys; residential compounds have service roads, some as fire-lane loops joined to
the street at two points. Villages get small lattices; a planar graph (Delaunay edges, minimum
spanning tree plus some extra links) joins villages and the city gates, and the longest routes
become highways.
Two tiny factory roads per district are deliberately left unconnected.

Attributes and frames are made in ``gis.demo.road_attrs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import networkx as nx
import numpy as np
import shapely
from scipy.spatial import Delaunay
from shapely.geometry import LineString

from gis.demo.context import District
from gis.demo.names import HIGHWAYS
from gis.demo.regions import Regions

LATTICE_M = 200.0
OLD_TOWN_M = 1_800.0


@dataclass
class Network:
    """Nodes and edges under construction (parallel lists; ``kind`` tags an edge's origin)."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    u: list[int] = field(default_factory=list)
    v: list[int] = field(default_factory=list)
    cls: list[str] = field(default_factory=list)
    name: list[str | None] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)  # urban, old_town, village, rural, compound, ...
    maxheight: list[float] = field(default_factory=list)  # NaN: no limit
    fire_lane: list[bool] = field(default_factory=list)
    oneway: list[int] = field(default_factory=list)  # 0 two-way, 1 one-way u→v
    line: list[tuple] = field(default_factory=list)  # lattice line key, () if none

    def node(self, x: float, y: float) -> int:
        self.x.append(float(x))
        self.y.append(float(y))
        return len(self.x) - 1

    def edge(
        self,
        a: int,
        b: int,
        cls: str,
        *,
        name: str | None = None,
        kind: str = "urban",
        maxheight: float = np.nan,
        fire_lane: bool = False,
        line: tuple = (),
    ) -> int:
        self.u.append(a)
        self.v.append(b)
        self.cls.append(cls)
        self.name.append(name)
        self.kind.append(kind)
        self.maxheight.append(maxheight)
        self.fire_lane.append(fire_lane)
        self.oneway.append(0)
        self.line.append(line)
        return len(self.u) - 1

    def xy(self, i: int) -> tuple[float, float]:
        return self.x[i], self.y[i]


def _line_class(idx: int) -> str:
    if idx == 0:
        return "trunk"
    if idx % 6 == 0:
        return "primary"
    if idx % 3 == 0:
        return "secondary"
    return "tertiary" if idx % 6 in (1, 5) and abs(idx) <= 8 else "residential"


def _urban_lattice(rng: np.random.Generator, net: Network, r: Regions) -> dict:
    cx, cy = r.city_centre
    theta = rng.uniform(-0.25, 0.25)
    ct, st = np.cos(theta), np.sin(theta)
    minx, miny, maxx, maxy = r.urban.bounds
    ext = max(maxx - minx, maxy - miny)
    n = int(ext / LATTICE_M) + 2
    inner = r.urban.buffer(-40)
    shapely.prepare(inner)
    ids: dict[tuple[int, int], int] = {}
    ii, jj = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    px = cx + ct * ii * LATTICE_M - st * jj * LATTICE_M + rng.normal(0, 9, ii.size)
    py = cy + st * ii * LATTICE_M + ct * jj * LATTICE_M + rng.normal(0, 9, ii.size)
    ok = shapely.contains_xy(inner, px, py)
    for i, j, x, y in zip(ii[ok], jj[ok], px[ok], py[ok], strict=True):
        ids[(int(i), int(j))] = net.node(x, y)
    # Railway: a straight line across the city, not parallel to the lattice.
    ang = theta + rng.uniform(0.35, 0.6)
    off = rng.uniform(600, 1_400) * rng.choice([-1, 1])
    rx, ry = cx - np.sin(ang) * off, cy + np.cos(ang) * off
    rail = LineString(
        [
            (rx - np.cos(ang) * 3 * ext, ry - np.sin(ang) * 3 * ext),
            (rx + np.cos(ang) * 3 * ext, ry + np.sin(ang) * 3 * ext),
        ]
    )
    for (i, j), a in ids.items():
        for di, dj, line in ((1, 0, ("r", j)), (0, 1, ("c", i))):
            b = ids.get((i + di, j + dj))
            if b is None:
                continue
            idx = line[1]
            cls = _line_class(idx)
            mx, my = (net.x[a] + net.x[b]) / 2, (net.y[a] + net.y[b]) / 2
            dist = np.hypot(mx - cx, my - cy)
            if not shapely.contains_xy(inner, mx, my):
                continue
            if cls == "residential":
                keep = np.clip(1.15 - dist / 6_000, 0.3, 1.0) * 0.93
                if rng.random() > keep:
                    continue
            maxh = np.nan
            if LineString([net.xy(a), net.xy(b)]).intersects(rail):
                if cls in ("residential", "tertiary"):
                    if rng.random() > 0.35:
                        continue
                    maxh = rng.uniform(3.0, 3.9)
                elif cls == "secondary":
                    maxh = rng.uniform(4.2, 4.8)
            kind = "old_town" if dist < OLD_TOWN_M else "urban"
            if kind == "old_town" and cls == "residential" and rng.random() < 0.25:
                cls = "lane"
            net.edge(a, b, cls, kind=kind, maxheight=maxh, line=line)
    return {"ids": ids, "theta": theta, "rail": rail}


def _split_edge(net: Network, e: int, ts: list[float]) -> list[int]:
    """Insert nodes at fractions ``ts`` of edge ``e``; return the new node ids."""
    a, b = net.u[e], net.v[e]
    ax, ay = net.xy(a)
    bx, by = net.xy(b)
    new = [net.node(ax + t * (bx - ax), ay + t * (by - ay)) for t in ts]
    chain = [a, *new, b]
    net.v[e] = chain[1]
    for p, q in pairwise(chain[1:]):
        net.edge(
            p,
            q,
            net.cls[e],
            name=net.name[e],
            kind=net.kind[e],
            maxheight=net.maxheight[e],
            fire_lane=net.fire_lane[e],
            line=net.line[e],
        )
    return new


def _spurs(rng: np.random.Generator, net: Network, r: Regions) -> None:
    """Old-town alleys, compound service roads and fire-lane loops off mid-block points."""
    inner = r.urban.buffer(-60)
    shapely.prepare(inner)
    for e in range(len(net.u)):
        if net.kind[e] not in ("urban", "old_town") or net.cls[e] in ("trunk", "lane"):
            continue
        a, b = net.u[e], net.v[e]
        ax, ay = net.xy(a)
        bx, by = net.xy(b)
        length = np.hypot(bx - ax, by - ay)
        if length < 120:
            continue
        nx_, ny_ = -(by - ay) / length, (bx - ax) / length
        side = rng.choice([-1.0, 1.0])
        old = net.kind[e] == "old_town"
        roll = rng.random()
        if old and roll < 0.45 and net.cls[e] in ("residential", "tertiary"):
            (m,) = _split_edge(net, e, [rng.uniform(0.35, 0.65)])
            d = rng.uniform(45, 80)
            tx, ty = net.x[m] + side * nx_ * d, net.y[m] + side * ny_ * d
            if shapely.contains_xy(inner, tx, ty):
                net.edge(m, net.node(tx, ty), "lane", kind="alley")
        elif not old and roll < 0.10:
            (m,) = _split_edge(net, e, [rng.uniform(0.35, 0.65)])
            d = rng.uniform(55, 85)
            tx, ty = net.x[m] + side * nx_ * d, net.y[m] + side * ny_ * d
            if shapely.contains_xy(inner, tx, ty):
                net.edge(m, net.node(tx, ty), "service", kind="compound")
        elif (0.96 if old else 0.10) <= roll < (0.98 if old else 0.125):
            m1, m2 = _split_edge(net, e, [0.3, 0.7])
            d = rng.uniform(55, 80)
            p1 = (net.x[m1] + side * nx_ * d, net.y[m1] + side * ny_ * d)
            p2 = (net.x[m2] + side * nx_ * d, net.y[m2] + side * ny_ * d)
            if shapely.contains_xy(inner, *p1) and shapely.contains_xy(inner, *p2):
                q1, q2 = net.node(*p1), net.node(*p2)
                for s, t in ((m1, q1), (q1, q2), (q2, m2)):
                    net.edge(s, t, "service", kind="fire_loop", fire_lane=True)


def _village_lattices(rng: np.random.Generator, net: Network, r: Regions) -> dict[int, int]:
    """Small lattices around village centres; returns community index -> hub node."""
    hubs: dict[int, int] = {}
    for ci in np.flatnonzero(r.community_is_village):
        cx, cy = r.village_centre[ci]
        seat = bool(r.village_is_seat[ci])
        nu, nv = (6, 6) if seat else (int(rng.integers(2, 5)), int(rng.integers(3, 6)))
        step = 140.0 if seat else 110.0
        th = rng.uniform(0, np.pi)
        ct, st = np.cos(th), np.sin(th)
        poly = r.communities[ci].buffer(-30)
        shapely.prepare(poly)
        ids: dict[tuple[int, int], int] = {}
        for i in range(nu):
            for j in range(nv):
                du, dv = (i - (nu - 1) / 2) * step, (j - (nv - 1) / 2) * step
                x = cx + ct * du - st * dv + rng.normal(0, 6)
                y = cy + st * du + ct * dv + rng.normal(0, 6)
                if shapely.contains_xy(poly, x, y):
                    ids[(i, j)] = net.node(x, y)
        if not ids:
            hubs[int(ci)] = net.node(cx, cy)
            continue
        mid_j = (nv - 1) // 2
        local = []
        for (i, j), a in ids.items():
            for di, dj in ((1, 0), (0, 1)):
                b = ids.get((i + di, j + dj))
                if b is None or (rng.random() > 0.9 and j != mid_j):
                    continue
                main = dj == 0 and j == mid_j
                cls = "tertiary" if main else ("lane" if rng.random() < 0.2 else "residential")
                local.append(net.edge(a, b, cls, kind="village", line=("v", int(ci), main)))
        g = nx.Graph()
        g.add_nodes_from(ids.values())
        g.add_edges_from((net.u[e], net.v[e]) for e in local)
        comp = max(nx.connected_components(g), key=lambda c: (len(c), -min(c)))
        hub = min(comp, key=lambda nd: (net.x[nd] - cx) ** 2 + (net.y[nd] - cy) ** 2)
        hubs[int(ci)] = hub
    return hubs


def _gates(net: Network, lattice: dict) -> list[int]:
    """The outer ends of the city's trunk and primary lines."""
    ends: dict[tuple, list[int]] = {}
    for e, line in enumerate(net.line):
        if line and line[0] in ("r", "c") and net.cls[e] in ("trunk", "primary"):
            ends.setdefault(line, []).extend([net.u[e], net.v[e]])
    gates: list[int] = []
    ids_rev = {v: k for k, v in lattice["ids"].items()}
    for line in sorted(ends):
        nodes = [n for n in ends[line] if n in ids_rev]
        pos = 0 if line[0] == "r" else 1  # rows run along i, columns along j
        key = sorted(set(nodes), key=lambda n: ids_rev[n][pos])
        gates.extend([key[0], key[-1]])
    return sorted(set(gates))


def _rural_links(
    rng: np.random.Generator,
    net: Network,
    r: Regions,
    hubs: dict[int, int],
    gates: list[int],
    village_names: dict[int, str],
    highways: list[str],
) -> None:
    pts = [*hubs.values(), *gates]
    is_gate = np.array([False] * len(hubs) + [True] * len(gates))
    comm_of = [*hubs.keys(), *([-1] * len(gates))]
    xy = np.array([net.xy(p) for p in pts])
    if len(pts) < 3:
        cand = [(0, 1)] if len(pts) == 2 else []
    else:
        tri = Delaunay(xy)
        cand = sorted(
            {
                tuple(sorted((int(s[a]), int(s[b]))))
                for s in tri.simplices
                for a, b in ((0, 1), (1, 2), (0, 2))
            }
        )
    inner = r.district.buffer(-80)
    city = r.urban.buffer(-250)
    full = nx.Graph()
    ok = nx.Graph()
    for a, b in cand:
        length = float(np.hypot(*(xy[a] - xy[b])))
        full.add_edge(a, b, length=length)
        if is_gate[a] and is_gate[b]:
            continue
        seg = LineString([xy[a], xy[b]])
        if not inner.contains(seg) or seg.intersects(city):
            continue
        ok.add_edge(a, b, length=length)
    ok.add_nodes_from(range(len(pts)))
    # The city is one place: join its gates through a virtual hub for the spanning tree.
    hub = len(pts)
    with_hub = ok.copy()
    for g in np.flatnonzero(is_gate):
        with_hub.add_edge(int(g), hub, length=0.0)
    links = nx.Graph(nx.minimum_spanning_tree(with_hub, weight="length"))
    links.remove_node(hub)
    links.add_nodes_from(range(len(pts)))
    for a, b, data in sorted(ok.edges(data=True)):
        extra_p = 0.12 if (is_gate[a] or is_gate[b]) else 0.35
        if not links.has_edge(a, b) and rng.random() < extra_p:
            links.add_edge(a, b, **data)
    # Join any part without a gate to the rest by its shortest Delaunay edge.
    while True:
        comps = sorted(nx.connected_components(links), key=lambda c: (-len(c), min(c)))
        if len(comps) <= 1:
            break
        main = set().union(*[c for c in comps if any(is_gate[n] for n in c)]) or comps[0]
        others = [c for c in comps if not (c & main)]
        if not others:
            break
        other = others[0]
        best = min(
            (
                (a, b)
                for a, b in full.edges()
                if (a in other) != (b in other) and ((a in main) or (b in main))
            ),
            key=lambda ab: full.edges[ab]["length"],
            default=None,
        )
        if best is None:
            break
        links.add_edge(*best, length=full.edges[best]["length"])
    # Highways: routes from a gate to the farthest villages in three directions.
    cls_of = {tuple(sorted(e)): "tertiary" for e in links.edges()}
    name_of: dict[tuple, str] = {}
    cx, cy = r.city_centre
    villages = [i for i in range(len(pts)) if not is_gate[i]]
    gate_idx = [i for i in range(len(pts)) if is_gate[i]]
    if villages and gate_idx:
        ang = np.arctan2(xy[villages, 1] - cy, xy[villages, 0] - cx)
        dist = np.hypot(xy[villages, 0] - cx, xy[villages, 1] - cy)
        targets: list[int] = []
        for k in range(3):
            lo, hi = -np.pi + k * 2 * np.pi / 3, -np.pi + (k + 1) * 2 * np.pi / 3
            sel = [(dist[i], villages[i]) for i in range(len(villages)) if lo <= ang[i] < hi]
            if sel:
                targets.append(max(sel)[1])
        seats = [i for i in villages if r.village_is_seat[comm_of[i]]]
        for rank, tgt in enumerate([*targets, *seats]):
            reach = [g for g in gate_idx if nx.has_path(links, g, tgt)]
            if not reach:
                continue
            paths = [nx.shortest_path(links, g, tgt, weight="length") for g in reach]
            path = min(paths, key=lambda p: nx.path_weight(links, p, "length"))
            hw = rank < len(targets)
            for a, b in pairwise(path):
                key = tuple(sorted((a, b)))
                if hw:
                    cls_of[key] = "trunk"
                    name_of.setdefault(key, highways[rank % len(highways)])
                elif cls_of[key] == "tertiary":
                    cls_of[key] = "secondary"
    county = 100 + int(rng.integers(0, 800))
    for key in sorted(tuple(sorted(e)) for e in links.edges()):
        a, b = key
        cls = cls_of[key]
        if cls == "trunk":
            name = name_of[key]
        else:
            va = village_names.get(comm_of[a], "城区")
            vb = village_names.get(comm_of[b], "城区")
            if cls == "secondary":
                name = f"X{county}县道"
            else:
                name = f"{va.removesuffix('村')}至{vb.removesuffix('村')}乡道"
        _polyline(rng, net, pts[a], pts[b], cls, name)


def _polyline(
    rng: np.random.Generator,
    net: Network,
    a: int,
    b: int,
    cls: str,
    name: str | None,
    *,
    kind: str = "rural",
    seg_m: float = 700.0,
) -> None:
    ax, ay = net.xy(a)
    bx, by = net.xy(b)
    length = float(np.hypot(bx - ax, by - ay))
    k = max(1, int(np.ceil(length / seg_m)))
    amp = min(90.0, 0.05 * length) * rng.uniform(-1, 1)
    nx_, ny_ = -(by - ay) / max(length, 1e-9), (bx - ax) / max(length, 1e-9)
    chain = [a]
    for s in range(1, k):
        t = s / k
        bend = amp * np.sin(np.pi * t)
        chain.append(net.node(ax + t * (bx - ax) + bend * nx_, ay + t * (by - ay) + bend * ny_))
    chain.append(b)
    for p, q in pairwise(chain):
        net.edge(p, q, cls, name=name, kind=kind)


def _isolated_bits(rng: np.random.Generator, net: Network, r: Regions, lattice: dict) -> None:
    """Two unconnected factory-yard roads in the outskirts (routing must cope with them)."""
    cx, cy = r.city_centre
    th = lattice["theta"]
    nodes = sorted(lattice["ids"].items())
    far = [n for (_, n) in nodes if np.hypot(net.x[n] - cx, net.y[n] - cy) > 3_000]
    inner = r.urban.buffer(-150)
    made = 0
    for n in rng.permutation(np.array(far, dtype=np.int64)) if far else []:
        if made == 2:
            break
        hx = net.x[n] + np.cos(th) * 100 - np.sin(th) * 100
        hy = net.y[n] + np.sin(th) * 100 + np.cos(th) * 100
        p0 = (hx - np.cos(th) * 30, hy - np.sin(th) * 30)
        p2 = (hx + np.cos(th) * 30, hy + np.sin(th) * 30)
        if not (shapely.contains_xy(inner, *p0) and shapely.contains_xy(inner, *p2)):
            continue
        a, b, c = net.node(*p0), net.node(hx, hy), net.node(*p2)
        net.edge(a, b, "service", name="厂区内部道路", kind="isolated")
        net.edge(b, c, "service", name="厂区内部道路", kind="isolated")
        made += 1


def _keep_main_component(net: Network) -> None:
    g = nx.Graph()
    g.add_edges_from(
        (net.u[e], net.v[e], {"e": e}) for e in range(len(net.u)) if net.kind[e] != "isolated"
    )
    main = max(nx.connected_components(g), key=lambda c: (len(c), -min(c)))
    keep = [e for e in range(len(net.u)) if net.kind[e] == "isolated" or net.u[e] in main]
    for attr in ("u", "v", "cls", "name", "kind", "maxheight", "fire_lane", "oneway", "line"):
        vals = getattr(net, attr)
        setattr(net, attr, [vals[e] for e in keep])


def _one_way_streets(rng: np.random.Generator, net: Network, r: Regions) -> None:
    """Make a few core streets one-way, then undo any that would strand a node."""
    cx, cy = r.city_centre
    lines = sorted(
        {
            ln
            for e, ln in enumerate(net.line)
            if ln
            and ln[0] in ("r", "c")
            and net.cls[e] in ("residential", "tertiary")
            and abs(ln[1]) <= 8
        }
    )
    chosen = [lines[i] for i in rng.permutation(len(lines))[: max(2, len(lines) // 5)]]
    for k, line in enumerate(chosen):
        forward = k % 2 == 0
        for e, ln in enumerate(net.line):
            if ln != line:
                continue
            mx = (net.x[net.u[e]] + net.x[net.v[e]]) / 2
            my = (net.y[net.u[e]] + net.y[net.v[e]]) / 2
            if np.hypot(mx - cx, my - cy) > 3_500:
                continue
            if not forward:
                net.u[e], net.v[e] = net.v[e], net.u[e]
            net.oneway[e] = 1
    while True:
        g = nx.DiGraph()
        for e in range(len(net.u)):
            if net.kind[e] == "isolated":
                continue
            g.add_edge(net.u[e], net.v[e])
            if not net.oneway[e]:
                g.add_edge(net.v[e], net.u[e])
        comp = {n: i for i, c in enumerate(nx.strongly_connected_components(g)) for n in c}
        bad = [e for e in range(len(net.u)) if net.oneway[e] and comp[net.u[e]] != comp[net.v[e]]]
        if not bad:
            break
        for e in bad:
            net.oneway[e] = 0


def build_network(d: District, r: Regions) -> tuple[Network, list[int]]:
    """The district's road network (metres) and its port nodes for highway links."""
    rng = d.rng("roads")
    net = Network()
    lattice = _urban_lattice(rng, net, r)
    _spurs(rng, net, r)
    hubs = _village_lattices(rng, net, r)
    gates = _gates(net, lattice)
    vnames = {int(ci): r.community_names[ci] for ci in hubs}
    highways = [str(h) for h in rng.permutation(np.array(HIGHWAYS, dtype=object))]
    _rural_links(rng, net, r, hubs, gates, vnames, highways)
    _isolated_bits(rng, net, r, lattice)
    _keep_main_component(net)
    _one_way_streets(rng, net, r)
    ports = sorted(set(hubs.values()) | set(gates))
    return net, ports
