"""Agent presence: an enum and the table of allowed transitions.

Being *offered* a session is not a presence of its own: an AVAILABLE agent who is
ringing holds an offer (tracked by the engine) and is not free for another one.
"""

from __future__ import annotations

import enum

from routing.errors import IllegalTransition


class Presence(enum.StrEnum):
    """What an agent is doing, as far as routing is concerned."""

    AVAILABLE = "available"
    BREAK = "break"
    WRAP_UP = "wrap_up"
    IN_SESSION = "in_session"
    OFFLINE = "offline"


TRANSITIONS: dict[Presence, frozenset[Presence]] = {
    # Signing in puts an agent straight to work or on a break.
    Presence.OFFLINE: frozenset({Presence.AVAILABLE, Presence.BREAK}),
    Presence.AVAILABLE: frozenset({Presence.BREAK, Presence.IN_SESSION, Presence.OFFLINE}),
    Presence.BREAK: frozenset({Presence.AVAILABLE, Presence.OFFLINE}),
    # A session always ends in wrap-up (possibly of zero seconds), or in a disconnect.
    Presence.IN_SESSION: frozenset({Presence.WRAP_UP, Presence.OFFLINE}),
    Presence.WRAP_UP: frozenset({Presence.AVAILABLE, Presence.BREAK, Presence.OFFLINE}),
}


def check_transition(current: Presence, new: Presence) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> new`` is in the table."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"presence {current.value} -> {new.value} is not allowed")
