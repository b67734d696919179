"""Live alarms over Server-Sent Events: ``GET /api/live/alarms`` (signed-in staff, scoped).

Each event is ``id: <alarm id>``, ``event: alarm`` and one JSON object (``alarms.alarm_message``:
sensor, event, level, hazard, nearest stations, hot work nearby). A client that reconnects with
``Last-Event-ID`` (or ``?since=<id>``) first gets the alarms of its scope raised after that id.
The public gets 401; a caller sees only alarms whose grid/unit its scope allows.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from services.auth import CallerDep, Unauthorized
from services.iot.alarms import alarm_message
from services.iot.lifespan import hub_of

router = APIRouter(prefix="/api/live", tags=["live"])

KEEPALIVE_S = 15.0
REPLAY_MAX = 500


def _event(msg: dict) -> bytes:
    return b"id: %d\nevent: alarm\ndata: %s\n\n" % (msg["id"], orjson.dumps(msg, default=str))


@router.get("/alarms", response_class=StreamingResponse)
async def read_live_alarms(
    request: Request,
    caller: CallerDep,
    last_event_id: Annotated[str | None, Header()] = None,
    since: Annotated[int | None, Query(ge=0, description="Replay alarms after this id.")] = None,
) -> StreamingResponse:
    """Alarms as they are raised (text/event-stream), in the caller's scope."""
    if caller.role == "public":
        msg = "sign in: live alarms are for staff"
        raise Unauthorized(msg)
    if since is None and last_event_id is not None and last_event_id.isdigit():
        since = int(last_event_id)
    hub = hub_of(request.app)
    sub = hub.subscribe(caller.scope)
    replay: list[dict] = []
    if since is not None:
        async with request.app.state.pool.connection(timeout=10) as conn:
            cur = await conn.execute(
                "SELECT id FROM firetwin.sensor_alarm WHERE id > %s ORDER BY id LIMIT %s",
                (since, REPLAY_MAX))
            for (aid,) in await cur.fetchall():
                m = await alarm_message(conn, aid, road_graph=hub.road_graph,
                                        with_stations=False)
                if m and caller.scope.allows(grid_id=m["grid_id"], unit_id=m["unit_id"]):
                    replay.append(m)

    async def stream():
        try:
            yield b"retry: 3000\n: connected\n\n"
            replayed = {m["id"] for m in replay}
            for m in replay:
                yield _event(m)
            while True:
                try:
                    m = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        break
                    yield b": keep-alive\n\n"
                    continue
                if m["id"] not in replayed:
                    yield _event(m)
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
