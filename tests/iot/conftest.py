"""IoT fixtures: FireTwin's own Mosquitto (a private one per module, real process) and the small
test district with sensors, a station and a hot-work permit (committed, in a sibling database).
"""

from __future__ import annotations

import itertools
import os
import shutil
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from shapely.geometry import Point

from gis.bulk import copy_frame
from gis.settings import PROJECT_ROOT
from services.iot import broker
from services.iot.messages import device_key
from services.iot.settings import MqttSettings
from tests.conftest import fresh_sibling_database
from tests.services import small_district as sd

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
_n = itertools.count()

#: code -> (kind, lon, lat, unit_id, place_kind)
SENSORS = {
    "GAS-G1": ("gas", 120.5199, 30.0499, 1, None),  # in building B1 (unit U1), grid G1
    "RCD-G1": ("residual_current", 120.5201, 30.0501, 1, None),
    "SMK-G2": ("smoke", 120.57, 30.05, 2, None),  # grid G2
    "HYP-G3": ("hydrant_pressure", 120.65, 30.05, None, None),  # grid G3
    "EBK-G1": ("ebike_charging", 120.536, 30.021, None, "corridor"),
    "CBT-G1": ("cable_temperature", 120.5202, 30.0502, 1, None),
}


def key_of(code: str) -> bytes:
    return device_key(f"test-secret-{code}")


def build_sensors(url: str) -> dict[str, int]:
    """Sensors, a station and a hot-work permit beside GAS-G1; sensor id by code."""
    codes = list(SENSORS)
    with psycopg.connect(url) as conn:
        copy_frame(conn, "sensor", gpd.GeoDataFrame(
            {"id": range(1, len(codes) + 1), "code": codes,
             "kind": [SENSORS[c][0] for c in codes],
             "unit_id": pd.array([SENSORS[c][3] for c in codes], dtype="Int64"),
             "place_kind": [SENSORS[c][4] for c in codes],
             "device_key_hash": [key_of(c).hex() for c in codes],
             "location_note": ["一层"] * len(codes)},
            geometry=[Point(SENSORS[c][1], SENSORS[c][2]) for c in codes], crs=4326))
        copy_frame(conn, "station", gpd.GeoDataFrame(
            {"id": [1, 2], "code": ["ST1", "ST2"], "name": ["一号站", "二号站"],
             "kind": ["level1", "micro"]},
            geometry=[Point(120.53, 30.06), Point(120.66, 30.04)], crs=4326))
        copy_frame(conn, "hot_work_permit", gpd.GeoDataFrame(
            {"id": [1], "unit_id": [1], "applicant": ["焊工甲"], "work_kind": ["welding"],
             "starts_at": [T0 - timedelta(days=1)], "ends_at": [T0 + timedelta(days=30)]},
            geometry=[Point(120.5200, 30.0500)], crs=4326))
    return {c: i for i, c in enumerate(codes, start=1)}


@pytest.fixture(scope="module")
def iot_url(db_url):
    url = fresh_sibling_database(db_url, f"_iot{next(_n)}")
    sd.build(url)
    build_sensors(url)
    return url


@pytest.fixture(scope="module")
def mqtt():
    """A private Mosquitto for this module (own folder, own port), stopped afterwards."""
    home = PROJECT_ROOT / ".firetwin" / f"mosquitto-test-{os.getpid()}-{next(_n)}"
    settings = MqttSettings(home=home, port=18900, autosave_interval_s=1)
    ep = broker.ensure_running(settings)
    yield settings, ep
    broker.stop(settings)
    shutil.rmtree(home, ignore_errors=True)
