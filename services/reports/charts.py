"""Small SVG charts and the SVG map of a report: no JavaScript, so HTML and PDF look the same.

The charts are drawn here from numbers (bars with their values written on them); the map from
the SVG path data PostGIS returned (``services.reports.data``).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

TIER_COLOUR = {"red": "#d7191c", "orange": "#fd8d3c", "yellow": "#fecc5c", "blue": "#2c7bb6"}
_POINT = re.compile(r'cx="([-\d.e]+)" cy="([-\d.e]+)"')


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def hbars(rows: list[tuple[str, float, str]], *, width: int = 460, unit: str = "",
          max_value: float | None = None, target: float | None = None) -> str:
    """Horizontal bars: (label, value, colour) per row, the value written after the bar."""
    row_h, label_w, pad = 20, 120, 40
    height = row_h * max(len(rows), 1) + 8
    top = max_value or max((v for _, v, _ in rows), default=0) or 1
    span = width - label_w - pad
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg" role="img">']
    for i, (label, value, colour) in enumerate(rows):
        y = 4 + i * row_h
        w = span * (value / top)
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
                   f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                   f'fill="{colour}"/><text x="{label_w + w + 4:.1f}" y="{y + 14}">'
                   f'{_num(value)}{unit}</text>')
    if target is not None:
        x = label_w + span * (target / top)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="#333" '
                   'stroke-dasharray="4 3"/>')
    out.append("</svg>")
    return "".join(out)


def paired_columns(labels: list[str], a: list[int], b: list[int], *, names: tuple[str, str],
                   colours: tuple[str, str] = ("#d7191c", "#2c7bb6"), width: int = 460,
                   height: int = 200) -> str:
    """Two columns per label (e.g. found / rectified per week), a legend, values on top."""
    left, bottom, top_pad = 30, 36, 18
    n = max(len(labels), 1)
    slot = (width - left - 6) / n
    bar = slot * 0.36
    top = max([*a, *b, 1])
    scale = (height - bottom - top_pad) / top
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg" role="img">',
           f'<line x1="{left}" x2="{width - 4}" y1="{height - bottom}" y2="{height - bottom}" '
           'stroke="#999"/>']
    for i, label in enumerate(labels):
        x = left + i * slot + slot * 0.12
        for j, (values, colour) in enumerate(((a, colours[0]), (b, colours[1]))):
            h = values[i] * scale
            bx = x + j * bar
            out.append(f'<rect x="{bx:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" '
                       f'height="{h:.1f}" fill="{colour}"/>'
                       f'<text class="v" x="{bx + bar / 2:.1f}" y="{height - bottom - h - 2:.1f}" '
                       f'text-anchor="middle">{values[i]}</text>')
        out.append(f'<text x="{x + bar:.1f}" y="{height - bottom + 14}" text-anchor="middle">'
                   f'{escape(label)}</text>')
    ly = height - 8
    for j, (name, colour) in enumerate(zip(names, colours, strict=True)):
        lx = left + j * 110
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{lx + 14}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def map_svg(m: dict[str, Any] | None, *, width: int = 640) -> str:
    """The report map: region outline, its communities or grids, roads, stations, hazards."""
    if m is None:
        return '<p class="hint">该区域没有边界数据，无法绘制地图。</p>'
    x, y, w, h = m["viewbox"]
    height = round(width * h / w) if w else width
    r = m["size"] / 160  # hazard dot radius, metres
    out = [f'<svg class="map" viewBox="{x:.1f} {y:.1f} {w:.1f} {h:.1f}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg" role="img">',
           f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#f4f1ea"/>']
    for a in m["layers"]["area"]:
        out.append(f'<path d="{a["svg"]}" fill="#ffffff" stroke="#9e9ac8" stroke-width="1.2" '
                   'vector-effect="non-scaling-stroke"/>')
    for a in m["layers"]["roads"]:
        out.append(f'<path d="{a["svg"]}" fill="none" stroke="#b3b3b3" stroke-width="0.8" '
                   'vector-effect="non-scaling-stroke"/>')
    for a in m["layers"]["region"]:
        out.append(f'<path d="{a["svg"]}" fill="none" stroke="#1f2a36" stroke-width="2.2" '
                   'vector-effect="non-scaling-stroke"/>')
    for p in m["layers"]["station"]:
        if got := _POINT.search(p["svg"]):
            cx, cy = float(got[1]), float(got[2])
            out.append(f'<rect x="{cx - r * 1.3:.1f}" y="{cy - r * 1.3:.1f}" '
                       f'width="{r * 2.6:.1f}" height="{r * 2.6:.1f}" fill="#08519c" '
                       f'stroke="#fff" stroke-width="{r * 0.4:.1f}"><title>'
                       f'{escape(p["label"] or "")}</title></rect>')
    for p in m["layers"]["hazard"]:
        if got := _POINT.search(p["svg"]):
            out.append(f'<circle cx="{got[1]}" cy="{got[2]}" r="{r:.1f}" '
                       f'fill="{TIER_COLOUR.get(p["key"], "#888")}" stroke="#fff" '
                       f'stroke-width="{r * 0.3:.1f}"/>')
    font = m["size"] / 45
    for lab in m["labels"]:
        out.append(f'<text x="{lab["x"]:.1f}" y="{lab["y"]:.1f}" font-size="{font:.1f}" '
                   f'text-anchor="middle" fill="#54278f" stroke="#fff" '
                   f'stroke-width="{font / 6:.1f}" paint-order="stroke">'
                   f'{escape(lab["text"])}</text>')
    out.append("</svg>")
    return "".join(out)
