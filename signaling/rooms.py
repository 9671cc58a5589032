"""Media rooms over the signaling socket: what the Node asks of whoever runs the rooms.

Signaling does not import ``media/`` (DESIGN.md: signaling may import routing and cases
only). The composition root gives ``setup_signaling`` a ``RoomService`` built on the SFU
(``hotline.rooms.MediaRooms``); the ``Node`` turns room messages into calls on it:

- ``join_room``  → ``RoomService.join(peer, room, sdp)``, whose result (the SDP answer)
  goes back as ``room_joined``;
- ``leave_room`` → ``RoomService.leave``, then ``room_left``;
- ``mute``       → ``RoomService.mute``; ``set_recording`` → ``RoomService.set_recording``;
  ``hold`` → ``RoomService.hold``;
- ``get_room_stats`` → ``RoomService.stats``, each result sent as ``room_stats``;
- the socket closing → ``RoomService.disconnected(peer)`` (leave every room).

Server re-offers go the other way: the service calls ``peer.renegotiate(room, sdp)``,
which sends ``room_offer`` with a sequence number and waits for the client's
``room_answer`` with the same number. Notices (``muted``, ``recording_started`` …) are
sent with ``peer.send``. A service refuses with ``RoomRefused(code, detail)``, which the
Node sends as ``room_error``; nothing else a service raises reaches the client.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Protocol

from signaling import protocol as p
from signaling.errors import SignalingError
from signaling.identity import Identity


class RoomRefused(SignalingError):
    """A room message the service will not carry out; sent as ``room_error``."""

    def __init__(self, code: p.RoomErrorCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail


class RoomPeer(Protocol):
    """One WebSocket as a room participant, as the service sees it."""

    @property
    def participant_id(self) -> str: ...

    @property
    def identity(self) -> Identity: ...

    def granted(self, room: str) -> bool:
        """Whether this connection was given ``room`` (the room of its call)."""
        ...

    def send(self, msg: p.ServerMessage) -> None: ...

    async def renegotiate(self, room: str, sdp: str) -> str: ...


class RoomService(Protocol):
    """Runs the rooms (the SFU); implemented in the composition root."""

    async def join(self, peer: RoomPeer, room: str, sdp: str) -> str:
        """Admit ``peer`` from its SDP offer; return the SDP answer."""
        ...

    async def leave(self, peer: RoomPeer, room: str) -> None: ...

    async def mute(
        self, peer: RoomPeer, room: str, participant: str, kind: p.MediaKind, muted: bool
    ) -> None: ...

    async def set_recording(self, peer: RoomPeer, room: str, on: bool) -> None: ...

    async def hold(self, peer: RoomPeer, room: str, on: bool) -> None:
        """The host puts the room's caller or parties on hold (``on``) or back."""
        ...

    async def stats(self, peer: RoomPeer, room: str) -> list[p.RoomStats]:
        """Quality per participant (``room_stats``): staff in the room, supervisors, admins."""
        ...

    async def disconnected(self, peer: RoomPeer) -> None:
        """The socket closed: leave every room ``peer`` is in."""
        ...


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def participant_id(identity: Identity) -> str:
    """A participant's id in every room: stable across reconnects, safe in SDP and paths.

    ``staff-<user id>`` or ``caller-<token subject>``; joining again under the same id is a
    reconnect (the old peer connection is replaced).
    """
    raw = f"{identity.kind}-{identity.user_id}"
    return _UNSAFE.sub("_", raw)[:64]


class RoomSession:
    """The room side of one connection: its participant id and pending re-offers."""

    def __init__(self, identity: Identity, send: _Send) -> None:
        self._identity = identity
        self._send = send
        self._participant_id = participant_id(identity)
        self._seq = itertools.count(1)
        self._pending: dict[tuple[str, int], asyncio.Future[str]] = {}
        self.rooms: set[str] = set()
        # Rooms this connection may enter because of what it is part of (the room of a
        # call it is connected to), on top of what its identity admits it to.
        self.grants: set[str] = set()

    @property
    def participant_id(self) -> str:
        return self._participant_id

    @property
    def identity(self) -> Identity:
        return self._identity

    def granted(self, room: str) -> bool:
        return room in self.grants

    def send(self, msg: p.ServerMessage) -> None:
        self._send(msg)

    async def renegotiate(self, room: str, sdp: str) -> str:
        """Send ``room_offer`` and wait for the matching ``room_answer`` (the caller times out)."""
        seq = next(self._seq)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[(room, seq)] = future
        try:
            self._send(p.RoomOffer(room=room, seq=seq, sdp=sdp))
            return await future
        finally:
            self._pending.pop((room, seq), None)

    def answered(self, msg: p.RoomAnswer) -> None:
        """The client's ``room_answer``: hand it to the waiting ``renegotiate``."""
        future = self._pending.get((msg.room, msg.seq))
        if future is None or future.done():
            raise RoomRefused(p.RoomErrorCode.BAD_STATE, f"no open room_offer {msg.seq}")
        future.set_result(msg.sdp)

    def close(self) -> None:
        """The socket closed: nobody will answer the open re-offers."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the participant's socket closed"))
        self._pending.clear()


class _Send(Protocol):
    def __call__(self, msg: p.ServerMessage, /) -> None: ...
