"""The one-map web page (``/``), its static assets (``/static``) and the legend (``/api/layers``).

The page is plain ES modules under ``web/static``; MapLibre GL JS and Chart.js are installed from
npm by ``scripts/make-web.sh`` into ``web/static/vendor`` and served from here, so nothing is
fetched from the internet at run time. ``GET /api/layers`` exposes the layer catalogue (titles,
legend swatches, visible fields) filtered by the caller's scope, the same filter the style and
the tiles apply.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from gis.settings import PROJECT_ROOT
from layers.catalogue import CATALOGUE, Layer
from layers.scope import fields_for, visible
from services.auth import CallerDep

logger = logging.getLogger("firetwin.web")

STATIC_DIR = PROJECT_ROOT / "web" / "static"
VENDOR_FILES = ("maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css",
                "chart.umd.min.js")
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["web"])


def static_files() -> StaticFiles:
    """The page's assets; warns when the npm libraries were not installed (``make web``)."""
    missing = [f for f in VENDOR_FILES if not (STATIC_DIR / "vendor" / f).is_file()]
    if missing:
        logger.warning("web/static/vendor lacks %s: run `make web` (scripts/make-web.sh)",
                       ", ".join(missing))
    return StaticFiles(directory=STATIC_DIR, check_dir=False)


@router.get("/", include_in_schema=False)
async def read_index() -> FileResponse:
    """The one-map page (views: map, ``#patrol``, ``#cockpit``)."""
    return FileResponse(STATIC_DIR / "index.html", headers=NO_CACHE)


def swatches(color: str | list[Any]) -> list[dict[str, Any]]:
    """Legend entries of a MapLibre colour expression: a colour per value, range or case.

    >>> swatches("#3182bd")
    [{'color': '#3182bd'}]
    >>> swatches(["match", ["get", "tier"], "red", "#d7191c", "blue", "#2c7bb6", "#888"])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'property': 'tier', 'value': 'red', 'color': '#d7191c'},
     {'property': 'tier', 'value': 'blue', 'color': '#2c7bb6'},
     {'property': 'tier', 'value': None, 'color': '#888'}]
    >>> swatches(["case", ["get", "high_rise"], "#9e9ac8", "#d9d9d9"])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'property': 'high_rise', 'value': True, 'color': '#9e9ac8'},
     {'property': 'high_rise', 'value': False, 'color': '#d9d9d9'}]
    >>> swatches(["interpolate", ["linear"], ["get", "score"], 0, "#1a9641", 80, "#d7191c"])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'property': 'score', 'from': 0, 'color': '#1a9641'},
     {'property': 'score', 'from': 80, 'color': '#d7191c'}]
    """
    if isinstance(color, str):
        return [{"color": color}]
    op = color[0]
    if op == "match":
        prop = color[1][1]
        pairs = color[2:-1]
        out = [{"property": prop, "value": pairs[i], "color": pairs[i + 1]}
               for i in range(0, len(pairs), 2)]
        return [*out, {"property": prop, "value": None, "color": color[-1]}]
    if op == "case" and len(color) == 4 and color[1][0] == "get":
        prop = color[1][1]
        return [{"property": prop, "value": True, "color": color[2]},
                {"property": prop, "value": False, "color": color[3]}]
    if op == "interpolate":
        prop = color[2][1]
        stops = color[3:]
        return [{"property": prop, "from": stops[i], "color": stops[i + 1]}
                for i in range(0, len(stops), 2)]
    return [{"color": "#888888"}]  # an expression the legend cannot summarise


def layer_entry(layer: Layer, fields: tuple[str, ...]) -> dict[str, Any]:
    """One layer of ``GET /api/layers``: what the legend, toggles and details panel need."""
    shown = set(fields)
    return {
        "id": layer.id,
        "title": layer.title,
        "title_zh": layer.title_zh,
        "description": layer.description,
        "geometry_type": layer.geometry_type,
        "access": str(layer.access),
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "legend": {"kind": layer.legend.kind, "label_zh": layer.legend.label_zh,
                   "swatches": swatches(layer.legend.color)},
        "fields": [{"name": f.name, "type": f.type, "title": f.title}
                   for f in layer.fields if f.name in shown],
    }


@router.get("/api/layers", tags=["layers"])
async def read_layers(caller: CallerDep) -> dict:
    """The layer catalogue the caller may see, with legend swatches and visible fields."""
    scope = caller.scope
    return {"role": caller.role,
            "layers": [layer_entry(la, fields_for(la, scope))
                       for la in CATALOGUE if visible(la, scope)]}
