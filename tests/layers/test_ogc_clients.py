"""Real OGC clients against the live server: GDAL/OGR (Debian ogrinfo/ogr2ogr and pyogrio's
bundled GDAL) and OWSLib."""

from __future__ import annotations

import json
import shutil
import subprocess

import pyogrio
import pytest
from owslib.ogcapi.features import Features

from layers.catalogue import CATALOGUE

pytestmark = pytest.mark.postgis

PUBLIC_LAYERS = [layer.id for layer in CATALOGUE if layer.public_filter is not None]


def _gdal_env(token: str | None) -> dict:
    import os

    env = dict(os.environ, GDAL_HTTP_TIMEOUT="30", CPL_DEBUG="OFF")
    if token:
        env["GDAL_HTTP_HEADERS"] = f"Authorization: Bearer {token}"
    return env


def test_debian_ogrinfo_lists_every_collection(live_server, tokens):
    assert shutil.which("ogrinfo"), "gdal-bin is installed by make setup"
    out = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/ogc"],
                         capture_output=True, text=True, env=_gdal_env(tokens["admin"]),
                         timeout=120, check=True).stdout
    for layer in CATALOGUE:
        assert f": {layer.id}" in out, (layer.id, out)


def test_debian_ogr2ogr_reads_with_bbox_and_attribute_filter(live_server, tokens, ogc_conn,
                                                             tmp_path):
    dst = tmp_path / "red.geojson"
    subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(dst), f"OAPIF:{live_server}/ogc", "hazards",
         "-spat", "118.93", "42.21", "118.97", "42.24", "-where", "tier = 'red'"],
        env=_gdal_env(tokens["admin"]), capture_output=True, text=True, timeout=120, check=True,
    )
    got = {f["properties"]["code"] for f in json.loads(dst.read_text())["features"]}
    want = {r[0] for r in ogc_conn.execute(
        "SELECT code FROM firetwin.hazard WHERE tier = 'red' AND "
        "geom && ST_MakeEnvelope(118.93, 42.21, 118.97, 42.24, 4326)")}
    assert got == want and want


@pytest.mark.parametrize("collection", PUBLIC_LAYERS)
def test_pyogrio_reads_every_public_collection(live_server, ogc_conn, collection):
    df = pyogrio.read_dataframe(f"OAPIF:{live_server}/ogc", layer=collection)
    view = {layer.id: layer for layer in CATALOGUE}[collection]
    n = ogc_conn.execute(
        f"SELECT count(*) FROM layers.{view.view} WHERE {view.public_filter}").fetchone()[0]
    assert len(df) == n
    assert df.crs is not None and df.crs.to_epsg() in (4326, None)
    personal = {f.name for f in view.fields if f.personal}
    assert not personal & set(df.columns)


def test_pyogrio_attribute_filter_pushdown(live_server, tokens, ogc_conn):
    import os

    os.environ["GDAL_HTTP_HEADERS"] = f"Authorization: Bearer {tokens['admin']}"
    try:
        df = pyogrio.read_dataframe(f"OAPIF:{live_server}/ogc", layer="hazards",
                                    where="status = 'closed' AND category = 'ebike'",
                                    bbox=(118.90, 42.20, 118.96, 42.25))
    finally:
        del os.environ["GDAL_HTTP_HEADERS"]
    want = ogc_conn.execute(
        "SELECT count(*) FROM firetwin.hazard WHERE status = 'closed' AND category = 'ebike' "
        "AND geom && ST_MakeEnvelope(118.90, 42.20, 118.96, 42.25, 4326)").fetchone()[0]
    assert len(df) == want > 0


def test_owslib_features(live_server, tokens, ogc_conn):
    api = Features(f"{live_server}/ogc", headers={"Authorization": f"Bearer {tokens['admin']}"})
    ids = {c["id"] for c in api.collections()["collections"]}
    assert ids == {layer.id for layer in CATALOGUE}
    items = api.collection_items("hazards", bbox=[118.93, 42.21, 118.97, 42.24], limit=1000)
    want = ogc_conn.execute(
        "SELECT count(*) FROM firetwin.hazard WHERE "
        "geom && ST_MakeEnvelope(118.93, 42.21, 118.97, 42.24, 4326)").fetchone()[0]
    assert items["numberReturned"] == want
    q = api.collection_queryables("hazards")
    assert "tier" in q["properties"]
    one = api.collection_item("stations", 1)
    assert one["properties"]["name"] == "红山消防站"
