"""Who may enter a room, and in which role (DESIGN.md "Security").

Signed-in staff enter any room (the first to enter opens it): an agent (lawyer,
mediator, notary) as its host, other staff (supervisors, admins) as a supervisor, who
monitors: hears everyone and is heard by nobody. The caller of
an answered call enters that call's room (``connected`` granted it to the connection
until ``ended``) as ``caller``, and may be the first. An invited party enters only the
room its room token was issued for, as ``party``, once it is open. A caller's own token
is for the queue: it admits to no room. A voicemail room (``V-<session>``) is the
waiting caller's alone: only the connection it was granted to (``voicemail_room``)
enters it, as ``caller``; staff do not (a message is heard from its ticket).
"""

from __future__ import annotations

from rooms.errors import BadState, NotAllowed
from rooms.model import Role, RoomKind, kind_of


def admit(
    room: str,
    *,
    staff: bool,
    granted: bool,
    token_room: str | None,
    is_open: bool,
    agent: bool = True,
) -> Role:
    """The role a connection enters ``room`` in; raises ``NotAllowed`` or ``BadState``.

    ``granted``: the connection was given this room (its call's); ``token_room``: the one
    room its token admits to (``None``: none); ``is_open``: someone opened it already;
    ``agent``: the staff member has an agent role.
    """
    if kind_of(room) is RoomKind.VOICEMAIL:
        if not granted:
            raise NotAllowed("a voicemail room is its caller's alone")
        return Role.CALLER
    if staff:
        return Role.HOST if agent else Role.SUPERVISOR
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
