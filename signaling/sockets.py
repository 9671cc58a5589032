"""This process's open signaling sockets, and the limits and ends the edge puts on them.

- At most ``per_address`` sockets are open at once from one client address on this
  process; the next upgrade is refused (429) before it is accepted. A town station's
  booths share one address, so the limit is generous (``HOTLINE_SOCKETS_PER_ADDRESS``).
- A staff socket belongs to its web session (``Identity.session_ref``). Signing out
  ends that session's sockets on every process: ``Sockets.revoke`` broadcasts a
  ``Revoked`` over the backplane and each process's ``Sockets.received`` closes its own.
  And each staff socket closes by itself when its session lapses (``expires_at``).
  Both close with 4003, after which the client must sign in again.

A revocation a process misses while its backplane connection is down is covered twice:
the backplane's gap has hello'd clients reconnect, which authenticates them afresh, and
the session's expiry still closes every socket it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aiohttp import web

from signaling.backplane.base import Backplane
from signaling.errors import BackplaneError
from signaling.identity import Identity

log = logging.getLogger(__name__)

CLOSE_SIGNED_OUT = 4003


@dataclass(frozen=True, slots=True)
class Revoked:
    """Broadcast to every process: the staff web session ``session_ref`` is over."""

    session_ref: str

    def serialize(self) -> str:
        return json.dumps({"t": "revoked", "session_ref": self.session_ref})

    @classmethod
    def parse(cls, payload: str) -> Revoked:
        """The broadcast ``payload`` as a ``Revoked``; ``ValueError`` if it is not one."""
        data = json.loads(payload)
        if not isinstance(data, dict) or data.get("t") != "revoked":
            raise ValueError(f"not a revocation: {payload[:80]!r}")
        ref = data.get("session_ref")
        if not isinstance(ref, str) or not ref:
            raise ValueError("a revocation names no session")
        return cls(ref)


class Sockets:
    """The sockets this process serves, by client address and by staff session."""

    def __init__(self, *, per_address: int, clock: Callable[[], float]) -> None:
        if per_address < 1:
            raise ValueError("per_address must be at least 1")
        self.per_address = per_address
        self.clock = clock
        self.open: dict[web.WebSocketResponse, Identity] = {}
        self._addresses: Counter[str] = Counter()
        self._sessions: dict[str, set[web.WebSocketResponse]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def reserve(self, address: str) -> bool:
        """Take one of ``address``'s places; ``False`` if it holds them all already."""
        if self._addresses[address] >= self.per_address:
            return False
        self._addresses[address] += 1
        return True

    def release(self, address: str) -> None:
        """Give back a place ``reserve`` took."""
        self._addresses[address] -= 1
        if self._addresses[address] <= 0:
            del self._addresses[address]

    @contextlib.contextmanager
    def serving(self, ws: web.WebSocketResponse, identity: Identity) -> Iterator[None]:
        """While ``ws`` is served: signing out its session ends it, and so does expiry."""
        self.open[ws] = identity
        ref = identity.session_ref
        if ref is not None:
            self._sessions.setdefault(ref, set()).add(ws)
        timer: asyncio.TimerHandle | None = None
        if identity.expires_at is not None:
            timer = asyncio.get_running_loop().call_later(
                max(0.0, identity.expires_at - self.clock()),
                self.end,
                ws,
                CLOSE_SIGNED_OUT,
                "session expired",
            )
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
            self.open.pop(ws, None)
            if ref is not None:
                holders = self._sessions.get(ref)
                if holders is not None:
                    holders.discard(ws)
                    if not holders:
                        del self._sessions[ref]

    async def revoke(self, backplane: Backplane, session_ref: str) -> None:
        """End the session's sockets here at once, and on every other process.

        If the broadcast fails the other processes' sockets live on until the session's
        expiry; the session itself is gone, so none of them can connect again.
        """
        self.end_session(session_ref)
        try:
            await backplane.broadcast(Revoked(session_ref).serialize())
        except BackplaneError as exc:
            log.warning("could not tell the other processes of a sign-out: %s", exc)

    def received(self, payload: str) -> None:
        """A broadcast from any process (the backplane's ``on_broadcast``)."""
        try:
            revoked = Revoked.parse(payload)
        except ValueError as exc:
            log.warning("ignoring a broadcast: %s", exc)
            return
        self.end_session(revoked.session_ref)

    def end_session(self, session_ref: str) -> int:
        """Close the sockets of one staff session on this process; how many there were."""
        holders = self._sessions.pop(session_ref, set())
        for ws in holders:
            self.end(ws, CLOSE_SIGNED_OUT, "signed out")
        return len(holders)

    def end(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        """Close ``ws`` (from a timer or a broadcast); the task is this registry's."""
        if ws.closed:
            return
        task = asyncio.get_running_loop().create_task(
            self._close(ws, code, reason), name=f"ws-end {code}"
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_all(self, code: int, reason: str) -> None:
        """Close every socket (shutdown)."""
        for ws in list(self.open):
            await self._close(ws, code, reason)

    async def aclose(self) -> None:
        """Stop closes still under way (shutdown, after ``close_all``)."""
        for task in list(self._closing):
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)

    @staticmethod
    async def _close(ws: web.WebSocketResponse, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await ws.close(code=code, message=reason.encode())
