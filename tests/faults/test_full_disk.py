"""A full disk for uploads: 507 Insufficient Storage, nothing half-stored, recovery by itself.

Two ways the disk is full:

* for real: the media folder is a 256 KiB tmpfs mounted for the test (the tests run as root, as
  CI does), no reserve is set, and the write itself fails with ENOSPC half-way through a file;
* by the reserve: ``FIRETWIN_MEDIA_RESERVE_BYTES`` refuses a file that would leave less than
  the reserve free (the media disk is often the database's disk too).

Held: the upload (and a public report carrying a photo) answers 507 with a message; no partial
file stays in the media folder, no attachment row and no hazard is stored; once there is room
again the same upload succeeds, with no restart.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import psycopg
import pytest

from services.main import create_app
from services.settings import APISettings
from tests.conftest import app_client, fresh_sibling_database
from tests.services import small_district as sd

pytestmark = pytest.mark.postgis


def jpeg(seed: int, size: int) -> bytes:
    """A distinct JPEG-looking body of ``size`` bytes (the API sniffs the magic bytes)."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    block = hashlib.sha256(str(seed).encode()).digest()
    return (head + block * (size // len(block) + 1))[:size]


@pytest.fixture(scope="module")
def disk_url(db_url: str) -> str:
    url = fresh_sibling_database(db_url, "_h9_disk")
    sd.build(url)
    return url


@pytest.fixture
def tiny_fs(tmp_path) -> Iterator:
    mnt = tmp_path / "media"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "firetwin-h9", str(mnt)],
                   check=True, capture_output=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@asynccontextmanager
async def api(url: str, media, reserve: int) -> AsyncIterator:
    app = create_app(APISettings(media_dir=media, media_reserve_bytes=reserve,
                                 escalation_sweep=False), database_url_override=url)
    async with app_client(app) as c:
        c.as_ = lambda who: sd.token(app.state.secret_key, who)  # type: ignore[attr-defined]
        yield c


def count(url: str, query: str, *args: object) -> int:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchone()[0]


def files(root) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


async def test_upload_to_a_full_tmpfs_answers_507_and_keeps_nothing(disk_url, tiny_fs):
    async with api(disk_url, tiny_fs, reserve=0) as c:
        staff = c.as_("grid_worker")
        rows = count(disk_url, "SELECT count(*) FROM firetwin.attachment")
        stored = []
        for i in range(10):  # 100 KB each: the third no longer fits in 256 KiB
            body = jpeg(i, 100_000)
            r = await c.post("/api/attachments", content=body, headers=staff)
            if r.status_code != 201:
                break
            stored.append(r.json()["id"])
        assert len(stored) == 2, stored
        assert r.status_code == 507, r.text
        assert "not enough storage" in r.json()["detail"]
        assert files(tiny_fs) == sorted(stored)  # the half-written third file is gone
        assert count(disk_url, "SELECT count(*) FROM firetwin.attachment") == rows + 2
        # A public report with a photo is refused whole: no hazard, no attachment row.
        hazards = count(disk_url, "SELECT count(*) FROM firetwin.hazard")
        r = await c.post("/api/public/reports", data={
            "lon": str(sd.IN_G1_OPEN[0]), "lat": str(sd.IN_G1_OPEN[1]),
            "category": "ebike", "subcategory": "ebike_corridor_parking",
            "description": "楼道里停满了电动车", "contact_phone": "13800001111"},
            files={"photo": ("p.jpg", jpeg(99, 100_000), "image/jpeg")})
        assert r.status_code == 507, r.text
        assert count(disk_url, "SELECT count(*) FROM firetwin.hazard") == hazards
        assert count(disk_url, "SELECT count(*) FROM firetwin.attachment") == rows + 2
        assert files(tiny_fs) == sorted(stored)
        # Room again (the operator grows the volume): the same upload succeeds, no restart.
        subprocess.run(["mount", "-o", "remount,size=1m", str(tiny_fs)],  # noqa: ASYNC221
                       check=True)
        r = await c.post("/api/attachments", content=jpeg(len(stored), 100_000), headers=staff)
        assert r.status_code == 201, r.text
        assert count(disk_url, "SELECT count(*) FROM firetwin.attachment") == rows + 3


async def test_upload_past_the_media_reserve_answers_507(disk_url, tmp_path):
    async with api(disk_url, tmp_path, reserve=2**62) as c:
        rows = count(disk_url, "SELECT count(*) FROM firetwin.attachment")
        r = await c.post("/api/attachments", content=jpeg(1000, 5_000),
                         headers=c.as_("grid_worker"))
        assert r.status_code == 507, r.text
        assert "nothing was stored" in r.json()["detail"]
        assert files(tmp_path) == []
        assert count(disk_url, "SELECT count(*) FROM firetwin.attachment") == rows
