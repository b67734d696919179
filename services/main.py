"""The FastAPI application: ``create_app(settings)`` builds it; ``app`` is for uvicorn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gis.db import database_url, new_pool
from gis.settings import DatabaseSettings
from services.auth import secret_key
from services.clock import OffsetClock, SystemClock
from services.errors import add_exception_handlers
from services.iot.lifespan import iot_lifespan
from services.ogc import LazyOgc, OgcService
from services.road_graph import RoadGraphState
from services.routers import (
    analysis,
    attachments,
    auth,
    coverage,
    hazards,
    health,
    indices,
    inspections,
    live,
    notifications,
    ogc_tiles,
    open311,
    patrol_lists,
    patrols,
    public,
    reports,
    risk,
    routing,
    sensors,
    siting,
    stats,
    tiles,
    unit_page,
    units,
    web,
)
from services.settings import APISettings
from services.workflows.hazard_rules import HazardSettings
from services.workflows.sweeper import run_forever

logger = logging.getLogger("firetwin")


def create_app(
    settings: APISettings | None = None,
    db_settings: DatabaseSettings | None = None,
    *,
    database_url_override: str | None = None,
) -> FastAPI:
    """Build the application. The database URL is resolved at start-up, not at import."""
    settings = settings or APISettings()
    db_settings = db_settings or DatabaseSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url_override or database_url(db_settings, start=False)
        pool = new_pool(url, db_settings)
        # Start even if the database is down: /health says 503 and the pool reconnects.
        await pool.open(wait=False)
        app.state.pool = pool
        # LISTEN and the tile change feed need a session: the server itself behind PgBouncer.
        session_url = (db_settings.database_direct_url if db_settings.pgbouncer_transaction_mode
                       else None) or url
        app.state.database_url = session_url
        base = settings.public_url or f"http://{settings.host}:{settings.port}"
        ogc.factory = lambda: OgcService(
            url, base_url=f"{base}/ogc", pool=pool, secret_key=app.state.secret_key,
            db=db_settings)
        ogc.service = None
        sweeper = None
        sweep_pool = pool
        if settings.escalation_sweep:
            if session_url != url:  # the sweep's session advisory lock needs a session
                sweep_pool = new_pool(session_url, db_settings, direct=True,
                                      max_size=app.state.hazard_settings.sweep_connections)
                await sweep_pool.open(wait=False)
            sweeper = asyncio.create_task(
                run_forever(sweep_pool, app.state.clock, app.state.hazard_settings))
        try:
            async with iot_lifespan(app):
                yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            if sweep_pool is not pool:
                await sweep_pool.close()
            await pool.close()

    app = FastAPI(
        title=settings.title,
        summary="Spatial GIS platform with digital-twin map services for grassroots fire safety",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db_settings = db_settings
    app.state.secret_key = secret_key(db_settings.home)
    app.state.clock = OffsetClock(settings.clock_at) if settings.clock_at else SystemClock()
    app.state.hazard_settings = HazardSettings()
    app.state.media_dir = settings.media_dir or (db_settings.home / "media")
    add_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(hazards.router)
    app.include_router(attachments.router)
    app.include_router(notifications.router)
    app.include_router(public.router)
    app.include_router(open311.router)
    app.include_router(tiles.router)
    app.add_middleware(tiles.TileFastPath)  # cached tiles without FastAPI's routing
    app.include_router(routing.router)
    app.include_router(coverage.router)
    app.include_router(patrols.router)
    app.include_router(ogc_tiles.router)
    app.include_router(patrol_lists.router)
    app.include_router(siting.router)
    app.include_router(units.router)
    app.include_router(unit_page.router)
    app.include_router(units.work_orders_router)
    app.include_router(inspections.router)
    app.include_router(stats.router)
    app.include_router(analysis.router)
    app.include_router(sensors.router)
    app.include_router(live.router)
    app.include_router(risk.router)
    app.include_router(indices.router)
    app.include_router(reports.router)
    app.include_router(web.router)
    app.state.road_graph = RoadGraphState()
    ogc = LazyOgc()
    app.mount("/ogc", ogc)
    app.mount("/static", web.static_files(), name="static")
    return app


app = create_app()
