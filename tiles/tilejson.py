"""TileJSON 3.0.0 documents and the MapLibre style (v8), built from the layer catalogue.

Everything points at this server's own tiles: no basemap, glyph or sprite URL on the internet
(the style has no text layers, so it needs no glyphs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from layers.catalogue import Field, Layer
from layers.scope import Scope, fields_for

__all__ = ["style", "tilejson", "vector_layer"]

_FIELD_TYPES = {"integer": "Number", "number": "Number", "boolean": "Boolean"}
# Paint order: areas under lines under extrusions under points.
_ORDER = {"fill": 0, "line": 1, "fill-extrusion": 2, "circle": 3}
BACKGROUND = "#f2efe9"


def _field_doc(f: Field) -> str:
    kind = _FIELD_TYPES.get(f.type, "String")
    return f"{kind}: {f.title}" if f.title else kind


def vector_layer(layer: Layer, scope: Scope) -> dict[str, Any]:
    """The TileJSON ``vector_layers`` entry of a layer, with the fields the scope may see."""
    visible = set(fields_for(layer, scope))
    return {
        "id": layer.id,
        "description": layer.description,
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "fields": {f.name: _field_doc(f) for f in layer.fields if f.name in visible},
    }


def _center(bounds: Sequence[float], minzoom: int) -> list[float]:
    west, south, east, north = bounds
    return [round((west + east) / 2, 6), round((south + north) / 2, 6), max(minzoom, 12)]


def tilejson(
    layers: Sequence[Layer],
    *,
    tiles_url: str,
    bounds: Sequence[float],
    scope: Scope,
    name: str,
    description: str,
) -> dict[str, Any]:
    """A TileJSON 3.0.0 document for one or several layers served at ``tiles_url``."""
    minzoom = min(layer.minzoom for layer in layers)
    maxzoom = max(layer.maxzoom for layer in layers)
    return {
        "tilejson": "3.0.0",
        "name": name,
        "description": description,
        "version": "1.0.0",
        "attribution": "FireTwin",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [round(v, 6) for v in bounds],
        "center": _center(bounds, minzoom),
        "vector_layers": [vector_layer(layer, scope) for layer in layers],
    }


def _paint(layer: Layer) -> dict[str, Any]:
    legend = layer.legend
    if legend.kind == "circle":
        return {
            "circle-color": legend.color,
            "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 2, 14, 4, 18, 8],
            "circle-stroke-color": legend.outline or "#ffffff",
            "circle-stroke-width": 0.5,
        }
    if legend.kind == "line":
        return {
            "line-color": legend.color,
            "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.5, 16, 2, 20, 4],
        }
    if legend.kind == "fill":
        paint: dict[str, Any] = {"fill-color": legend.color, "fill-opacity": 0.45}
        if legend.outline:
            paint["fill-outline-color"] = legend.outline
        return paint
    return {
        "fill-extrusion-color": legend.color,
        "fill-extrusion-height": ["coalesce", ["get", "height_m"], 3],
        "fill-extrusion-base": 0,
        "fill-extrusion-opacity": 0.8,
    }


def style(
    layers: Sequence[Layer],
    *,
    tiles_url: str,
    bounds: Sequence[float],
    name: str = "FireTwin one-map",
    source: str = "firetwin",
) -> dict[str, Any]:
    """A MapLibre style v8 drawing the layers from one vector source at ``tiles_url``."""
    minzoom = min(layer.minzoom for layer in layers)
    maxzoom = max(layer.maxzoom for layer in layers)
    center = _center(bounds, minzoom)
    style_layers: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}
    ]
    for layer in sorted(layers, key=lambda la: _ORDER[la.legend.kind]):
        style_layers.append({
            "id": layer.id,
            "type": layer.legend.kind,
            "source": source,
            "source-layer": layer.id,
            "minzoom": layer.minzoom,
            "maxzoom": min(24, layer.maxzoom + 1),  # a style layer's maxzoom is exclusive
            "paint": _paint(layer),
            "metadata": {"firetwin:title": layer.title, "firetwin:legend": layer.legend.label_zh},
        })
    return {
        "version": 8,
        "name": name,
        "metadata": {"firetwin:layers": [layer.id for layer in layers]},
        "center": center[:2],
        "zoom": center[2],
        "sources": {
            source: {
                "type": "vector",
                "tiles": [tiles_url],
                "minzoom": minzoom,
                "maxzoom": maxzoom,
                "bounds": [round(v, 6) for v in bounds],
                "attribution": "FireTwin",
            }
        },
        "layers": style_layers,
    }
