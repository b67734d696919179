"""Photos and evidence: upload once, reference by id in reports and transitions.

Files are content-addressed (``<sha256>.<ext>``) under the media directory; the body must be a
JPEG, PNG or WebP image (checked by its magic bytes, not its name) of at most
``MAX_BYTES``. Reading a file needs a signed-in caller, except the photos of published
hazards, which the public map shows.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from services.auth import CallerDep, Unauthorized
from services.deps import ConnDep
from services.errors import BadRequest, FireSafetyError, NotFound

router = APIRouter(prefix="/api/attachments", tags=["attachments"])

MAX_BYTES = 8 * 1024 * 1024
_ID = re.compile(r"^[0-9a-f]{64}\.(jpg|png|webp)$")
_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class PayloadTooLarge(FireSafetyError):
    status_code = 413
    default_msg = f"file too large: at most {MAX_BYTES // (1024 * 1024)} MB"


def sniff(data: bytes) -> str | None:
    """The image type of the bytes (jpg, png, webp) or None.

    >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff(b"GIF89a")
    ('png', None)
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def media_dir(request: Request) -> Path:
    return request.app.state.media_dir


async def store_attachment(request: Request, conn, data: bytes, user_id: int | None) -> dict:
    """Validate and store one image; return its id and size (idempotent per content)."""
    if not data:
        raise BadRequest("empty body: send the image bytes (Content-Type image/jpeg or png)")
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge
    ext = sniff(data)
    if ext is None:
        raise BadRequest("not a JPEG, PNG or WebP image")
    aid = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    path = media_dir(request) / aid[:2] / aid
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    await conn.execute(
        "INSERT INTO firetwin.attachment (id, content_type, size_bytes, uploaded_by_user_id) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (aid, _TYPES[ext], len(data), user_id))
    return {"id": aid, "content_type": _TYPES[ext], "size_bytes": len(data)}


@router.post("", status_code=201)
async def upload(request: Request, conn: ConnDep, caller: CallerDep) -> dict:
    """Upload a photo (raw body). Staff only; the public attaches photos to its report."""
    if caller.role == "public":
        raise Unauthorized("sign in to upload; public reports take a photo in the report itself")
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BYTES:
        raise PayloadTooLarge
    data = await request.body()
    return await store_attachment(request, conn, data, caller.user_id)


@router.get("/{attachment_id}")
async def download(request: Request, conn: ConnDep, caller: CallerDep,
                   attachment_id: str) -> Response:
    """The file; the public may read only photos of published hazards."""
    if not _ID.match(attachment_id):
        raise NotFound("no such attachment")
    if caller.role == "public":
        cur = await conn.execute(
            "SELECT 1 FROM firetwin.hazard WHERE published AND %s = ANY(photos) LIMIT 1",
            (attachment_id,))
        if await cur.fetchone() is None:
            raise NotFound("no such attachment")
    cur = await conn.execute("SELECT content_type FROM firetwin.attachment WHERE id = %s",
                             (attachment_id,))
    row = await cur.fetchone()
    path = media_dir(request) / attachment_id[:2] / attachment_id
    if row is None or not path.exists():
        raise NotFound("no such attachment")
    return FileResponse(path, media_type=row[0],
                        headers={"Cache-Control": "private, max-age=86400, immutable"})
