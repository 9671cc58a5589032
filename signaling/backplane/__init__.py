"""Carrying routing records between processes: one ordered log, one leader, delivery.

``Backplane`` (in ``base``) is the interface; ``MemoryBackplane`` is the embedded
default for one process and ``RedisBackplane`` the scale-out one (a Redis Stream, a
lease, pub/sub per process). The driver in ``signaling.driver`` is written once against
the interface.
"""

from __future__ import annotations

from signaling.backplane.base import (
    Backplane,
    BroadcastReceiver,
    Checkpoint,
    Delivery,
    LogEntry,
    Receiver,
    Term,
    entry_order,
)
from signaling.backplane.memory import MemoryBackplane

__all__ = [
    "Backplane",
    "BroadcastReceiver",
    "Checkpoint",
    "Delivery",
    "LogEntry",
    "MemoryBackplane",
    "Receiver",
    "Term",
    "entry_order",
]
