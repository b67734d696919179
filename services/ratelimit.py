"""A sliding-window rate limit shared by every API worker (rows in ``firetwin.rate_event``).

Used for anonymous public reports: a bucket per client (hashed address, never the address
itself) allows ``limit`` actions per ``window_s``. The check and the record happen in the
request's transaction under an advisory lock on the bucket, so concurrent requests of one
client cannot slip past the limit, and a request that fails for another reason is not counted.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from services.errors import FireSafetyError


class TooManyRequests(FireSafetyError):
    status_code = 429
    default_msg = "too many requests: try again later"

    def __init__(self, msg: str, *, retry_after_s: int) -> None:
        super().__init__(msg)
        self.retry_after_s = retry_after_s


def client_bucket(kind: str, address: str | None, secret: str) -> str:
    """A bucket name for a client address, keyed so the address cannot be read back."""
    digest = hashlib.blake2s(f"{address or 'unknown'}".encode(), key=secret.encode()[:32])
    return f"{kind}:{digest.hexdigest()[:32]}"


async def hit(conn: AsyncConnection, bucket: str, *, limit: int, window_s: float,
              now: datetime) -> None:
    """Record one action in ``bucket``; TooManyRequests when the window is full."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (bucket,))
    since = now - timedelta(seconds=window_s)
    cur = await conn.execute(
        "SELECT count(*), min(at) FROM firetwin.rate_event WHERE bucket = %s AND at > %s",
        (bucket, since))
    n, oldest = await cur.fetchone()
    if n >= limit:
        retry = max(1, math.ceil((oldest + timedelta(seconds=window_s) - now).total_seconds()))
        msg = (f"too many reports from this connection: at most {limit} per "
               f"{window_s / 3600:g} h; try again in {retry} s")
        raise TooManyRequests(msg, retry_after_s=retry)
    await conn.execute("INSERT INTO firetwin.rate_event (bucket, at) VALUES (%s, %s)",
                       (bucket, now))
    # keep the table small: forget this bucket's events older than the window
    await conn.execute("DELETE FROM firetwin.rate_event WHERE bucket = %s AND at <= %s",
                       (bucket, since))
