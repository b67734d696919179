"""The app skeleton: /health against the real database, OpenAPI, one error shape."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from gis.errors import ConflictError, InvalidInputError
from services.errors import NotFound
from services.main import create_app
from tests.conftest import app_client

pytestmark = pytest.mark.postgis


@pytest.fixture
async def client(db_url):
    app = create_app(database_url_override=db_url)
    boom = APIRouter()

    @boom.get("/_test/not-found")
    async def _nf() -> None:
        raise NotFound("Hydrant 7 not found.")

    @boom.get("/_test/invalid")
    async def _inv() -> None:
        raise InvalidInputError("row 3: invalid geometry (Self-intersection)")

    @boom.get("/_test/conflict")
    async def _conf() -> None:
        raise ConflictError(user_msg="already exists")

    @boom.get("/_test/crash")
    async def _crash() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.include_router(boom)
    async with app_client(app) as c:
        yield c


async def test_health_reports_database_and_versions(client):
    r = await client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["postgis_version"].startswith("3.")
    assert body["pgrouting_version"].startswith("3.")
    from alembic.script import ScriptDirectory

    from gis.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()
    assert body["schema_revision"] == head


async def test_health_is_503_when_database_unreachable():
    app = create_app(database_url_override="postgresql://nobody:x@127.0.0.1:9/none")
    async with app_client(app) as c:
        r = await c.get("/health")
    assert r.status_code == 503
    assert r.json()["database"] == "unreachable"


async def test_openapi_document(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    assert r.json()["openapi"].startswith("3.")
    assert "/health" in r.json()["paths"]
    assert (await client.get("/docs")).status_code == 200


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/_test/not-found", 404, "Hydrant 7 not found."),
        ("/_test/invalid", 400, "row 3: invalid geometry (Self-intersection)"),
        ("/_test/conflict", 409, "already exists"),
        ("/_test/crash", 500, "internal error (check the server log)"),
    ],
)
async def test_one_error_shape(client, path, status, detail):
    r = await client.get(path)
    assert r.status_code == status
    assert r.json() == {"detail": detail}
    assert "hunter2" not in r.text
