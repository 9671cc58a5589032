"""Who is at the other end of a WebSocket, as the HTTP layer established it.

The signaling endpoint never authenticates anyone itself: the composition root passes
an ``Authenticate`` callable that reads the request (staff session cookie, or a
caller's signed single-room token) and returns an ``Identity`` or ``None``.
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
    ``agent_id`` and an agent role. ``kind='caller'`` is an anonymous caller holding a
    signed token: ``subject`` is the token's subject (e.g. a visitor key or the hashed
    phone number) and ``session_id`` the session the token was issued for, if any.
    """

    kind: Literal["staff", "caller"]
    user_id: str
    display_name: str
    agent_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    subject: str | None = None
    session_id: str | None = None

    @property
    def is_agent(self) -> bool:
        """A staff member who may sign in to take sessions."""
        return self.kind == "staff" and self.agent_id is not None and bool(self.roles & AGENT_ROLES)


Authenticate = Callable[[web.Request], Awaitable[Identity | None]]
"""Reads a request's session or token; ``None`` means refuse the upgrade with 401."""
