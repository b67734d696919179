"""The pygeoapi configuration, built from the layer catalogue.

One resource per catalogue layer, served by ``layers.provider.FireTwinProvider`` (pygeoapi's
PostgreSQL provider with the caller's scope applied). Storage CRS is EPSG:4326 with the
axis order of the data (lon, lat), and clients may ask for CRS84, EPSG:4326, EPSG:3857 and
EPSG:4490 (CGCS2000, China's national datum) — OGC API Features Part 2.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from layers.catalogue import CATALOGUE, Layer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
SUPPORTED_CRS = (
    CRS84,
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    "http://www.opengis.net/def/crs/EPSG/0/3857",
    "http://www.opengis.net/def/crs/EPSG/0/4490",
)
STORAGE_CRS = CRS84  # data are stored lon/lat (EPSG:4326 with x = lon); see module docstring
PROVIDER = "layers.provider.FireTwinProvider"
MAX_ITEMS = 10_000


def db_parameters(database_url: str) -> dict[str, Any]:
    """pygeoapi's ``data`` block (host, port, dbname, user, password) from a PostgreSQL URL."""
    u = urlsplit(database_url)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 5432,
        "dbname": (u.path or "/").lstrip("/") or "postgres",
        "user": unquote(u.username or ""),
        "password": unquote(u.password or ""),
        "search_path": ["layers", "firetwin", "public"],
    }


def _resource(layer: Layer, data: dict[str, Any], bbox: list[float],
              options: dict[str, Any]) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "type": "feature",
        "name": PROVIDER,
        "data": data,
        "options": options,
        "id_field": "id",
        "table": layer.view,
        "geom_field": "geom",
        "storage_crs": STORAGE_CRS,
        "crs": list(SUPPORTED_CRS),
        "editable": layer.writable,
    }
    if layer.time_field:
        provider["time_field"] = layer.time_field
    res: dict[str, Any] = {
        "type": "collection",
        "title": {"en": layer.title, "zh": layer.title_zh},
        "description": layer.description,
        "keywords": list(layer.keywords) or [layer.id],
        "links": [],
        "extents": {"spatial": {"bbox": bbox, "crs": CRS84}},
        "limits": {"default_items": 10, "max_items": MAX_ITEMS, "on_exceed": "throttle"},
        "providers": [provider],
    }
    return res


def build_config(
    database_url: str,
    *,
    base_url: str = "http://127.0.0.1:8000/ogc",
    bbox: list[float] | None = None,
    statement_timeout_ms: int = 30_000,
    connect_timeout_s: int = 5,
    pool_timeout_s: float = 5.0,
) -> dict[str, Any]:
    """The whole pygeoapi configuration for FireTwin's layers.

    The connection options are the API pool's (``gis.settings.DatabaseSettings``): the same
    statement timeout, connect timeout and wait for a pooled connection.
    """
    data = db_parameters(database_url)
    options = {"options": f"-c statement_timeout={int(statement_timeout_ms)}",
               "connect_timeout": int(connect_timeout_s),
               "pool_timeout": max(1, round(pool_timeout_s))}
    extent = bbox or [-180.0, -90.0, 180.0, 90.0]
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": 8000},
            "url": base_url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            "languages": ["en-US", "zh-CN"],
            "pretty_print": False,
            "limits": {"default_items": 10, "max_items": MAX_ITEMS, "on_exceed": "throttle"},
            "map": {"url": "", "attribution": "FireTwin"},
            "admin": False,
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"en": "FireTwin OGC API", "zh": "FireTwin 智慧消防 OGC 服务"},
                "description": {
                    "en": "Fire-safety layers: hazards, stations, sensors, risk, grids and more.",
                    "zh": "消防安全图层：隐患、消防站、感知设备、风险、网格等",
                },
                "keywords": {"en": ["fire safety", "hazards", "grid governance"]},
                "keywords_type": "theme",
                "terms_of_service": "https://www.apache.org/licenses/LICENSE-2.0",
                "url": base_url,
            },
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
            "provider": {"name": "FireTwin", "url": base_url},
            "contact": {"name": "FireTwin operators", "position": "GIS", "role": "pointOfContact"},
        },
        "resources": {layer.id: _resource(layer, data, extent, options) for layer in CATALOGUE},
    }
