"""The demo's fixed calendar: a five-year history ending on the reference date 2026-06-30.

Times are handled as int64 seconds since the Unix epoch (UTC) with ``-1`` for "never", and
converted to timezone-aware timestamps only when frames are built. Local time is China
Standard Time (UTC+8, no daylight saving), so a local day is a fixed 86,400 s slice.
Nothing here reads the clock: the data never depends on today's date.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import cache

import numpy as np
import pandas as pd

TZ = timezone(timedelta(hours=8))
REFERENCE_DATE = date(2026, 6, 30)
HISTORY_START = datetime(2021, 7, 1, tzinfo=TZ)
REF_END = datetime(2026, 7, 1, tzinfo=TZ)  # exclusive end of the reference day
START_S = int(HISTORY_START.timestamp())
REF_S = int(REF_END.timestamp())
MINUTE = 60
HOUR = 3600
DAY = 86_400
N_DAYS = (REF_S - START_S) // DAY
NEVER = -1

# 春节 (Spring Festival) dates inside and just before the history window.
SPRING_FESTIVALS = (
    date(2021, 2, 12),
    date(2022, 2, 1),
    date(2023, 1, 22),
    date(2024, 2, 10),
    date(2025, 1, 29),
    date(2026, 2, 17),
)
PROFILES = ("flat", "heating", "summer", "festival", "straw", "electrical")


def _day_dates() -> pd.DatetimeIndex:
    return pd.date_range(HISTORY_START.date(), periods=N_DAYS, freq="D")


@cache
def day_weights(profile: str) -> np.ndarray:
    """Relative weight of each day of the window for an event with this seasonal profile.

    ``heating`` follows Chifeng's heating season (15 Oct – 15 Apr), ``summer`` the cooling
    peak, ``festival`` the weeks around Spring Festival, ``straw`` the spring and autumn field
    burning, ``electrical`` is 35 % higher in winter than in summer (seed 002). All carry a
    rising trend (the platform gets used more every year) and quieter weekends.
    """
    days = _day_dates()
    month = days.month.to_numpy()
    dom = days.day.to_numpy()
    doy = (month - 1) * 31 + dom  # monotone within a year; good enough for windows
    if profile == "flat":
        w = np.ones(N_DAYS)
    elif profile == "heating":
        on = (doy >= 9 * 31 + 15) | (doy <= 3 * 31 + 15)
        w = np.where(on, 1.0, 0.04)
    elif profile == "summer":
        w = np.select([np.isin(month, (6, 7, 8)), np.isin(month, (5, 9))], [1.0, 0.3], 0.03)
    elif profile == "festival":
        ordinal = np.array([d.toordinal() for d in days.date])
        w = np.full(N_DAYS, 0.02)
        for f in SPRING_FESTIVALS:
            delta = ordinal - f.toordinal()
            w += np.where((delta > -25) & (delta < 20), np.exp(-0.5 * (delta / 8.0) ** 2), 0.0)
    elif profile == "straw":
        spring = (doy >= 2 * 31 + 15) & (doy <= 4 * 31 + 10)
        autumn = (doy >= 9 * 31 + 1) & (doy <= 10 * 31 + 20)
        w = np.where(spring | autumn, 1.0, 0.05)
    elif profile == "electrical":
        w = np.select(
            [np.isin(month, (11, 12, 1, 2)), np.isin(month, (6, 7, 8))], [1.35, 1.0], 1.15
        )
    else:
        msg = f"unknown seasonal profile {profile!r}"
        raise ValueError(msg)
    trend = np.linspace(0.75, 1.25, N_DAYS)
    weekend = np.where(days.day_of_week.to_numpy() >= 5, 0.6, 1.0)
    return w * trend * weekend


@cache
def _cdf(profile: str) -> np.ndarray:
    w = day_weights(profile)
    c = np.cumsum(w)
    return c / c[-1]


def sample_days(rng: np.random.Generator, profile: str, n: int) -> np.ndarray:
    """Day indices (0 = 2021-07-01) drawn from a seasonal profile."""
    return np.searchsorted(_cdf(profile), rng.random(n), side="right").astype(np.int64)


def working_hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after local midnight, mostly 08:00–18:00."""
    hours = np.clip(rng.normal(12.5, 2.6, n), 7.5, 20.5)
    return (hours * HOUR).astype(np.int64)


def any_hour(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after local midnight, peaking in the evening."""
    hours = np.mod(rng.normal(19.0, 5.0, n), 24.0)
    return (hours * HOUR).astype(np.int64)


def day_start(day_index: np.ndarray) -> np.ndarray:
    """Epoch seconds of local midnight of each day index."""
    return START_S + np.asarray(day_index, dtype=np.int64) * DAY


def add_working_days(t: np.ndarray, n: int) -> np.ndarray:
    """``t`` plus ``n`` working days (Mon–Fri), keeping the time of day; -1 stays -1."""
    t = np.asarray(t, dtype=np.int64)
    local = t + 8 * HOUR
    days = (local // DAY).astype("datetime64[D]")
    shifted = np.busday_offset(days, n, roll="forward").astype(np.int64)
    out = shifted * DAY + (local % DAY) - 8 * HOUR
    return np.where(t < 0, NEVER, out)


def timestamps(t: np.ndarray) -> pd.arrays.DatetimeArray:
    """Timezone-aware (UTC) timestamps from epoch seconds; -1 becomes NaT."""
    t = np.asarray(t, dtype=np.int64)
    out = pd.to_datetime(np.where(t < 0, 0, t), unit="s", utc=True)
    return out.where(t >= 0).array


def year_start(years: np.ndarray, month: int = 1) -> np.ndarray:
    """Epoch seconds of local midnight on the first of ``month`` in each year."""
    years = np.asarray(years, dtype=np.int64)
    starts = {
        int(y): int(datetime(int(y), month, 1, tzinfo=TZ).timestamp()) for y in np.unique(years)
    }
    return np.array([starts[int(y)] for y in years], dtype=np.int64)


def local_year(t: np.ndarray) -> np.ndarray:
    """Calendar year (local time) of epoch seconds."""
    return pd.to_datetime(np.asarray(t, dtype=np.int64) + 8 * HOUR, unit="s").year.to_numpy()
