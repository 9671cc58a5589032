"""Duty rota arithmetic: is an agent on shift at ``now``, and when does that next change.

``now`` is epoch seconds; shifts are in the centre's local time, a fixed UTC offset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from routing.model import SECONDS_PER_DAY, Shift

# 1970-01-01 was a Thursday; with Monday = 0 that is weekday 3.
_EPOCH_WEEKDAY = 3


def _weekday(day: int) -> int:
    return (day + _EPOCH_WEEKDAY) % 7


def on_duty(shifts: Iterable[Shift], now: float, utc_offset_s: float) -> bool:
    """True when ``now`` falls in one of ``shifts``; no shifts at all means always on duty."""
    shifts = tuple(shifts)
    if not shifts:
        return True
    local = now + utc_offset_s
    today = math.floor(local / SECONDS_PER_DAY)
    for day in (today - 1, today):
        base = day * SECONDS_PER_DAY
        for shift in shifts:
            if (
                _weekday(day) in shift.weekdays
                and base + shift.start_s <= local < base + shift.end_s
            ):
                return True
    return False


def next_change(shifts: Iterable[Shift], now: float, utc_offset_s: float) -> float:
    """The first shift boundary after ``now`` (epoch seconds), or ``inf`` if none."""
    local = now + utc_offset_s
    today = math.floor(local / SECONDS_PER_DAY)
    best = math.inf
    for day in range(today - 1, today + 8):
        base = day * SECONDS_PER_DAY
        for shift in shifts:
            if _weekday(day) not in shift.weekdays:
                continue
            for edge in (base + shift.start_s, base + shift.end_s):
                if local < edge < best:
                    best = edge
    return best - utc_offset_s
