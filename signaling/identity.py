"""Who is at the other end of a WebSocket, as the HTTP layer established it.

The signaling endpoint never authenticates anyone itself: the composition root passes
an ``Authenticate`` callable that reads the request (staff session cookie, a caller's
token or an invited party's room token) and returns an ``Identity`` or ``None``. The
one exception is a caller's resume token (``signaling.tokens``), which signaling
issued itself: it stands in for an expired caller token on reconnect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

AGENT_ROLES = frozenset({"agent", "lawyer", "mediator", "notary", "legal_aid"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """An authenticated WebSocket peer.

    ``kind='staff'`` is a signed-in staff member; they may take sessions if they have an
    ``agent_id`` and an agent role. ``session_ref`` names their web session (a hash of
    it, never the cookie) so that signing out ends its sockets on every process, and
    ``expires_at`` (epoch seconds) is when that session lapses and its sockets close.

    ``kind='caller'`` is anonymous, holding a signed token: ``subject`` is the token's
    subject (e.g. a visitor key or the hashed phone number), and ``user_id`` the same.
    A caller token admits to the queue only; ``room`` is the one media room an invited
    party's room token admits to (``None``: no room at all).
    """

    kind: Literal["staff", "caller"]
    user_id: str
    display_name: str
    agent_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    subject: str | None = None
    room: str | None = None
    session_ref: str | None = None
    expires_at: float | None = None

    # Authenticated by a resume token alone (its caller token had expired): the socket
    # may only take that caller's place back, with ``hello {resume_token}``.
    resume_only: bool = False

    @property
    def is_agent(self) -> bool:
        """A staff member who may sign in to take sessions."""
        return self.kind == "staff" and self.agent_id is not None and bool(self.roles & AGENT_ROLES)


Authenticate = Callable[[web.Request], Awaitable[Identity | None]]
"""Reads a request's session or token; ``None`` means refuse the upgrade with 401."""
