"""Photos and evidence: upload once, reference by id in reports and transitions.

Files are content-addressed (``<sha256>.<ext>``) under the media directory; the body must be a
JPEG, PNG or WebP image (checked by its magic bytes, not its name) of at most
``MAX_BYTES``. Reading a file needs a signed-in caller, except the photos of published
hazards, which the public map shows.

A full disk answers 507 Insufficient Storage, both when the file system says so (ENOSPC,
EDQUOT: the partial file is removed) and when keeping the file would leave less than
``FIRETWIN_MEDIA_RESERVE_BYTES`` free. The file is written before its database row, so a
refused upload leaves no row behind (the transaction rolls back).
"""

from __future__ import annotations

import errno
import hashlib
import re
import secrets
import shutil
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from services.auth import CallerDep, Unauthorized
from services.deps import ConnDep
from services.errors import BadRequest, FireSafetyError, InsufficientStorage, NotFound

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


def write_file(path: Path, data: bytes, *, reserve_bytes: int) -> None:
    """Write ``data`` to ``path`` whole (a temporary file renamed), or raise 507 leaving nothing.

    ``reserve_bytes`` (0: none) is the free space the write must leave; the file system's own
    ENOSPC/EDQUOT half-way through the write is the same 507.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "ab" / "x.png"
    >>> write_file(p, b"png", reserve_bytes=0); p.read_bytes()
    b'png'
    >>> write_file(p.with_name("y.png"), b"png", reserve_bytes=2**62)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    services.errors.InsufficientStorage: not enough storage on the server ...; nothing was stored
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if reserve_bytes and shutil.disk_usage(path.parent).free - len(data) < reserve_bytes:
            raise InsufficientStorage
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage from e
        raise


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
        write_file(path, data, reserve_bytes=request.app.state.settings.media_reserve_bytes)
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
