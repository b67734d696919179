"""The clock the workflow reads: real time in service, a settable one in tests.

Deadlines, escalations and history timestamps all come from ``app.state.clock``, so a test can
move time forward a week and watch a hazard escalate without waiting.

>>> from datetime import datetime, timedelta, UTC
>>> c = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
>>> c.advance(timedelta(days=3)).isoformat()
'2026-01-04T00:00:00+00:00'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved (tests, replays)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            msg = "FixedClock needs a timezone-aware datetime"
            raise ValueError(msg)
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> datetime:
        self._at = at
        return at

    def advance(self, delta: timedelta) -> datetime:
        self._at += delta
        return self._at
