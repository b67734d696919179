"""Report periods: ISO weeks (Monday–Sunday) and calendar months, as inclusive day ranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Kind = Literal["weekly", "monthly"]
KINDS: tuple[Kind, ...] = ("weekly", "monthly")


@dataclass(frozen=True)
class Period:
    """The days ``first`` to ``last`` (inclusive) of one weekly or monthly report."""

    kind: Kind
    first: date
    last: date

    @property
    def label_zh(self) -> str:
        """e.g. "2026 年第 27 周（06-29 — 07-05）" or "2026 年 6 月"."""
        if self.kind == "monthly":
            return f"{self.first.year} 年 {self.first.month} 月"
        year, week, _ = self.first.isocalendar()
        return f"{year} 年第 {week} 周（{self.first:%m-%d} — {self.last:%m-%d}）"

    def previous(self, n: int = 1) -> Period:
        """The period ``n`` before this one."""
        p = self
        for _ in range(n):
            p = containing(p.kind, p.first - timedelta(days=1))
        return p


def containing(kind: Kind, day: date) -> Period:
    """The week (Monday first) or month that holds ``day``.

    >>> containing("weekly", date(2026, 7, 1))
    Period(kind='weekly', first=datetime.date(2026, 6, 29), last=datetime.date(2026, 7, 5))
    >>> containing("monthly", date(2026, 2, 14)).last
    datetime.date(2026, 2, 28)
    """
    if kind == "weekly":
        first = day - timedelta(days=day.weekday())
        return Period(kind, first, first + timedelta(days=6))
    if kind == "monthly":
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return Period(kind, first, nxt - timedelta(days=1))
    msg = f"period must be one of {', '.join(KINDS)}, got {kind!r}"
    raise ValueError(msg)


def last_complete(kind: Kind, today: date) -> Period:
    """The latest week or month that ended before ``today``.

    >>> last_complete("weekly", date(2026, 7, 1)).first
    datetime.date(2026, 6, 22)
    >>> last_complete("monthly", date(2026, 7, 1))
    Period(kind='monthly', first=datetime.date(2026, 6, 1), last=datetime.date(2026, 6, 30))
    """
    return containing(kind, today).previous()
