"""Every role on every output path: REST list, CSV export, OGC API items, vector tiles.

One scope mechanism (``layers.scope.scope_condition``) serves them all; this test proves the
rows and the personal fields each role gets are the same on every path.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from datetime import UTC, datetime

import mapbox_vector_tile
import psycopg
import pytest

from services.clock import FixedClock
from services.main import create_app
from services.settings import APISettings
from tests.conftest import app_client, fresh_sibling_database
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + bytes(300)
ROLES = ("admin", "dispatcher", "planner", "street_officer", "street_officer_s2",
         "community_admin", "grid_worker", "grid_worker_g2", "unit_manager", "inspector",
         "public")
#: which of the hazards h1 (G1, unit U1), h2 (G2), h3 (G3), h4 (G1, closed, published) a role sees
EXPECTED = {
    "admin": "1234", "dispatcher": "1234", "planner": "1234", "street_officer": "124",
    "street_officer_s2": "3", "community_admin": "14", "grid_worker": "14",
    "grid_worker_g2": "2", "unit_manager": "1", "inspector": "124", "public": "4",
}
PERSONAL = {"admin": True, "dispatcher": True, "planner": False, "public": False}


def _tiles(z: int) -> list[tuple[int, int]]:
    """The z tiles covering the small district (lon 120.50–120.70, lat 30.00–30.10)."""
    n = 1 << z

    def xy(lon, lat):
        r = math.radians(lat)
        return (int((lon + 180) / 360 * n),
                int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n))

    (x0, y1), (x1, y0) = xy(120.5001, 30.0001), xy(120.6999, 30.0999)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


async def _load(url: str, media) -> dict[str, int]:
    app = create_app(APISettings(media_dir=media, escalation_sweep=False),
                     database_url_override=url)
    app.state.clock = FixedClock(T0)
    async with app_client(app) as api:
        admin = sd.token(app.state.secret_key, "admin")
        body = {"category": "electrical", "subcategory": "aged_cable", "tier": "blue",
                "title": "线路老化"}
        ids = []
        for at in (sd.IN_G1, sd.IN_G2, sd.IN_G3, sd.IN_G1_OPEN):
            r = await api.post("/api/hazards", json=body | {"lon": at[0], "lat": at[1]},
                               headers=admin)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        photo = (await api.post("/api/attachments", content=JPEG, headers=admin)).json()["id"]
        r = await api.post(f"/api/hazards/{ids[3]}/transitions",
                           json={"action": "fix_on_spot", "attachments": [photo]}, headers=admin)
        assert r.json()["published"] is True
    # the reporter's name and phone are personal data on every path
    with psycopg.connect(url) as c:
        c.execute("UPDATE firetwin.hazard SET reporter_name = '孙八', "
                  "reporter_phone = '13500000000'")
    return dict(zip("1234", ids, strict=True))


@pytest.fixture(scope="module")
def loaded(db_url, tmp_path_factory):
    url = fresh_sibling_database(db_url, "_access")
    sd.build(url)
    media = tmp_path_factory.mktemp("media")
    return url, media, asyncio.run(_load(url, media))


@pytest.fixture
async def world(loaded):
    url, media, ids = loaded
    app = create_app(APISettings(media_dir=media, escalation_sweep=False),
                     database_url_override=url)
    async with app_client(app) as api:
        yield api, app, ids


def _expected(world, role):
    ids = world[2]
    return {ids[k] for k in EXPECTED[role]}


@pytest.mark.parametrize("role", ROLES)
async def test_rest_list_and_csv_export(world, role):
    api, app, ids = world
    headers = sd.token(app.state.secret_key, role)
    r = await api.get("/api/hazards?limit=1000", headers=headers)
    if role == "public":
        assert r.status_code == 401
        return
    got = {i["id"] for i in r.json()["items"]}
    assert got == _expected(world, role)
    rows = list(csv.DictReader(io.StringIO(
        (await api.get("/api/hazards?limit=1000&format=csv", headers=headers)).text)))
    assert {int(x["id"]) for x in rows} == got
    phones = {x["reporter_phone"] for x in rows}
    assert phones == ({"13500000000"} if PERSONAL.get(role, True) else {"135****0000"})


@pytest.mark.parametrize("role", ROLES)
async def test_ogc_items(world, role):
    api, app, _ = world
    headers = sd.token(app.state.secret_key, role)
    r = await api.get("/ogc/collections/hazards/items?f=json&limit=1000", headers=headers)
    assert r.status_code == 200, r.text
    feats = r.json()["features"]
    assert {int(f["id"]) for f in feats} == _expected(world, role)
    for f in feats:
        assert ("reporter_name" in f["properties"]) == PERSONAL.get(role, True), role
    units = await api.get("/ogc/collections/units/items?f=json&limit=1000", headers=headers)
    if role == "public":
        assert units.status_code in (401, 403, 404)
    else:
        codes = {f["properties"]["code"] for f in units.json()["features"]}
        expected_units = {"admin": {"U1", "U2", "U3"}, "dispatcher": {"U1", "U2", "U3"},
                          "planner": {"U1", "U2", "U3"}, "street_officer": {"U1", "U2"},
                          "street_officer_s2": {"U3"}, "community_admin": {"U1"},
                          "grid_worker": {"U1"}, "grid_worker_g2": {"U2"},
                          "unit_manager": {"U1"}, "inspector": {"U1", "U2"}}[role]
        assert codes == expected_units


@pytest.mark.parametrize("role", ROLES)
async def test_vector_tiles(world, role):
    api, app, _ = world
    headers = sd.token(app.state.secret_key, role)
    got, keys = set(), set()
    for x, y in _tiles(12):
        r = await api.get(f"/tiles/hazards/12/{x}/{y}.mvt", headers=headers)
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200 and r.content:
            layer = mapbox_vector_tile.decode(r.content).get("hazards", {"features": []})
            for f in layer["features"]:
                got.add(f["id"])
                keys |= set(f["properties"])
    assert got == _expected(world, role)
    assert ("reporter_name" in keys) == PERSONAL.get(role, True)
