"""Who may enter a room, and in which role (DESIGN.md "Security").

Signed-in staff enter any room as its host (the first to enter opens it). The caller of
an answered call enters that call's room (``connected`` granted it to the connection
until ``ended``) as ``caller``, and may be the first. An invited party enters only the
room its room token was issued for, as ``party``, once it is open. A caller's own token
is for the queue: it admits to no room.
"""

from __future__ import annotations

from rooms.errors import BadState, NotAllowed
from rooms.model import Role


def admit(room: str, *, staff: bool, granted: bool, token_room: str | None, is_open: bool) -> Role:
    """The role a connection enters ``room`` in; raises ``NotAllowed`` or ``BadState``.

    ``granted``: the connection was given this room (its call's); ``token_room``: the one
    room its token admits to (``None``: none); ``is_open``: someone opened it already.
    """
    if staff:
        return Role.HOST
    if granted:
        return Role.CALLER
    if token_room is None:
        raise NotAllowed("your token admits to no room")
    if token_room != room:
        raise NotAllowed("your token is for another room")
    if not is_open:
        # Only staff (or a call's caller) open rooms: an anonymous token cannot (capacity).
        raise BadState("the room is not open yet; try again")
    return Role.PARTY
