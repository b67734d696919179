"""Health endpoint: is the database reachable, which PostGIS/pgRouting, which schema revision."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.deps import PoolDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    postgis_version: str | None = None
    pgrouting_version: str | None = None
    schema_revision: str | None = None
    detail: str | None = None


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def read_health(pool: PoolDep) -> Health | JSONResponse:
    """Liveness and readiness: 200 when the database answers, 503 otherwise."""
    try:
        async with asyncio.timeout(5), pool.connection(timeout=3) as conn:
            cur = await conn.execute(
                "SELECT postgis_lib_version(), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'pgrouting'), "
                "(SELECT version_num FROM firetwin.alembic_version LIMIT 1)"
            )
            postgis, pgr, rev = await cur.fetchone()
    except Exception:
        body = Health(status="degraded", database="unreachable", detail="database unavailable")
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})
    return Health(
        status="ok",
        database="ok",
        postgis_version=postgis,
        pgrouting_version=pgr,
        schema_revision=rev,
    )
