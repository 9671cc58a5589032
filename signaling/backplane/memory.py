"""The embedded backplane: one process, the log in a list, delivery by a function call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from signaling.backplane.base import (
    Backplane,
    BroadcastReceiver,
    Checkpoint,
    Delivery,
    LogEntry,
    Receiver,
    Term,
)
from signaling.errors import BackplaneError


class MemoryBackplane(Backplane):
    """An ordered in-memory log; the one process is always the leader.

    The log survives a restart of the leader task (not of the process), so the driver's
    replay path runs here too. Like the Redis log it is trimmed: entries before both
    the newest snapshot and the outcome writer's cursor are dropped, since neither a new
    leader nor the writer can need them (``trimmed`` counts them).
    """

    def __init__(self) -> None:
        self.process_id = f"mem-{uuid.uuid4().hex[:8]}"
        self.log: list[LogEntry] = []
        self.trimmed = 0  # entries dropped from the front of ``log``
        self._appended = asyncio.Event()
        self._receiver: Receiver | None = None
        self._on_broadcast: BroadcastReceiver | None = None
        self._keys: set[str] = set()
        self._lease = asyncio.Lock()
        self.cursor: str | None = None
        self.outcomes_cursor: str | None = None
        self.snapshot: tuple[Mapping[str, Any], str] | None = None

    async def start(
        self,
        receiver: Receiver,
        on_gap: Callable[[], None] | None = None,
        on_broadcast: BroadcastReceiver | None = None,
    ) -> None:
        self._receiver = receiver
        self._on_broadcast = on_broadcast

    async def run(self) -> None:
        await asyncio.Future()  # nothing to listen to; lives until cancelled

    async def close(self) -> None:
        self._receiver = None
        self._on_broadcast = None

    async def append(self, record: Mapping[str, Any]) -> str:
        entry_id = f"0-{self.trimmed + len(self.log) + 1}"
        self.log.append(LogEntry(entry_id, record))
        self._appended.set()
        return entry_id

    async def broadcast(self, payload: str) -> None:
        if self._on_broadcast is not None:  # the one process is every process
            self._on_broadcast(payload)

    async def register(self, key: str) -> None:
        self._keys.add(key)

    async def unregister(self, key: str) -> None:
        self._keys.discard(key)

    async def acquire(self) -> Term:
        await self._lease.acquire()
        return _MemoryTerm(self)

    # -- used by the term --------------------------------------------------------------

    async def _read(self, after: str | None) -> AsyncIterator[list[LogEntry]]:
        seq = 0 if after is None else int(after.partition("-")[2])  # entries read so far
        while True:
            if seq < self.trimmed:
                raise BackplaneError("the log was trimmed past this reader")
            index = seq - self.trimmed
            if index < len(self.log):
                batch = self.log[index:]
                seq = self.trimmed + len(self.log)
                yield batch
            else:
                self._appended.clear()
                await self._appended.wait()

    def _trim(self) -> None:
        """Drop what is before both the snapshot and the outcome cursor."""
        if self.snapshot is None or self.outcomes_cursor is None:
            return
        floor = min(
            int(self.snapshot[1].partition("-")[2]), int(self.outcomes_cursor.partition("-")[2])
        )
        drop = floor - 1 - self.trimmed  # keep the entry at the floor itself
        if drop > 0:
            del self.log[:drop]
            self.trimmed += drop

    def _deliver(self, deliveries: Sequence[Delivery]) -> None:
        receiver = self._receiver
        if receiver is None:
            raise BackplaneError("backplane is closed")
        for d in deliveries:
            if d.key in self._keys:
                receiver(d.key, d.payload)


class _MemoryTerm(Term):
    def __init__(self, backplane: MemoryBackplane) -> None:
        self._bp = backplane
        self.lost = asyncio.get_running_loop().create_future()
        self._released = False

    async def load(self) -> Checkpoint:
        snap = self._bp.snapshot
        return Checkpoint(
            snapshot=snap[0] if snap else None,
            snapshot_id=snap[1] if snap else None,
            cursor=self._bp.cursor,
            outcomes_cursor=self._bp.outcomes_cursor,
        )

    def read(self, after: str | None) -> AsyncIterator[list[LogEntry]]:
        return self._bp._read(after)

    async def commit(self, deliveries: Sequence[Delivery], cursor: str) -> None:
        self._bp._deliver(deliveries)
        self._bp.cursor = cursor

    async def commit_outcomes(self, cursor: str) -> None:
        self._bp.outcomes_cursor = cursor
        self._bp._trim()

    async def save_snapshot(self, snapshot: Mapping[str, Any], entry_id: str) -> None:
        self._bp.snapshot = (snapshot, entry_id)
        self._bp._trim()

    async def release(self) -> None:
        if not self._released:
            self._released = True
            self._bp._lease.release()
