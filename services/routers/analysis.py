"""Hazard analysis: Gi* hot spots, clusters, associations, trends, aggregates; refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
from fastapi import APIRouter, Query, Request
from h3.api import basic_int as h3i
from shapely.geometry import mapping

from services.auth import Caller, CallerDep, Forbidden, Unauthorized
from services.deps import ConnDep
from services.errors import BadRequest
from services.routers.units import now_of
from services.workflows import hotspots as wf

router = APIRouter(prefix="/api/analysis", tags=["analysis"])

READ_ROLES = frozenset({"admin", "dispatcher", "planner", "street_officer", "community_admin",
                        "grid_worker", "inspector"})
REFRESH_ROLES = frozenset({"admin", "planner"})

From = Annotated[datetime | None, Query(alias="from", description="Window start (ISO 8601)")]
To = Annotated[datetime | None, Query(alias="to", description="Window end, exclusive")]
Category = Annotated[str | None, Query(description="A hazard category; all when omitted")]


def _reader(caller: Caller) -> None:
    if caller.scope.is_public:
        raise Unauthorized("sign in to read hazard analysis")
    if caller.role not in READ_ROLES or caller.scope.kind not in ("all", "grids"):
        raise Forbidden(f"your role ({caller.role}) may not read hazard analysis")


def _settings(request: Request) -> wf.AnalysisSettings:
    settings = getattr(request.app.state, "analysis_settings", None)
    if settings is None:
        settings = request.app.state.analysis_settings = wf.AnalysisSettings()
    return settings


def _window(request: Request, first: datetime | None, last: datetime | None) -> wf.Window:
    for name, value in (("from", first), ("to", last)):
        if value is not None and not 1900 <= value.year <= 2200:
            msg = f"{name} must be a date between 1900 and 2200, got {value.isoformat()}"
            raise BadRequest(msg)
    try:
        return wf.window_of(first, last, now=now_of(request), days=_settings(request).window_days)
    except OverflowError as e:
        msg = "the time window is out of range: give from/to between 1900 and 2200"
        raise BadRequest(msg) from e


def _clean(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _features(frame: gpd.GeoDataFrame, *, drop: tuple[str, ...] = ()) -> list[dict]:
    props = [c for c in frame.columns if c != "geometry" and c not in drop]
    records = frame[props].to_dict("records")
    return [{"type": "Feature", "geometry": mapping(geom),
             "properties": {c: _clean(v) for c, v in rec.items()}}
            for geom, rec in zip(frame.geometry, records, strict=True)]


def _window_json(w: wf.Window) -> dict[str, str]:
    return {"from": w.first.isoformat(), "to": w.last.isoformat()}


@router.get("/hotspots")
async def read_hotspots(
    request: Request, conn: ConnDep, caller: CallerDep, category: Category = None,
    first: From = None, last: To = None,
    resolution: Annotated[int, Query(description="H3 resolution: 7, 9 or 11")] = 9,
    include: Annotated[str, Query(description="occupied (default) | significant | all")] =
        "occupied",
) -> dict:
    """Getis-Ord Gi* per H3 cell (z, permutation p, FDR p, hot/cold/ns) as GeoJSON."""
    _reader(caller)
    if include not in ("occupied", "significant", "all"):
        raise wf.InvalidInputError(f"include {include!r} is not one of: occupied, significant, all")
    settings = _settings(request)
    window = _window(request, first, last)
    frame = await wf.compute_hotspots(conn, scope=caller.scope, window=window, category=category,
                                      res=resolution, settings=settings)
    counts = frame["hotspot"].value_counts().to_dict()
    if include == "occupied":
        frame = frame[(frame["hazards"] > 0) | (frame["hotspot"] != "ns")]
    elif include == "significant":
        frame = frame[frame["hotspot"] != "ns"]
    frame = frame.assign(h3=[h3i.int_to_str(int(c)) for c in frame["h3_cell"]])
    return {"type": "FeatureCollection", "features": _features(frame),
            "summary": {"cells": int(sum(counts.values())), "hot": int(counts.get("hot", 0)),
                        "cold": int(counts.get("cold", 0)), "resolution": resolution,
                        "category": category, "permutations": settings.permutations,
                        "alpha": settings.alpha, "window": _window_json(window),
                        "scope": caller.scope.kind}}


@router.get("/clusters")
async def read_clusters(request: Request, conn: ConnDep, caller: CallerDep,
                        category: Category = None, first: From = None,
                        last: To = None) -> dict:
    """Density clusters (DBSCAN in metres) of the hazards in scope, with hulls, as GeoJSON.

    Computed on request for the window and category; the stored district-wide clusters with
    persistent ids are the ``hazard-clusters`` layer (``POST /api/analysis/refresh``).
    """
    _reader(caller)
    settings = _settings(request)
    window = _window(request, first, last)
    hazards, labels, clusters = await wf.compute_clusters(
        conn, scope=caller.scope, window=window, category=category, settings=settings)
    if len(clusters):
        ids = hazards["id"].to_numpy()
        clusters = clusters.assign(hazard_ids=[ids[labels == lab].astype(int).tolist()
                                               for lab in clusters["label"]])
    return {"type": "FeatureCollection",
            "features": _features(clusters) if len(clusters) else [],
            "summary": {"hazards": len(hazards), "clusters": len(clusters),
                        "noise": int((labels < 0).sum()), "eps_m": settings.eps_m,
                        "min_samples": settings.min_samples, "category": category,
                        "window": _window_json(window), "scope": caller.scope.kind}}


@router.get("/associations")
async def read_associations(
    request: Request, conn: ConnDep, caller: CallerDep, first: From = None, last: To = None,
    resolution: Annotated[int, Query(description="H3 resolution of the units")] = 9,
) -> dict:
    """Co-occurrence of hazard categories across H3 cells: Pearson r, permutation p, FDR."""
    _reader(caller)
    settings = _settings(request)
    window = _window(request, first, last)
    pairs = await wf.compute_associations(conn, scope=caller.scope, window=window,
                                          res=resolution, settings=settings)
    rows = [{k: _clean(v) for k, v in r.items()} for r in pairs.to_dict("records")]
    return {"pairs": rows, "resolution": resolution,
            "permutations": settings.association_permutations,
            "window": _window_json(window), "scope": caller.scope.kind}


@router.get("/trends")
async def read_trends(
    request: Request, conn: ConnDep, caller: CallerDep, category: Category = None,
    months: Annotated[int | None, Query(description="Whole months back from this one")] = None,
) -> dict:
    """Monthly hazards per category, Mann–Kendall trend, Sen's slope and seasonal index."""
    _reader(caller)
    settings = _settings(request)
    table, result = await wf.compute_trends(conn, scope=caller.scope, now=now_of(request),
                                            category=category,
                                            months=months or settings.trend_months,
                                            settings=settings)
    if category is not None:
        table = table[[category]]
        result = result[result["category"] == category]
    return {"months": [m.strftime("%Y-%m") for m in table.index],
            "series": {c: table[c].astype(int).tolist() for c in table.columns},
            "trends": [{k: _clean(v) for k, v in r.items()} for r in result.to_dict("records")],
            "scope": caller.scope.kind}


@router.get("/aggregates")
async def read_aggregates(
    request: Request, conn: ConnDep, caller: CallerDep, first: From = None, last: To = None,
    group: Annotated[str, Query(description="grid | community | street")] = "community",
) -> dict:
    """Hazards, open, clustered, clusters, per category, hot cells and density per group."""
    _reader(caller)
    window = _window(request, first, last)
    rows = await wf.aggregates(conn, scope=caller.scope, group=group, window=window)
    return {"group": group, "rows": rows, "window": _window_json(window),
            "scope": caller.scope.kind}


@router.post("/refresh")
async def refresh(request: Request, conn: ConnDep, caller: CallerDep, first: From = None,
                  last: To = None) -> dict:
    """Recompute clusters, hot spots and cluster warnings district-wide; store the layers."""
    if caller.scope.is_public:
        raise Unauthorized("sign in to refresh the analysis")
    if caller.role not in REFRESH_ROLES:
        raise Forbidden(f"your role ({caller.role}) may not refresh the analysis")
    window = _window(request, first, last)
    return await wf.refresh_analysis(conn, now=now_of(request), settings=_settings(request),
                                     window=window)
