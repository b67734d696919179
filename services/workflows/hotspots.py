"""Hazard clusters, Gi* hot spots, associations and trends on the database; cluster warnings.

Reads hazards (rejected false reports left out) within the caller's scope — everything, or the
rows of its grids — and runs the pure algorithms of ``gis.analysis`` on them in a worker thread.
:func:`refresh_analysis` recomputes the district-wide results and stores them as layers
(``hazard_cluster`` → ``hazard-clusters``, ``hotspot_cell`` → ``hotspots``) in one transaction,
sets ``hazard.cluster_id`` of every clustered hazard, and raises warnings (seed 002):

- **yellow** — a cluster of similar hazards (one category dominates, ≥ N members): to the
  community administrators of the cluster's community and the grid workers of its grids;
- **red** — a systemic cluster (several categories, dense, growing against the previous
  window of the same length): to the street officers of its street and the district admins.

A warning is recorded once per (cluster, level) in ``hazard_warning``; cluster ids persist
across refreshes (a new cluster takes the id most of its members had), so running the refresh
again sends nothing new unless a cluster is new or has turned red. Metric work (DBSCAN radius,
hull buffer, areas) runs in the UTM zone of the hazards (``gis.analysis.metric_crs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis import vocab
from gis.analysis import (
    ClusterRules,
    cells_for_polygon,
    classify_clusters,
    cluster_polygons,
    cooccurrence,
    dbscan_labels,
    hotspot_frame,
    monthly_counts,
    project_xy,
    trends,
)
from gis.analysis.distributed import dbscan_labels_tiled, hotspot_frames
from gis.errors import InvalidInputError
from layers.scope import Scope

RESOLUTIONS = (7, 9, 11)
GROUPS = ("grid", "community", "street")


class AnalysisSettings(BaseSettings):
    """Cluster, hot-spot and warning settings (``FIRETWIN_ANALYSIS_*``)."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_ANALYSIS_", env_file=".env",
                                      extra="ignore")

    window_days: int = 90  # default analysis window, ending now
    eps_m: float = 50.0  # DBSCAN radius
    min_samples: int = 5  # DBSCAN core: points within eps_m, itself included
    buffer_m: float = 15.0  # cluster hull buffer
    hull: str = "convex"  # convex | concave
    resolution: int = 9  # H3 resolution of hot spots
    neighbour_k: int = 1  # Gi* neighbourhood: grid_disk(cell, k)
    permutations: int = 99_999  # Gi* (cheap: shared draws); associations use 999
    association_permutations: int = 999
    p_value: str = "binomial"  # p behind p_fdr: binomial | sim | z_sim | norm (gis.analysis)
    conditional: bool = False  # Gi* permutations: total (default) or conditional randomisation
    alpha: float = 0.05
    seed: int = 0
    # cluster classes (seed 002's warning levels): defaults are ClusterRules' own
    similar_min_members: int = ClusterRules.similar_min_members
    similar_min_share: float = ClusterRules.similar_min_share
    systemic_min_members: int = ClusterRules.systemic_min_members
    systemic_min_categories: int = ClusterRules.systemic_min_categories
    systemic_min_density_per_km2: float = ClusterRules.systemic_min_density_per_km2
    systemic_min_growth: float = ClusterRules.systemic_min_growth
    trend_months: int = 24
    # Batch analytics on Dask: a scheduler address (tcp://host:8786) runs the district-wide
    # refresh's DBSCAN tiles and per-category Gi* as Dask tasks (gis.analysis.distributed);
    # unset: in this process. The answers are the same either way.
    dask_scheduler: str | None = None
    dask_tile_m: float = 5_000.0  # DBSCAN tile side on Dask

    def rules(self) -> ClusterRules:
        return ClusterRules(**{f.name: getattr(self, f.name) for f in fields(ClusterRules)})


@dataclass(frozen=True)
class Window:
    """A half-open time window [first, last)."""

    first: datetime
    last: datetime

    @property
    def previous(self) -> Window:
        return Window(self.first - (self.last - self.first), self.first)


def _aware(t: datetime) -> datetime:
    """A time without a zone is taken as UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def window_of(first: datetime | None, last: datetime | None, *, now: datetime,
              days: int) -> Window:
    """The window from query parameters (default: ``days`` days up to now; naive times: UTC)."""
    last = _aware(last or now)
    first = _aware(first or (last - timedelta(days=days)))
    if first >= last:
        msg = f"from ({first.isoformat()}) is not before to ({last.isoformat()})"
        raise InvalidInputError(msg)
    return Window(first, last)


def check_category(category: str | None) -> None:
    if category is not None and category not in vocab.HAZARD_TAXONOMY:
        msg = f"unknown category {category!r}: one of {', '.join(vocab.HAZARD_TAXONOMY)}"
        raise InvalidInputError(msg)


def _scope_sql(scope: Scope, *, alias: str = "h") -> tuple[str, dict[str, Any]]:
    """Rows of the scope: all, or the scope's grids; other scopes may not analyse hazards."""
    if scope.kind == "all":
        return "TRUE", {}
    if scope.kind == "grids":
        return f"{alias}.grid_id = ANY(%(scope_grids)s)", {"scope_grids": sorted(scope.grids or ())}
    msg = f"scope {scope.kind!r} may not read hazard analysis"
    raise PermissionError(msg)


# ------------------------------------------------------------------------------- loading


async def load_hazards(conn: AsyncConnection, *, scope: Scope, window: Window,
                       category: str | None = None, res: int = 9) -> gpd.GeoDataFrame:
    """Hazards reported in the window (rejected ones left out), as points in EPSG:4326."""
    if res not in RESOLUTIONS:
        msg = f"resolution {res} is not one of {RESOLUTIONS}"
        raise InvalidInputError(msg)
    where, params = _scope_sql(scope)
    cur = await conn.execute(
        f"SELECT h.id, h.category, h.reported_at, h.grid_id, h.h3_r{res}, h.cluster_id, "
        f"ST_X(h.geom), ST_Y(h.geom) FROM firetwin.hazard h "
        f"WHERE h.status <> 'rejected' AND h.reported_at >= %(first)s "
        f"AND h.reported_at < %(last)s AND (%(cat)s::text IS NULL OR h.category = %(cat)s) "
        f"AND {where} ORDER BY h.id",
        {**params, "first": window.first, "last": window.last, "cat": category})
    rows = await cur.fetchall()
    cols = ["id", "category", "reported_at", "grid_id", "h3_cell", "cluster_id", "lon", "lat"]
    frame = pd.DataFrame(rows, columns=cols)
    for c in ("grid_id", "cluster_id"):
        frame[c] = frame[c].astype("Int64")
    return gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]),
                            geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326)


async def study_cells(conn: AsyncConnection, *, scope: Scope, res: int) -> np.ndarray:
    """H3 cells covering the scope: the district (or all grids), or the scope's grids."""
    if scope.kind == "all":
        cur = await conn.execute(
            "SELECT ST_AsBinary(coalesce("
            " (SELECT ST_Union(geom) FROM firetwin.region WHERE level = 'district'),"
            " (SELECT ST_Union(geom) FROM firetwin.grid WHERE kind = 'ordinary')))")
    else:
        _, params = _scope_sql(scope)
        cur = await conn.execute(
            "SELECT ST_AsBinary(ST_Union(g.geom)) FROM firetwin.grid g "
            "WHERE g.id = ANY(%(scope_grids)s)", params)
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return np.empty(0, dtype=np.int64)
    return await asyncio.to_thread(cells_for_polygon, shapely.from_wkb(bytes(row[0])), res=res)


# ------------------------------------------------------------------------------ hot spots


async def compute_hotspots(conn: AsyncConnection, *, scope: Scope, window: Window,
                           category: str | None, res: int,
                           settings: AnalysisSettings) -> gpd.GeoDataFrame:
    """Gi* per H3 cell of the scope's study area for the hazards of the window."""
    check_category(category)
    hazards = await load_hazards(conn, scope=scope, window=window, category=category, res=res)
    cells = await study_cells(conn, scope=scope, res=res)
    if len(cells) < 3:
        msg = "the area analysed has fewer than 3 H3 cells: load regions or grids first"
        raise InvalidInputError(msg)
    return await asyncio.to_thread(
        hotspot_frame, cells, hazards["h3_cell"].to_numpy(dtype=np.int64),
        k=settings.neighbour_k, permutations=settings.permutations, alpha=settings.alpha,
        seed=settings.seed, p_value=settings.p_value,
        conditional=settings.conditional)


# ------------------------------------------------------------------------------- clusters


def _cluster_frames(current: gpd.GeoDataFrame, previous: gpd.GeoDataFrame,
                    settings: AnalysisSettings,
                    client: Any = None) -> tuple[np.ndarray, gpd.GeoDataFrame]:
    """DBSCAN labels of ``current`` and its classified cluster polygons (tiles on ``client``)."""
    if len(current) == 0:
        return np.empty(0, dtype=np.int64), gpd.GeoDataFrame(geometry=[], crs=4326)
    xy, crs = project_xy(current)
    if client is None:
        labels = dbscan_labels(xy, eps_m=settings.eps_m, min_samples=settings.min_samples)
    else:
        labels = dbscan_labels_tiled(xy, eps_m=settings.eps_m, min_samples=settings.min_samples,
                                     tile_m=settings.dask_tile_m, client=client)
    polys = cluster_polygons(current, labels, xy=xy, crs=crs, buffer_m=settings.buffer_m,
                             hull=settings.hull)
    prev_counts = np.zeros(len(polys), dtype=np.int64)
    if len(polys) and len(previous):
        tree = shapely.STRtree(polys.geometry.to_numpy())
        poly_idx, _ = tree.query(previous.geometry.to_numpy(), predicate="within")[::-1]
        prev_counts = np.bincount(poly_idx, minlength=len(polys))
    polys["previous_members"] = prev_counts
    out = classify_clusters(polys, settings.rules())
    grids = (pd.DataFrame({"label": labels, "grid_id": current["grid_id"].to_numpy()})
             .query("label >= 0").dropna())
    mode = grids.groupby("label")["grid_id"].agg(lambda s: s.value_counts().index[0])
    out["grid_id"] = out["label"].map(mode).astype("Int64")
    return labels, gpd.GeoDataFrame(out, geometry="geometry", crs=4326)


async def compute_clusters(conn: AsyncConnection, *, scope: Scope, window: Window,
                           category: str | None, settings: AnalysisSettings,
                           client: Any = None) -> tuple[gpd.GeoDataFrame, np.ndarray,
                                                        gpd.GeoDataFrame]:
    """Hazards of the window, their cluster labels and the classified cluster polygons."""
    check_category(category)
    current = await load_hazards(conn, scope=scope, window=window, category=category)
    previous = await load_hazards(conn, scope=scope, window=window.previous, category=category)
    labels, clusters = await asyncio.to_thread(_cluster_frames, current, previous, settings,
                                               client)
    return current, labels, clusters


@contextlib.contextmanager
def dask_client(settings: AnalysisSettings) -> Iterator[Any]:
    """A ``distributed.Client`` of ``settings.dask_scheduler``, or None when unset."""
    if not settings.dask_scheduler:
        yield None
        return
    from distributed import Client

    try:
        client = Client(settings.dask_scheduler, timeout=10)
    except OSError as e:
        msg = (f"cannot reach the Dask scheduler at {settings.dask_scheduler} ({e}): start it "
               "(`dask scheduler` and `dask worker <address>`) or unset "
               "FIRETWIN_ANALYSIS_DASK_SCHEDULER to analyse in this process")
        raise InvalidInputError(msg) from e
    with client:
        yield client


def persistent_ids(old_ids: pd.Series, labels: np.ndarray) -> dict[int, int | None]:
    """For each new label, the old cluster id most of its members carried (None: new cluster).

    An old id goes to the new cluster with most members carrying it (ties: lowest label).

    >>> persistent_ids(pd.Series([7, 7, 7, None, 3, 3], dtype="Int64"),
    ...                np.array([0, 0, 1, 1, 2, -1]))
    {0: 7, 1: None, 2: 3}
    """
    frame = pd.DataFrame({"label": labels, "old": old_ids.to_numpy()})
    frame = frame[frame["label"] >= 0]
    result: dict[int, int | None] = {int(k): None for k in np.unique(frame["label"])}
    votes = (frame.dropna().groupby(["old", "label"]).size().rename("n").reset_index()
             .sort_values(["n", "label"], ascending=[False, True]))
    taken: set[int] = set()
    for old, label, _n in votes.itertuples(index=False):
        if int(old) in taken or result[int(label)] is not None:
            continue
        result[int(label)] = int(old)
        taken.add(int(old))
    return result


# ---------------------------------------------------------------------------- warnings

COMMUNITY_RECIPIENTS_SQL = (
    "SELECT u.id FROM firetwin.app_user u WHERE u.role = 'community_admin' AND u.active "
    "AND u.region_id = %(community)s "
    "UNION SELECT g.worker_user_id FROM firetwin.grid g WHERE g.id = ANY(%(grids)s) "
    "UNION SELECT ug.user_id FROM firetwin.user_grid ug JOIN firetwin.app_user u "
    "ON u.id = ug.user_id WHERE ug.grid_id = ANY(%(grids)s) AND u.role = 'grid_worker' "
    "AND u.active")
STREET_RECIPIENTS_SQL = (
    "SELECT u.id FROM firetwin.app_user u WHERE u.active AND ((u.role = 'street_officer' "
    "AND u.region_id = %(street)s) OR u.role = 'admin')")


async def notify_users(conn: AsyncConnection, *, kind: str, message: str, now: datetime,
                       recipients_sql: str, params: dict[str, Any]) -> int:
    """One notification (no hazard: it is about a cluster) per user ``recipients_sql`` selects.

    ``services.workflows.hazards.notify`` without the hazard id.
    """
    cur = await conn.execute(
        f"INSERT INTO firetwin.notification (user_id, hazard_id, kind, message, created_at) "
        f"SELECT DISTINCT u, NULL::integer, %(kind)s, %(msg)s, %(now)s FROM ({recipients_sql}) "
        f"r(u) WHERE u IS NOT NULL",
        {**params, "kind": kind, "msg": message, "now": now})
    return cur.rowcount


def _warning_text(c: dict[str, Any], region: str | None) -> str:
    cats = json.loads(c["categories"]) if isinstance(c["categories"], str) else c["categories"]
    mix = ", ".join(f"{vocab.CATEGORY_LABEL_ZH.get(k, k)} {v}" for k, v in
                    sorted(cats.items(), key=lambda kv: -kv[1]))
    where = region or "未知区域"
    if c["level"] == "red":
        return (f"红色预警（系统性风险）：{where} 隐患聚集区 #{c['id']} 共 {c['members']} 起、"
                f"{c['n_categories']} 类隐患（{mix}），密度 {c['density_per_km2']:.0f} 起/km²，"
                f"较上期增长：请街道统筹、上报区级。")
    label = vocab.CATEGORY_LABEL_ZH.get(c["dominant_category"], c["dominant_category"])
    return (f"黄色预警（同类隐患聚集）：{where} 隐患聚集区 #{c['id']} 共 {c['members']} 起，"
            f"以{label}类为主（{c['dominant_share']:.0%}）：请社区督办、7日内整改。")


async def raise_warnings(conn: AsyncConnection, clusters: list[dict[str, Any]], *,
                         members: dict[int, list[int]], now: datetime) -> list[dict[str, Any]]:
    """Record and send the warning of every yellow or red cluster not warned at that level."""
    sent = []
    for c in clusters:
        if c["level"] not in ("yellow", "red"):
            continue
        region = c["community_id"] if c["level"] == "yellow" else c["street_id"]
        cur = await conn.execute("SELECT name FROM firetwin.region WHERE id = %s", (region,))
        row = await cur.fetchone()
        message = _warning_text(c, row[0] if row else None)
        cur = await conn.execute(
            "INSERT INTO firetwin.hazard_warning (level, cluster_id, region_id, category, "
            "members, message, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (cluster_id, level) DO NOTHING RETURNING id",
            (c["level"], c["id"], region, c["dominant_category"], c["members"], message, now))
        row = await cur.fetchone()
        if row is None:
            continue  # already warned at this level
        cur = await conn.execute(
            "SELECT DISTINCT grid_id FROM firetwin.hazard WHERE id = ANY(%s) "
            "AND grid_id IS NOT NULL", (members[c["id"]],))
        grids = [r[0] for r in await cur.fetchall()]
        if c["level"] == "yellow":
            recipients_sql = COMMUNITY_RECIPIENTS_SQL
            params = {"community": c["community_id"], "grids": grids}
        else:
            recipients_sql = STREET_RECIPIENTS_SQL
            params = {"street": c["street_id"]}
        n = await notify_users(conn, kind=f"cluster_{c['level']}", message=message, now=now,
                               recipients_sql=recipients_sql, params=params)
        await conn.execute("UPDATE firetwin.hazard_warning SET recipients = %s WHERE id = %s",
                           (n, row[0]))
        sent.append({"id": row[0], "level": c["level"], "cluster_id": c["id"],
                     "region_id": region, "recipients": n, "message": message})
    return sent


# ---------------------------------------------------------------------------- refresh


async def _store_clusters(conn: AsyncConnection, hazards: gpd.GeoDataFrame, labels: np.ndarray,
                          clusters: gpd.GeoDataFrame, *, window: Window,
                          now: datetime) -> tuple[list[dict[str, Any]], dict[int, list[int]]]:
    ids = persistent_ids(hazards["cluster_id"], labels) if len(clusters) else {}
    for label, cid in ids.items():
        if cid is None:
            cur = await conn.execute("SELECT nextval('firetwin.hazard_cluster_id_seq')")
            ids[label] = int((await cur.fetchone())[0])
    # Keep the sequence ahead of every id in use.
    if ids:
        await conn.execute("SELECT setval('firetwin.hazard_cluster_id_seq', greatest("
                           "(SELECT last_value FROM firetwin.hazard_cluster_id_seq), %s))",
                           (max(ids.values()),))
    member_ids = hazards["id"].to_numpy()
    members: dict[int, list[int]] = {}
    for label, cid in ids.items():
        members[cid] = member_ids[labels == label].astype(int).tolist()
    await conn.execute("DELETE FROM firetwin.hazard_cluster")
    rows = []
    for c in clusters.to_dict("records"):
        cid = ids[int(c["label"])]
        rows.append({
            "id": cid, "kind": c["kind"], "level": c["level"], "members": int(c["members"]),
            "categories": json.dumps(c["categories"], ensure_ascii=False),
            "n_categories": int(c["n_categories"]), "dominant_category": c["dominant_category"],
            "dominant_share": float(c["dominant_share"]), "area_m2": float(c["area_m2"]),
            "density_per_km2": float(c["density_per_km2"]),
            "previous_members": int(c["previous_members"]),
            "growth": None if not np.isfinite(c["growth"]) else float(c["growth"]),
            "grid_id": None if pd.isna(c["grid_id"]) else int(c["grid_id"]),
            "wkb": shapely.to_wkb(c["geometry"]), "first": window.first, "last": window.last,
            "now": now})
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO firetwin.hazard_cluster (id, kind, level, members, categories, "
                "n_categories, dominant_category, dominant_share, area_m2, density_per_km2, "
                "previous_members, growth, window_from, window_to, computed_at, grid_id, "
                "community_id, street_id, geom) SELECT %(id)s, %(kind)s, %(level)s, "
                "%(members)s, %(categories)s::jsonb, %(n_categories)s, %(dominant_category)s, "
                "%(dominant_share)s, %(area_m2)s, %(density_per_km2)s, %(previous_members)s, "
                "%(growth)s, %(first)s, %(last)s, %(now)s, %(grid_id)s, g.community_id, "
                "g.street_id, ST_SetSRID(ST_GeomFromWKB(%(wkb)s), 4326) "
                "FROM (SELECT 1) one LEFT JOIN firetwin.grid g ON g.id = %(grid_id)s", rows)
    # hazard.cluster_id: members get their cluster, everyone else none.
    hid = [h for ms in members.values() for h in ms]
    cid = [c for c, ms in members.items() for _ in ms]
    await conn.execute(
        "UPDATE firetwin.hazard h SET cluster_id = NULL WHERE h.cluster_id IS NOT NULL "
        "AND NOT (h.id = ANY(%s))", (hid,))
    if hid:
        await conn.execute(
            "UPDATE firetwin.hazard h SET cluster_id = m.cid FROM unnest(%s::int[], %s::int[]) "
            "AS m(hid, cid) WHERE h.id = m.hid AND h.cluster_id IS DISTINCT FROM m.cid",
            (hid, cid))
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id, kind, level, members, categories, n_categories, dominant_category, "
        "dominant_share, density_per_km2, grid_id, community_id, street_id "
        "FROM firetwin.hazard_cluster ORDER BY id")
    return await cur.fetchall(), members


async def _store_hotspots(conn: AsyncConnection, frames: dict[str, gpd.GeoDataFrame], *,
                          res: int, permutations: int, window: Window, now: datetime) -> int:
    await conn.execute("DELETE FROM firetwin.hotspot_cell")
    stored = 0
    for category, f in frames.items():
        keep = f[(f["hazards"] > 0) | (f["hotspot"] != "ns")]
        if keep.empty:
            continue
        p_sim = keep["p_sim"].to_numpy(dtype=float)
        p_z_sim = keep["p_z_sim"].to_numpy(dtype=float)
        p_binom = keep["p_binom"].to_numpy(dtype=float)
        await conn.execute(
            "INSERT INTO firetwin.hotspot_cell (h3_cell, resolution, category, hazards, gi, z, "
            "p_sim, p_z_sim, p_binom, p_norm, p_fdr, hotspot, permutations, window_from, "
            "window_to, computed_at, geom, grid_id) SELECT c, %(res)s, %(cat)s, n, gi, z, ps, "
            "pzs, pb, pn, pf, "
            "hs, %(perm)s, "
            "%(first)s, %(last)s, %(now)s, g, firetwin.grid_for(ST_Centroid(g)) "
            "FROM unnest(%(c)s::bigint[], %(n)s::int[], %(gi)s::float8[], %(z)s::float8[], "
            "%(ps)s::float8[], %(pzs)s::float8[], %(pb)s::float8[], %(pn)s::float8[], "
            "%(pf)s::float8[], %(hs)s::text[], %(wkb)s::bytea[]) "
            "AS u(c, n, gi, z, ps, pzs, pb, pn, pf, hs, w), "
            "LATERAL (SELECT ST_SetSRID(ST_GeomFromWKB(u.w), 4326) AS g) geo",
            {"res": res, "cat": category, "perm": permutations, "first": window.first,
             "last": window.last, "now": now,
             "c": keep["h3_cell"].astype(int).tolist(), "n": keep["hazards"].astype(int).tolist(),
             "gi": keep["gi"].astype(float).tolist(), "z": keep["z"].astype(float).tolist(),
             "ps": [None if np.isnan(v) else float(v) for v in p_sim],
             "pzs": [None if np.isnan(v) else float(v) for v in p_z_sim],
             "pb": [None if np.isnan(v) else float(v) for v in p_binom],
             "pn": keep["p_norm"].astype(float).tolist(),
             "pf": keep["p_fdr"].astype(float).tolist(), "hs": keep["hotspot"].tolist(),
             "wkb": [shapely.to_wkb(g) for g in keep.geometry]})
        stored += len(keep)
    return stored


async def refresh_analysis(conn: AsyncConnection, *, now: datetime,
                           settings: AnalysisSettings | None = None,
                           window: Window | None = None) -> dict[str, Any]:
    """Recompute district-wide clusters and hot spots, store them, send new warnings.

    Runs in the caller's transaction: readers see the old or the new analysis, never a mix.
    """
    settings = settings or AnalysisSettings()
    window = window or window_of(None, None, now=now, days=settings.window_days)
    everything = Scope.everything()
    with dask_client(settings) as client:
        hazards, labels, clusters = await compute_clusters(
            conn, scope=everything, window=window, category=None, settings=settings,
            client=client)
        res = settings.resolution
        cells = await study_cells(conn, scope=everything, res=res)
        frames: dict[str, gpd.GeoDataFrame] = {}
        if len(cells) >= 3:
            points = await load_hazards(conn, scope=everything, window=window, res=res)
            groups = {"all": points, **dict(tuple(points.groupby("category")))}
            frames = await asyncio.to_thread(
                hotspot_frames, cells,
                {str(k): part["h3_cell"].to_numpy(dtype=np.int64) for k, part in groups.items()},
                client=client, k=settings.neighbour_k, permutations=settings.permutations,
                alpha=settings.alpha, seed=settings.seed, p_value=settings.p_value,
                conditional=settings.conditional)
    async with conn.transaction():
        stored, members = await _store_clusters(conn, hazards, labels, clusters, window=window,
                                                now=now)
        cells_stored = await _store_hotspots(conn, frames, res=res,
                                             permutations=settings.permutations, window=window,
                                             now=now)
        warnings = await raise_warnings(conn, stored, members=members, now=now)
    levels = pd.Series([c["level"] for c in stored], dtype=object)
    return {
        "window": {"from": window.first.isoformat(), "to": window.last.isoformat()},
        "hazards": len(hazards),
        "clusters": len(stored),
        "clustered_hazards": int((labels >= 0).sum()) if len(labels) else 0,
        "yellow_clusters": int((levels == "yellow").sum()),
        "red_clusters": int((levels == "red").sum()),
        "hotspot_cells": cells_stored,
        "hot_cells": {k: int((f["hotspot"] == "hot").sum()) for k, f in frames.items()},
        "warnings_sent": warnings,
    }


# ----------------------------------------------------------------- associations, trends


async def compute_associations(conn: AsyncConnection, *, scope: Scope, window: Window,
                               res: int, settings: AnalysisSettings) -> pd.DataFrame:
    """Pairwise co-occurrence of categories across H3 cells of the window."""
    hazards = await load_hazards(conn, scope=scope, window=window, res=res)
    if hazards.empty:
        return cooccurrence(pd.DataFrame())
    table = hazards.groupby(["h3_cell", "category"]).size().unstack(fill_value=0)
    return await asyncio.to_thread(cooccurrence, table,
                                   permutations=settings.association_permutations,
                                   alpha=settings.alpha, seed=settings.seed)


async def compute_trends(conn: AsyncConnection, *, scope: Scope, now: datetime,
                         category: str | None, months: int,
                         settings: AnalysisSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly counts (whole months before the current one) and their trend per category."""
    check_category(category)
    if not 3 <= months <= 120:
        msg = "months must be between 3 and 120"
        raise InvalidInputError(msg)
    this_month = pd.Timestamp(now).tz_convert("UTC").tz_localize(None).to_period("M")
    first_p, last_p = this_month - months, this_month - 1
    first = first_p.to_timestamp().tz_localize("UTC").to_pydatetime()
    last = this_month.to_timestamp().tz_localize("UTC").to_pydatetime()
    hazards = await load_hazards(conn, scope=scope, window=Window(first, last), category=category)
    table = monthly_counts(hazards["reported_at"], hazards["category"],
                           first=first_p.to_timestamp(), last=last_p.to_timestamp())
    if category is not None and category not in table.columns:
        table[category] = 0
    return table, trends(table, alpha=settings.alpha)


_AGG_KEY = {"grid": "g.id", "community": "g.community_id", "street": "g.street_id"}
_AGG_SQL = """
WITH h AS (
    SELECT h.id, h.category, h.status, h.cluster_id, h.grid_id
    FROM firetwin.hazard h
    WHERE h.status <> 'rejected' AND h.reported_at >= %(first)s AND h.reported_at < %(last)s
      AND {where}
), gk AS (
    SELECT g.id AS grid_id, {key} AS group_id FROM firetwin.grid g WHERE g.kind = 'ordinary'
), per_cat AS (
    SELECT gk.group_id, h.category, count(*) AS n
    FROM h JOIN gk ON gk.grid_id = h.grid_id GROUP BY 1, 2
), hot AS (
    SELECT gk.group_id, count(*) FILTER (WHERE c.hotspot = 'hot') AS hot_cells,
           count(*) FILTER (WHERE c.hotspot = 'cold') AS cold_cells
    FROM firetwin.hotspot_cell c JOIN gk ON gk.grid_id = c.grid_id
    WHERE c.category = 'all' GROUP BY 1
)
SELECT gk.group_id AS id, {name} AS name, count(h.id) AS hazards,
       count(h.id) FILTER (WHERE h.status NOT IN ('closed', 'rectified', 'rechecked')) AS open,
       count(h.id) FILTER (WHERE h.cluster_id IS NOT NULL) AS clustered,
       count(DISTINCT h.cluster_id) AS clusters,
       coalesce((SELECT jsonb_object_agg(pc.category, pc.n) FROM per_cat pc
                 WHERE pc.group_id = gk.group_id), '{{}}'::jsonb) AS by_category,
       coalesce(max(hot.hot_cells), 0) AS hot_cells, coalesce(max(hot.cold_cells), 0) AS cold_cells,
       {area} AS area_km2
FROM gk LEFT JOIN h ON h.grid_id = gk.grid_id LEFT JOIN hot ON hot.group_id = gk.group_id
WHERE gk.group_id IS NOT NULL {scope_groups}
GROUP BY gk.group_id ORDER BY hazards DESC, gk.group_id
"""


async def aggregates(conn: AsyncConnection, *, scope: Scope, group: str,
                     window: Window) -> list[dict[str, Any]]:
    """Hazards, open, clustered, clusters, per category, hot/cold cells and density per group."""
    if group not in GROUPS:
        msg = f"group {group!r} is not one of: {', '.join(GROUPS)}"
        raise InvalidInputError(msg)
    where, params = _scope_sql(scope)
    if group == "grid":
        name = "(SELECT name FROM firetwin.grid WHERE id = gk.group_id)"
        area = "(SELECT ST_Area(geom::geography) / 1e6 FROM firetwin.grid WHERE id = gk.group_id)"
    else:
        name = "(SELECT name FROM firetwin.region WHERE id = gk.group_id)"
        area = ("(SELECT ST_Area(geom::geography) / 1e6 FROM firetwin.region "
                "WHERE id = gk.group_id)")
    scope_groups = "" if scope.kind == "all" else "AND gk.grid_id = ANY(%(scope_grids)s)"
    sql = _AGG_SQL.format(where=where, key=_AGG_KEY[group], name=name, area=area,
                          scope_groups=scope_groups)
    cur = await conn.cursor(row_factory=dict_row).execute(
        sql, {**params, "first": window.first, "last": window.last})
    rows = await cur.fetchall()
    for r in rows:
        area_km2 = r["area_km2"]
        r["hazards_per_km2"] = round(r["hazards"] / area_km2, 3) if area_km2 else None
        r["area_km2"] = round(area_km2, 4) if area_km2 is not None else None
    return rows
