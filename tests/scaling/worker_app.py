"""``services.main:app`` with an ``x-worker-pid`` response header, so tests know which worker
answered (gunicorn hands connections to whichever worker accepts first)."""

from __future__ import annotations

import os

from services.main import app as firetwin_app


async def app(scope, receive, send):
    if scope["type"] != "http":
        await firetwin_app(scope, receive, send)
        return
    pid = str(os.getpid()).encode()

    async def send_with_pid(message):
        if message["type"] == "http.response.start":
            message = {**message,
                       "headers": [*message.get("headers", []), (b"x-worker-pid", pid)]}
        await send(message)

    await firetwin_app(scope, receive, send_with_pid)
