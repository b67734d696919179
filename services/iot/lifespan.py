"""What the IoT part adds to an API worker's life: the alarm hub, and (``firetwin run``) an
ingester in the same process.

``FIRETWIN_MQTT_INGEST_IN_API=1`` (set by ``firetwin run``) starts FireTwin's Mosquitto if needed
and runs one ingester in the API's event loop, on the API's clock, so ``make run`` ingests with
no second command. Production runs ``firetwin ingest`` processes instead (as many as wanted:
shared subscription).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.iot import broker
from services.iot.hub import AlarmHub
from services.iot.settings import MqttSettings

logger = logging.getLogger("firetwin.iot")


def hub_of(app: FastAPI) -> AlarmHub:
    """The worker's alarm hub (created on first use)."""
    hub = getattr(app.state, "alarm_hub", None)
    if hub is None:
        hub = AlarmHub(app.state.database_url, app.state.pool, app.state.road_graph)
        app.state.alarm_hub = hub
    return hub


@asynccontextmanager
async def iot_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the alarm hub (LISTEN) and, when asked, an in-process ingester; stop them after."""
    hub = hub_of(app)
    hub.start()
    ingester = None
    settings = MqttSettings()
    if settings.ingest_in_api:
        from services.iot.ingest import Ingester

        try:
            ep = await asyncio.to_thread(broker.endpoint, settings)
            ingester = Ingester(app.state.database_url, ep, mqtt=settings, clock=app.state.clock,
                                client_id=f"{settings.client_id}-api")
            await ingester.start()
            app.state.ingester = ingester
            logger.warning("ingesting sensor readings from %s", ep.url)
        except Exception:
            logger.exception("sensor ingestion not started")
            ingester = None
    try:
        yield
    finally:
        if ingester is not None:
            await ingester.stop()
        await hub.stop()
