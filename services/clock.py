"""The clock the workflow reads: real time in service, a settable one in tests.

Deadlines, escalations and history timestamps all come from ``app.state.clock``, so a test can
move time forward a week and watch a hazard escalate without waiting. ``FIRETWIN_CLOCK_AT``
starts the service clock at a chosen instant (``make run`` uses the demo district's reference
date, so its open hazards are not all years overdue).

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


class OffsetClock:
    """Time running at real speed from a chosen start (a demo district's reference date).

    >>> from datetime import datetime, UTC
    >>> c = OffsetClock(datetime(2026, 6, 30, 16, tzinfo=UTC))
    >>> 0 <= (c.now() - datetime(2026, 6, 30, 16, tzinfo=UTC)).total_seconds() < 5
    True
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            msg = "OffsetClock needs a timezone-aware datetime"
            raise ValueError(msg)
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


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
