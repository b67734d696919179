"""A report's HTML (Jinja2 template, SVG charts and map inline: one self-contained file)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from gis.vocab import CATEGORY_LABEL_ZH
from services.reports.charts import TIER_COLOUR, hbars, map_svg, paired_columns

TIER_ZH = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}
STATUS_ZH = {"reported": "已上报", "verified": "已核实", "rectifying": "整改中",
             "rectified": "已整改", "rechecked": "已复查", "closed": "已销号"}
KIND_ZH = {"weekly": "周度", "monthly": "月度"}
LEVEL_ZH = {"street": "街道", "community": "社区"}


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("services.reports", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                       lstrip_blocks=True)


def pct(v: float | None) -> str:
    """0.9712 → "97.1 %"; None → "—".

    >>> pct(0.9712), pct(None)
    ('97.1 %', '—')
    """
    return "—" if v is None else f"{v * 100:.1f} %"


def figures(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline figures of a report (key, label, text, against a target or not)."""
    t, tg, m = data["totals"], data["targets"], data["major_hazards"]
    rate, rec = t["rectification_rate"], t["recurrence_rate"]
    return [
        {"key": "hazards_found", "label": "发现隐患", "text": t["hazards_found"], "ok": None},
        {"key": "rectified_of_found", "label": "已整改", "text": t["rectified_of_found"],
         "ok": None},
        {"key": "rectification_rate", "label": "整改率", "text": pct(rate),
         "ok": None if rate is None else rate >= tg["rectification_rate"]},
        {"key": "overdue", "label": "期末超期", "text": t["overdue"], "ok": t["overdue"] == 0},
        {"key": "units_inspected", "label": "检查单位", "text": t["units_inspected"], "ok": None},
        {"key": "recurrence_rate", "label": "复发率", "text": pct(rec),
         "ok": None if rec is None else rec <= tg["recurrence_rate"]},
        {"key": "major_open", "label": "红/橙未整改", "text": m["total"], "ok": None},
        {"key": "alarms", "label": "物联网告警", "text": data["alarms"], "ok": None},
    ]


def render_html(data: dict[str, Any], *, generated_at: datetime) -> str:
    """The report as one HTML page (what the PDF prints)."""
    region, period = data["region"], data["period"]
    breakdown_title = "社区" if data["breakdown"]["group"] == "community" else "网格"
    rows = data["breakdown"]["rows"]
    tier_chart = hbars([(TIER_ZH[t], n, TIER_COLOUR[t]) for t, n in data["by_tier"].items()],
                       width=300)
    cats = data["by_category"][:8]
    category_chart = hbars([(CATEGORY_LABEL_ZH.get(c["category"], c["category"]), c["n"],
                             "#756bb1") for c in cats], width=300) if cats else \
        '<p class="hint">本期未发现隐患。</p>'
    trend = data["trend"]
    trend_chart = paired_columns([p["label"] for p in trend], [p["found"] for p in trend],
                                 [p["rectified"] for p in trend], names=("发现", "整改"),
                                 width=330)
    rated = [r for r in rows if r["rectification_rate"] is not None][:12]
    target = data["targets"]["rectification_rate"]
    rate_chart = hbars(
        [(r["name"] or "—", round(r["rectification_rate"] * 100, 1),
          "#31a354" if r["rectification_rate"] >= target else "#de2d26") for r in rated],
        width=330, unit=" %", max_value=100, target=target * 100) if rated else \
        '<p class="hint">本期没有可计算整改率的数据。</p>'
    return _env().get_template("report.html.j2").render(
        title=f"{region['name']} {period['label_zh']} 风险报告",
        region=region, period=period, grids=data["grids"], timezone=data["timezone"],
        as_of_text=data["as_of"][:16].replace("T", " "),
        kind_zh=KIND_ZH[period["kind"]], level_zh=LEVEL_ZH[region["level"]],
        figures=figures(data), targets=data["targets"], totals=data["totals"], pct=pct,
        map_svg=map_svg(data["map"]), tier_colours=[(t, TIER_COLOUR[t]) for t in TIER_ZH],
        tier_zh=TIER_ZH, status_zh=STATUS_ZH, tier_chart=tier_chart,
        category_chart=category_chart, trend=trend, trend_chart=trend_chart,
        rate_chart=rate_chart, breakdown_title=breakdown_title, breakdown=rows,
        major=data["major_hazards"], units=data["units"], top_units=data["top_units"],
        alarms=data["alarms"], generated_at=generated_at.isoformat(timespec="seconds"))
