"""Patrol lists: order the stops of a round by travel time and split it into shifts.

Stops are visited by ascending ``priority`` (for instance 0 = red-coded units due daily, or
the due date); within a priority the order minimises travel time on the graph. The order is
deterministic: greedy nearest neighbour (ties by input order) improved by 2-opt and or-opt
on the asymmetric travel-time matrix (one-way roads make A→B differ from B→A; a reversed
segment is re-costed in its new direction), then an iterated local search: 50 seeded
double-bridge kicks (three segments swapped, none reversed), each followed by the same local
search, keeping only improvements. On the demo district's 30-stop rounds this lands within
0.5 % of the proven optimum (`bench/routing.py`, OR-Tools CP-SAT).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from routing._validate import check_graph
from routing.errors import RoutingError, SnapError
from routing.paths import Reach
from routing.settings import DEFAULTS
from routing.snap import Location, Snap, SnapIndex, direct_leg, locate, needs_index
from routing.weights import CAR, Weight

__all__ = ["PatrolLeg", "PatrolPlan", "Shift", "Stop", "plan_patrol"]

_BIG = 1e12  # stands for "no route" inside the optimiser
_KICKS = 50  # double-bridge kicks of the iterated local search, per priority group


@dataclass(frozen=True, slots=True)
class Stop:
    """A place to visit: id, position, priority (lower first) and time spent there."""

    id: Hashable
    lon: float
    lat: float
    priority: Any = 0
    service_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PatrolLeg:
    """Travel to one stop and the visit; times are seconds from the start of the shift."""

    stop_id: Hashable
    travel_s: float
    distance_m: float
    arrive_s: float
    depart_s: float
    geometry: Any = field(default=None, repr=False)
    """Route from the previous stop (or the start), LineString in EPSG:4326."""


@dataclass(frozen=True, slots=True)
class Shift:
    """One shift of a patrol: from the start through its stops (and back, if asked)."""

    legs: tuple[PatrolLeg, ...]
    return_s: float | None
    """Travel back to the start, or None when not returning."""
    duration_s: float
    over_limit: bool
    """True when a single stop alone does not fit in the shift length."""


@dataclass(frozen=True, slots=True)
class PatrolPlan:
    """Shifts in order, and the stops that could not be routed with the reason."""

    shifts: tuple[Shift, ...]
    unreachable: dict[Hashable, str]

    @property
    def order(self) -> list[Hashable]:
        """Stop ids in visiting order across shifts."""
        return [leg.stop_id for s in self.shifts for leg in s.legs]

    @property
    def travel_s(self) -> float:
        """Total travel time over all shifts, return legs included."""
        return sum(leg.travel_s for s in self.shifts for leg in s.legs) + sum(
            s.return_s or 0.0 for s in self.shifts
        )


def plan_patrol(
    G: nx.MultiDiGraph,
    start: Location,
    stops: Iterable[Stop | Sequence[Any]],
    *,
    weight: Weight = CAR,
    max_shift_s: float | None = None,
    return_to_start: bool = False,
    index: SnapIndex | None = None,
    max_snap_m: float = DEFAULTS.snap_max_distance_m,
) -> PatrolPlan:
    """
    Order patrol stops to minimise travel time, with per-leg times and cumulative ETAs.

    Parameters
    ----------
    G
        Road graph from `routing.graph.build_graph`.
    start
        Where each shift starts: (lon, lat), Point, graph node or Snap.
    stops
        `Stop` objects or tuples ``(id, lon, lat[, priority[, service_s]])``.
    weight
        Edge attribute or weight function (default: car/motorcycle, closed roads hidden).
    max_shift_s
        Longest shift, seconds (travel + service, plus the way back if `return_to_start`);
        the ordered round is cut into shifts, each starting again from `start` and
        re-optimised. None keeps one shift.
    return_to_start
        Count the drive back to `start` at the end of each shift.
    index, max_snap_m
        `routing.snap.SnapIndex` of `G` and the snapping distance for points.

    Returns
    -------
    PatrolPlan
        ``shifts`` (legs with ``travel_s``, ``distance_m``, ``arrive_s``, ``depart_s``,
        ``geometry``), ``order``, ``travel_s`` and ``unreachable`` stops with reasons.

    Raises
    ------
    SnapError
        If `start` is off the network.
    RoutingError
        If stop ids repeat.

    Examples
    --------
    Stops given in a poor order along a 1 × 5 line of 10 s roads, starting at node 0::

        0 ---- 1 ---- 2 ---- 3 ---- 4

    >>> from routing.graph import lattice_graph
    >>> G = lattice_graph(1, 5)
    >>> stops = [Stop(f"s{n}", G.nodes[n]["x"], G.nodes[n]["y"], service_s=60) for n in (4, 1, 3)]
    >>> plan = plan_patrol(G, 0, stops)
    >>> plan.order, [(round(l.travel_s), round(l.arrive_s)) for l in plan.shifts[0].legs]
    (['s1', 's3', 's4'], [(10, 10), (20, 90), (10, 160)])
    >>> plan = plan_patrol(G, 0, stops, max_shift_s=180, return_to_start=True)
    >>> [([l.stop_id for l in s.legs], round(s.duration_s)) for s in plan.shifts]
    [(['s1', 's3'], 180), (['s4'], 140)]

    Notes
    -----
    One Dijkstra per stop for the travel-time matrix, stopped once every other stop is
    reached (on the weight's compiled adjacency kept in `index`); the routes of the chosen
    order come from the same searches. Then greedy O(n²), local-search passes of O(n²)
    moves costed in O(1) (2-opt uses prefix sums in both directions) and 50 double-bridge
    kicks, each followed by local search (iterated local search, seeded: deterministic).
    """
    check_graph(G)
    items = [s if isinstance(s, Stop) else Stop(*s) for s in stops]
    if len({s.id for s in items}) != len(items):
        msg = "Stop ids must be unique."
        raise RoutingError(msg)
    if index is None:
        index = SnapIndex(G) if items or needs_index(G, start) else None
    origin = locate(G, start, weight=weight, index=index, max_distance_m=max_snap_m)
    unreachable: dict[Hashable, str] = {}
    snaps: list[Snap] = [origin]
    kept: list[Stop] = []
    for s in items:
        try:
            snaps.append(
                locate(G, (s.lon, s.lat), weight=weight, index=index, max_distance_m=max_snap_m)
            )
            kept.append(s)
        except SnapError as e:
            unreachable[s.id] = str(e)
    T, reaches = _matrix(G, snaps, weight, index)
    todo = []
    for j, s in enumerate(kept, start=1):
        if T[0][j] >= _BIG:
            unreachable[s.id] = "no route from the start"
        else:
            todo.append(j)
    prio = {j: kept[j - 1].priority for j in todo}
    service = [0.0] + [s.service_s for s in kept]
    end = 0 if return_to_start else None
    order = _order(todo, T, prio, end, kicks=_KICKS)
    chunks = _split(order, T, service, max_shift_s, return_to_start)
    shifts = []
    for chunk in chunks:
        # A single shift is the round already searched; cut rounds are searched again.
        seq = _order(chunk, T, prio, end, seed=chunk, kicks=_KICKS if len(chunks) > 1 else 0)
        legs: list[PatrolLeg] = []
        t, prev = 0.0, 0
        for j in seq:
            if T[prev][j] >= _BIG:
                unreachable[kept[j - 1].id] = "no route from the previous stop"
                continue
            r = reaches[prev].route_to(snaps[j])
            travel, dist, geom = (
                (r.travel_time_s, r.distance_m, r.geometry) if r else (0.0, 0.0, None)
            )
            arrive = t + travel
            t = arrive + service[j]
            legs.append(PatrolLeg(kept[j - 1].id, travel, dist, arrive, t, geom))
            prev = j
        back = T[prev][0] if return_to_start and legs else None
        duration = t + (back or 0.0)
        over = max_shift_s is not None and duration > max_shift_s
        shifts.append(Shift(tuple(legs), back, duration, over))
    return PatrolPlan(tuple(s for s in shifts if s.legs), unreachable)


def _matrix(
    G: nx.MultiDiGraph, snaps: list[Snap], weight: Weight, index: SnapIndex | None
) -> tuple[list[list[float]], list[Reach]]:
    """Travel costs between all snaps, ``snaps[0]`` the start (``_BIG`` where no route).

    One Dijkstra from each snap (all its ``out`` legs at once, on the weight's compiled
    adjacency), stopped as soon as every other snap's ``into`` nodes are settled, so a
    patrol round in one grid does not search the whole city. The searches are returned
    too: the routes of the chosen order are read from them, not searched again.
    """
    n = len(snaps)
    T = [[0.0] * n for _ in range(n)]
    targets = [{leg.node for leg in b.into} for b in snaps]
    reaches = []
    for i, a in enumerate(snaps):
        todo = set().union(*(t for j, t in enumerate(targets) if j != i))

        def settle(v: Hashable, d: float, todo: set = todo) -> bool:
            todo.discard(v)
            return not todo

        reach = Reach(G, a, weight=weight, index=index, settle=settle if todo else None)
        reaches.append(reach)
        for j, b in enumerate(snaps):
            if i == j:
                continue
            found = reach.via(b.into)
            costs = [found[0]] if found is not None else []
            direct = direct_leg(a, b)
            if direct is not None:
                costs.append(direct.cost)
            T[i][j] = min(costs, default=_BIG)
    return T, reaches


def _order(
    stops: list[int],
    T: list[list[float]],
    prio: dict[int, Any],
    end: int | None,
    *,
    seed: list[int] | None = None,
    kicks: int = 0,
) -> list[int]:
    """Stops by priority group; each group greedy (or in `seed` order), then improved."""
    result: list[int] = []
    prev = 0
    groups = sorted({prio[j] for j in stops})
    for g_i, g in enumerate(groups):
        group = [j for j in (seed or stops) if prio[j] == g]
        seq = group if seed is not None else _greedy(group, T, prev)
        last = end if g_i == len(groups) - 1 else None
        seq = _search(seq, T, prev, last, kicks)
        result += seq
        prev = seq[-1]
    return result


def _greedy(group: list[int], T: list[list[float]], prev: int) -> list[int]:
    left, seq = list(group), []
    while left:
        nxt = min(left, key=lambda j: (T[prev][j], left.index(j)))
        seq.append(nxt)
        left.remove(nxt)
        prev = nxt
    return seq


def _cost(seq: list[int], T: list[list[float]], prev: int, end: int | None) -> float:
    total, a = 0.0, prev
    for b in seq:
        total += T[a][b]
        a = b
    return total + (T[a][end] if end is not None else 0.0)


def _search(
    seq: list[int], T: list[list[float]], prev: int, end: int | None, kicks: int
) -> list[int]:
    """Local search, then `kicks` double-bridge kicks each followed by local search (ILS).

    A kick cuts prev → A B C D → end into four and drives A C B D: no segment is reversed, so
    the move is cheap to undo under one-way roads. Seeded, so the result is deterministic.
    """
    best = _improve(seq, T, prev, end)
    if len(best) < 8 or kicks <= 0:
        return best
    best_cost = _cost(best, T, prev, end)
    rng = random.Random(len(best))  # noqa: S311 - reproducible search, not security
    for _ in range(kicks):
        i, j, k = sorted(rng.sample(range(1, len(best)), 3))
        cand = _improve(best[:i] + best[j:k] + best[i:j] + best[k:], T, prev, end)
        c = _cost(cand, T, prev, end)
        if c < best_cost - 1e-9:
            best, best_cost = cand, c
    return best


def _improve(seq: list[int], T: list[list[float]], prev: int, end: int | None) -> list[int]:
    """2-opt and or-opt until neither shortens prev → seq → end."""
    while True:
        seq = _two_opt(seq, T, prev, end)
        seq, moved = _or_opt(seq, T, prev, end)
        if not moved:
            return seq


def _or_opt(
    seq: list[int], T: list[list[float]], prev: int, end: int | None
) -> tuple[list[int], bool]:
    """Apply the first move of a run of 1-3 stops (kept in order) that shortens the route.

    ``ext = [prev, *seq, end]``: the run ``ext[i+1 .. i+L]`` leaves its place (saving
    ``a→first + last→b - a→b``) and goes between ``ext[q]`` and ``ext[q+1]``, an edge of the
    route that does not touch it; ``end`` None means an open route (no cost after the last).
    """
    n = len(seq)
    ext = [prev, *seq, end]

    def t(a: int | None, b: int | None) -> float:
        return 0.0 if a is None or b is None else T[a][b]

    for length in (1, 2, 3):
        for i in range(n - length + 1):
            first, last = ext[i + 1], ext[i + length]
            a, b = ext[i], ext[i + length + 1]
            saved = t(a, first) + t(last, b) - t(a, b)
            to_first = [row[first] for row in T]
            from_last = T[last]
            for q in (*range(i), *range(i + length + 1, n + 1)):
                c, d = ext[q], ext[q + 1]
                if d is None:
                    gain = to_first[c] - saved
                else:
                    gain = to_first[c] + from_last[d] - T[c][d] - saved
                if gain < -1e-9:
                    seg = seq[i : i + length]
                    if q < i:
                        return seq[:q] + seg + seq[q:i] + seq[i + length :], True
                    return seq[:i] + seq[i + length : q] + seg + seq[q:], True
    return seq, False


def _two_opt(seq: list[int], T: list[list[float]], prev: int, end: int | None) -> list[int]:
    """Reverse segments while that shortens prev → seq → end (asymmetric costs)."""
    seq = list(seq)
    improved = True
    while improved and len(seq) > 1:
        improved = False
        fwd, bwd = [0.0], [0.0]
        for a, b in itertools.pairwise(seq):
            fwd.append(fwd[-1] + T[a][b])
            bwd.append(bwd[-1] + T[b][a])
        n = len(seq)
        for i in range(n - 1):
            a = prev if i == 0 else seq[i - 1]
            for j in range(i + 1, n):
                b = end if j == n - 1 else seq[j + 1]
                si, sj = seq[i], seq[j]
                delta = T[a][sj] - T[a][si] + (bwd[j] - bwd[i]) - (fwd[j] - fwd[i])
                if b is not None:
                    delta += T[si][b] - T[sj][b]
                if delta < -1e-9 and math.isfinite(delta):
                    seq[i : j + 1] = seq[i : j + 1][::-1]
                    improved = True
                    break
            if improved:
                break
    return seq


def _split(
    order: list[int],
    T: list[list[float]],
    service: list[float],
    max_shift_s: float | None,
    return_to_start: bool,
) -> list[list[int]]:
    """Cut the round where the next stop would end the shift past `max_shift_s`."""
    if max_shift_s is None:
        return [order] if order else []
    chunks: list[list[int]] = []
    cur: list[int] = []
    t, prev = 0.0, 0
    for j in order:
        done = t + T[prev][j] + service[j]
        back = T[j][0] if return_to_start else 0.0
        if cur and done + back > max_shift_s:
            chunks.append(cur)
            cur, t, prev = [], 0.0, 0
            done = T[0][j] + service[j]
        cur.append(j)
        t, prev = done, j
    if cur:
        chunks.append(cur)
    return chunks
