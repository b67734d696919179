"""A signed-in user's notifications: assignments, escalations, supervision, department calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from psycopg.rows import dict_row

from services.auth import CallerDep, Unauthorized
from services.deps import ConnDep
from services.errors import NotFound

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.get("")
async def list_notifications(
    conn: ConnDep, caller: CallerDep, unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict:
    """The caller's notifications, newest first."""
    if caller.user_id is None:
        raise Unauthorized("sign in to read notifications")
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT n.id, n.hazard_id, h.code AS hazard_code, n.kind, n.message, n.created_at, "
        "n.read_at FROM firetwin.notification n LEFT JOIN firetwin.hazard h ON h.id = n.hazard_id "
        "WHERE n.user_id = %s" + (" AND n.read_at IS NULL" if unread else "")
        + " ORDER BY n.created_at DESC, n.id DESC LIMIT %s", (caller.user_id, limit))
    rows = await cur.fetchall()
    cur = await conn.execute(
        "SELECT count(*) FROM firetwin.notification WHERE user_id = %s AND read_at IS NULL",
        (caller.user_id,))
    return {"unread": (await cur.fetchone())[0], "items": rows}


@router.post("/{notification_id}/read")
async def mark_read(request: Request, conn: ConnDep, caller: CallerDep,
                    notification_id: int) -> dict:
    if caller.user_id is None:
        raise Unauthorized("sign in to read notifications")
    cur = await conn.execute(
        "UPDATE firetwin.notification SET read_at = coalesce(read_at, %s) "
        "WHERE id = %s AND user_id = %s RETURNING id",
        (request.app.state.clock.now(), notification_id, caller.user_id))
    if await cur.fetchone() is None:
        raise NotFound(f"notification {notification_id} not found")
    return {"id": notification_id, "read": True}
