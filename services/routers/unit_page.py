"""The page a unit's QR code opens (一店一码): ``/units/{qr_token}``, public, no personal data.

Scanning the code on a shop's door shows its name, category and colour code, and how many of
its hazards were rectified and published, with a link to report a hazard there.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from services.deps import ConnDep
from services.routers.units import read_unit_by_qr

router = APIRouter(tags=["units"])

_COLOUR_CSS = {"red": "#d7191c", "yellow": "#e6b400", "green": "#1a9641"}


@router.get("/units/{token}", response_class=HTMLResponse)
async def unit_page(conn: ConnDep, token: str) -> HTMLResponse:
    """A small mobile page for the unit behind a QR code."""
    u = await read_unit_by_qr(conn, token)
    colour = _COLOUR_CSS.get(u["colour_code"], "#888")
    body = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(u["name"])} · FireTwin 一店一码</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem;max-width:32rem}}
.badge{{display:inline-block;padding:.3rem .8rem;border-radius:1rem;color:#fff;
background:{colour}}}</style></head>
<body><h1>{escape(u["name"])}</h1>
<p>类别 / category: {escape(str(u["category"]))}</p>
<p>消防安全码 / colour code: <span class="badge" id="colour">{escape(u["colour_label"])}</span></p>
<p>已整改并公示的隐患 / rectified hazards: <b id="rectified">{u["rectified_hazards_published"]}</b></p>
<p><a href="/api/public/reports">发现隐患？随手拍上报 / report a hazard</a></p>
</body></html>"""
    return HTMLResponse(body, headers={"Cache-Control": "public, max-age=300"})
