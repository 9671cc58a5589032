"""The backplane interface.

Every process (a *node*) appends records to one ordered log and receives the messages
addressed to the connections it holds. Exactly one process at a time holds a *term*
(the lease) and runs the routing engine over the log; everything it does to the world
goes through its term, so a process that has lost the lease can no longer act::

    node:   append(record) ─────────────► log ─────► term.read()   (the leader)
    node:   receiver(key, payload) ◄───── term.commit(deliveries, cursor)

``commit`` also records how far the leader has acted (the *cursor*), and
``commit_outcomes`` how far session outcomes have been written to the database, so a
new leader replays the log silently up to those points and acts only after them.

Besides the log, ``broadcast`` gives a payload to every process at once, outside the
log and the leader (a staff session signed out: every process closes its sockets).
Like deliveries it is at most once; a process that may have missed some is told
through ``on_gap``.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Receiver = Callable[[str, str], None]
"""Called with (connection key, serialized server message) for each local delivery."""

BroadcastReceiver = Callable[[str], None]
"""Called with each payload any process ``broadcast`` (this one's included)."""


def entry_order(entry_id: str) -> tuple[int, int]:
    """Sort key of a log entry id (``"<ms>-<seq>"``, as Redis Streams spell them)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: str
    record: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A serialized server message for whichever process holds connection ``key``."""

    key: str
    payload: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a new leader starts: a snapshot (and the entry it covers) and cursors."""

    snapshot: Mapping[str, Any] | None
    snapshot_id: str | None
    cursor: str | None
    outcomes_cursor: str | None


class Term(abc.ABC):
    """One leadership term. ``lost`` completes when the lease can no longer be trusted."""

    lost: asyncio.Future[None]

    @abc.abstractmethod
    async def load(self) -> Checkpoint: ...

    @abc.abstractmethod
    def read(self, after: str | None) -> AsyncIterator[list[LogEntry]]:
        """Batches of entries after ``after`` (``None``: from the start), forever."""

    @abc.abstractmethod
    async def commit(self, deliveries: Sequence[Delivery], cursor: str) -> None:
        """Deliver messages and advance the acted-upon cursor; raises ``LeaseLost``."""

    @abc.abstractmethod
    async def commit_outcomes(self, cursor: str) -> None:
        """Every outcome produced up to ``cursor`` is in the database."""

    @abc.abstractmethod
    async def save_snapshot(self, snapshot: Mapping[str, Any], entry_id: str) -> None: ...

    @abc.abstractmethod
    async def release(self) -> None:
        """Give the lease up (idempotent); another process may take over at once."""


class Backplane(abc.ABC):
    """What the driver needs from the world outside this process."""

    process_id: str

    @abc.abstractmethod
    async def start(
        self,
        receiver: Receiver,
        on_gap: Callable[[], None] | None = None,
        on_broadcast: BroadcastReceiver | None = None,
    ) -> None:
        """Connect; ``receiver`` gets this process's deliveries from now on, and
        ``on_broadcast`` every process's broadcasts.

        ``on_gap`` is called when deliveries may have been lost (the backplane's
        connection dropped and came back): the node should have its clients resume.
        """

    @abc.abstractmethod
    async def run(self) -> None:
        """Listen for deliveries until cancelled (the owner runs this as a task)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def wait_ready(self) -> None:  # noqa: B027 - an optional hook, ready by default
        """Until deliveries to this process can arrive (after ``start`` and ``run``)."""

    @abc.abstractmethod
    async def append(self, record: Mapping[str, Any]) -> str:
        """Append one record to the log; returns its entry id."""

    @abc.abstractmethod
    async def broadcast(self, payload: str) -> None:
        """Give ``payload`` to the ``on_broadcast`` of every process, this one's too."""

    @abc.abstractmethod
    async def register(self, key: str) -> None:
        """Deliveries for ``key`` come to this process from now on."""

    @abc.abstractmethod
    async def unregister(self, key: str) -> None:
        """Stop deliveries for ``key`` (unless another process has registered it since)."""

    @abc.abstractmethod
    async def acquire(self) -> Term:
        """Wait until this process holds the lease, and return the term."""
