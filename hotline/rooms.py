"""Room signaling on the SFU: ``signaling.rooms.RoomService`` built on ``media``.

Signaling cannot import media (DESIGN.md), so this composition-root module joins them:
room messages from a WebSocket become calls on this process's ``media.RoomManager``, and
media's errors become ``room_error`` codes.

Who may enter, and in which role, is ``rooms.admission.admit``'s, from the identity:
signed-in staff, any room (the first to enter opens it), as host if they have an agent
role, else (supervisors, admins) as a monitoring supervisor; the caller of an
answered call, that call's room (``connected`` gives it to their connection until
``ended``), as ``caller``; an invited party, only the room its room token was issued for
(``Identity.room``, the token's scope, DESIGN.md "Security"), once it is open, as
``party``; a caller's own token, which is for the queue, no room at all. Quality figures
(``get_room_stats``): staff in the room, and supervisors and admins whether or not they
are in it; never callers.

Everything else about a room is its policy's (``rooms.Room``, one per media room): who
hears whom (hold, mute: ``SetRoute`` cells media
applies), who may mute, hold or record, and that a hotline call's room (``R-<session>``)
is recorded from its first join and cannot stop recording until it closes. A voicemail
room (``V-<session>``) is recorded the same way, for its caller alone, until its limit:
the policy's ``StartRecording.limit_s`` arms a timer here (the policy has no clock) that
feeds it ``RecordingLimitReached``, which stops the recording and tells the caller. This module
feeds the policy what happened, refuses what it refuses (``room_error``), and carries
out what it returns: routes on the media room, recording on the media room (media
announces ``recording_started`` to everyone before the files start, and to whoever joins
while it runs), notices as server messages.

A room is created on the first join and closed when its last participant leaves (which
stops a running recording: its files are finished and go to the database, linked to the
call's session). A participant media drops on its own (a failed renegotiation, a
connection that never came up) is sent ``room_left``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

import rooms.actions as ra
import rooms.events as rev
from cases.models import SUPERVISOR_ROLES
from hotline import keys
from media.errors import (
    MediaError,
    NegotiationError,
    RecordingError,
    RoomFullError,
    UnknownParticipant,
)
from media.manager import RoomManager
from media.room import Room
from media.stats import ParticipantStats
from rooms import ParticipantId, session_of
from rooms import Room as Policy
from rooms.admission import admit
from rooms.errors import BadState, NotAllowed, NotInRoom
from signaling import protocol as p
from signaling.identity import AGENT_ROLES
from signaling.rooms import RoomPeer, RoomRefused

log = logging.getLogger("hotline.rooms")

Code = p.RoomErrorCode

# Who may see any room's quality figures without being in it (issue 4: "available to the
# room owner and supervisors").
OVERSEERS = frozenset(role.value for role in SUPERVISOR_ROLES)


class MediaRooms:
    """The ``RoomService`` of this process (``app[keys.ROOMS]``)."""

    def __init__(self, app: web.Application, *, recording_limit_s: float | None = None) -> None:
        """``recording_limit_s`` overrides every room kind's recording limit (tests)."""
        self._app = app
        self.recording_limit_s = recording_limit_s
        # room -> the timer that stops its recording at the policy's limit
        self._limits: dict[str, asyncio.TimerHandle] = {}
        # room -> participant id -> the connection that holds the seat now
        self.peers: dict[str, dict[str, RoomPeer]] = {}
        # room -> its policy (roles, hold, mutes, recording): the one place they are kept
        self.policies: dict[str, Policy] = {}
        self._joining: set[tuple[str, str]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        # Told when a room is gone from this node (the room directory forgets it).
        self.room_closed: Callable[[str], Awaitable[None]] | None = None

    @property
    def manager(self) -> RoomManager:
        manager = self._app.get(keys.MEDIA)
        if manager is None:
            raise RoomRefused(Code.UNAVAILABLE, "the media node is not running")
        return manager

    # -- RoomService ------------------------------------------------------------------

    async def join(self, peer: RoomPeer, room: str, sdp: str) -> str:
        identity = peer.identity
        try:
            role = admit(
                room,
                staff=identity.kind == "staff",
                agent=bool(identity.roles & AGENT_ROLES),
                granted=peer.granted(room),
                token_room=identity.room,
                is_open=room in self.manager.rooms,
            )
        except NotAllowed as exc:
            raise RoomRefused(Code.NOT_ALLOWED, str(exc)) from exc
        except BadState as exc:
            raise RoomRefused(Code.BAD_STATE, str(exc)) from exc
        pid = peer.participant_id
        policy = self.policies.get(room) or self._policy(room)
        try:
            policy.check_join(ParticipantId(pid), role)  # before media hears of it
        except NotAllowed as exc:
            raise RoomRefused(Code.NOT_ALLOWED, str(exc)) from exc
        try:
            media_room = self.manager.get_or_create(room)
        except RoomFullError as exc:
            raise RoomRefused(Code.ROOM_FULL, str(exc)) from exc
        seats = self.peers.setdefault(room, {})
        previous = seats.get(pid)
        seats[pid] = peer  # before media's join: a recording announce may come during it

        async def renegotiate(offer_sdp: str) -> str:
            return await peer.renegotiate(room, offer_sdp)

        self._joining.add((room, pid))
        try:
            answer = await media_room.join(pid, sdp, renegotiate)
        except BaseException as exc:
            seats.pop(pid, None)
            if previous is not None and pid in media_room.participants:
                seats[pid] = previous  # the old connection is still in the room
            elif previous is not None:
                previous.send(p.RoomLeft(room=room))
                self._left_policy(room, pid)
            if not seats:
                await self._close_if_empty(room)
            if isinstance(exc, RoomFullError):
                raise RoomRefused(Code.ROOM_FULL, str(exc)) from exc
            if isinstance(exc, NegotiationError):
                raise RoomRefused(Code.NEGOTIATION_FAILED, str(exc)) from exc
            if isinstance(exc, MediaError):
                raise RoomRefused(Code.BAD_STATE, str(exc)) from exc
            raise
        finally:
            self._joining.discard((room, pid))
        if previous is not None and previous is not peer:
            previous.send(p.RoomLeft(room=room))  # replaced by this newer connection
        policy = self.policies.setdefault(room, policy)
        actions = policy.handle(rev.Joined(ParticipantId(pid), role, identity.display_name))
        # The notices go out after the Node has sent ``room_joined`` (this returns to it
        # without yielding), so a joiner learns who is there once it is in.
        await self._apply(media_room, actions, notify=False)
        asyncio.get_running_loop().call_soon(self._notify, room, actions)
        log.info("room_join", extra={"room": room, "participant": pid, "role": role.value})
        return answer

    async def leave(self, peer: RoomPeer, room: str) -> None:
        self._seat(peer, room)
        await self._leave(peer, room)

    async def mute(
        self, peer: RoomPeer, room: str, participant: str, kind: p.MediaKind, muted: bool
    ) -> None:
        self._seat(peer, room)
        event = rev.MuteAsked(
            ParticipantId(peer.participant_id), ParticipantId(participant), kind.value, muted
        )
        await self._decide(room, event)

    async def set_recording(self, peer: RoomPeer, room: str, on: bool) -> None:
        self._seat(peer, room)
        await self._decide(room, rev.RecordingAsked(ParticipantId(peer.participant_id), on))

    async def hold(self, peer: RoomPeer, room: str, on: bool) -> None:
        self._seat(peer, room)
        await self._decide(room, rev.HoldAsked(ParticipantId(peer.participant_id), on))

    async def stats(self, peer: RoomPeer, room: str) -> list[p.RoomStats]:
        identity = peer.identity
        if identity.kind != "staff":
            raise RoomRefused(Code.NOT_ALLOWED, "only staff in the room and supervisors")
        if not identity.roles & OVERSEERS:
            self._seat(peer, room)
            policy = self.policies.get(room)
            if policy is None or not policy.may_see_figures(ParticipantId(peer.participant_id)):
                raise RoomRefused(Code.NOT_ALLOWED, "only staff in the room and supervisors")
        media_room = self.manager.rooms.get(room)
        if media_room is None:
            raise RoomRefused(Code.NOT_IN_ROOM, f"room {room} is not open")
        figures = await media_room.stats()
        count = len(figures)
        return [
            _room_stats(room, stats, index=i, count=count)
            for i, stats in enumerate(figures.values(), start=1)
        ]

    async def disconnected(self, peer: RoomPeer) -> None:
        for room, seats in list(self.peers.items()):
            if seats.get(peer.participant_id) is peer:
                await self._leave(peer, room)

    # -- media's announce ---------------------------------------------------------------

    async def announce(self, room: str, participant_ids: Iterable[str]) -> None:
        """Media is about to record: tell each of these participants first."""
        seats = self.peers.get(room, {})
        told = {pid: seats[pid] for pid in participant_ids if pid in seats}
        self._tell(told, p.RecordingStarted(room=room))

    def on_left(self, media_room: Room, pid: str) -> None:
        """Media let a participant go: if it was not through us, tell the client.

        That is a failed renegotiation, a connection that never came up, or the room
        closing (shutdown). A reconnect's old connection is handled by ``join``.
        """
        room = media_room.id
        if (room, pid) in self._joining:
            return
        seats = self.peers.get(room)
        peer = seats.pop(pid, None) if seats is not None else None
        if peer is None:
            return  # left through leave/disconnected, which popped the seat first
        self._left_policy(room, pid)
        peer.send(p.RoomLeft(room=room))
        log.info("room_dropped", extra={"room": room, "participant": pid})
        if not seats and not media_room.closed:
            task = asyncio.get_running_loop().create_task(
                self._close_if_empty(room), name=f"close empty room {room}"
            )
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Wait for rooms being closed (application shutdown)."""
        for handle in self._limits.values():
            handle.cancel()
        self._limits.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)

    # -- recording limits ---------------------------------------------------------------

    def _policy(self, room: str) -> Policy:
        return Policy(room, recording_limit_s=self.recording_limit_s)

    def _arm_limit(self, room: str, limit_s: float) -> None:
        self._disarm_limit(room)
        loop = asyncio.get_running_loop()
        self._limits[room] = loop.call_later(limit_s, self._limit_due, room)

    def _disarm_limit(self, room: str) -> None:
        handle = self._limits.pop(room, None)
        if handle is not None:
            handle.cancel()

    def _limit_due(self, room: str) -> None:
        self._limits.pop(room, None)
        task = asyncio.get_running_loop().create_task(
            self._at_limit(room), name=f"recording limit {room}"
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _at_limit(self, room: str) -> None:
        """The recording ran its limit: the policy stops it and tells the room."""
        try:
            await self._decide(room, rev.RecordingLimitReached())
        except RoomRefused as exc:  # the room closed or stopped meanwhile
            log.info("recording_limit_late", extra={"room": room, "detail": exc.detail})
            return
        log.info("recording_limit", extra={"room": room})

    # -- helpers -----------------------------------------------------------------------

    async def _decide(self, room: str, event: rev.Event) -> None:
        """Feed the room's policy; carry out what it decides, or refuse what it refuses."""
        policy = self.policies.get(room)
        media_room = self.manager.rooms.get(room)
        if policy is None or media_room is None:
            raise RoomRefused(Code.NOT_IN_ROOM, f"room {room} is not open")
        try:
            actions = policy.handle(event)
        except NotAllowed as exc:
            raise RoomRefused(Code.NOT_ALLOWED, str(exc)) from exc
        except NotInRoom as exc:
            raise RoomRefused(Code.NOT_IN_ROOM, str(exc)) from exc
        except BadState as exc:
            raise RoomRefused(Code.BAD_STATE, str(exc)) from exc
        await self._apply(media_room, actions)

    async def _apply(
        self, media_room: Room, actions: list[ra.Action], *, notify: bool = True
    ) -> None:
        """Routes first, then recording, then the notices (sent even if recording failed)."""
        room = media_room.id
        media_room.apply_routes(actions)
        try:
            for action in actions:
                if isinstance(action, ra.StartRecording) and media_room.recording is None:
                    # media announces (recording_started) before the files start; a room
                    # rejoined before media closed it may still be recording
                    await media_room.start_recording(session_id=session_of(room))
                    if action.limit_s is not None:
                        self._arm_limit(room, action.limit_s)
                elif isinstance(action, ra.StopRecording):
                    self._disarm_limit(room)
                    if media_room.recording is not None:
                        await media_room.stop_recording()
        except RecordingError as exc:
            raise RoomRefused(Code.BAD_STATE, str(exc)) from exc
        finally:
            if notify:
                self._notify(room, actions)

    def _left_policy(self, room: str, pid: str) -> None:
        """Tell the policy someone left; the notices go out, the room closes by itself.

        A recording the policy would stop here stops when media closes the empty room.
        """
        policy = self.policies.get(room)
        if policy is None or ParticipantId(pid) not in policy.members:
            return
        actions = policy.handle(rev.Left(ParticipantId(pid)))
        if ra.CloseRoom() in actions:
            self.policies.pop(room, None)
        manager = self._app.get(keys.MEDIA)
        if manager is not None and room in manager.rooms:
            manager.rooms[room].apply_routes(actions)
        self._notify(room, actions)

    def _notify(self, room: str, actions: Iterable[ra.Action]) -> None:
        seats = self.peers.get(room, {})
        for action in actions:
            if isinstance(action, ra.Notify) and (peer := seats.get(action.to)) is not None:
                peer.send(_message(room, action))

    def _seat(self, peer: RoomPeer, room: str) -> None:
        if self.peers.get(room, {}).get(peer.participant_id) is not peer:
            raise RoomRefused(Code.NOT_IN_ROOM, f"you are not in room {room}")

    async def _leave(self, peer: RoomPeer, room: str) -> None:
        seats = self.peers.get(room, {})
        seats.pop(peer.participant_id, None)
        self._left_policy(room, peer.participant_id)
        media_room = self.manager.rooms.get(room)
        if media_room is not None:
            # media may already have let it go (e.g. it never connected)
            with contextlib.suppress(UnknownParticipant):
                await media_room.leave(peer.participant_id)
        log.info("room_leave", extra={"room": room, "participant": peer.participant_id})
        if not seats:
            await self._close_if_empty(room)

    async def _close_if_empty(self, room: str) -> None:
        if self.peers.get(room):
            return  # someone joined meanwhile
        self.peers.pop(room, None)
        self.policies.pop(room, None)
        self._disarm_limit(room)
        manager = self._app.get(keys.MEDIA)
        if manager is not None and room in manager.rooms and not manager.rooms[room].participants:
            await manager.close_room(room)
        if self.room_closed is not None and (manager is None or room not in manager.rooms):
            try:
                await self.room_closed(room)
            except Exception:  # the directory entry lapses with this node's heartbeat
                log.exception("room_directory_release_failed", extra={"room": room})

    @staticmethod
    def _tell(peers: dict[str, RoomPeer], msg: p.ServerMessage) -> None:
        for peer in list(peers.values()):
            peer.send(msg)


def _message(room: str, notice: ra.Notify) -> p.ServerMessage:
    """A policy's notice as the server message that carries it."""
    kind = notice.notice
    about = notice.participant
    if kind is ra.Notice.PARTICIPANT_JOINED:
        assert about is not None
        assert notice.role is not None
        return p.ParticipantJoined(
            room=room,
            participant=about,
            role=p.RoomRole(notice.role.value),
            name=(notice.name or "")[:120],
        )
    if kind is ra.Notice.PARTICIPANT_LEFT:
        assert about is not None
        return p.ParticipantLeft(room=room, participant=about)
    if kind is ra.Notice.MUTED:
        assert about is not None
        assert notice.kind is not None
        return p.Muted(
            room=room,
            participant=about,
            kind=p.MediaKind(notice.kind),
            muted=bool(notice.muted),
            by=notice.by,
        )
    if kind is ra.Notice.RECORDING_STOPPED:
        return p.RecordingStopped(room=room)
    return p.RoomNotice(room=room, notice=_NOTICES[kind], participant=about)


_NOTICES = {
    ra.Notice.ON_HOLD: p.Notice.ON_HOLD,
    ra.Notice.RESUMED: p.Notice.RESUMED,
    ra.Notice.RECORDED: p.Notice.RECORDING,
    ra.Notice.RECORDING_LIMIT: p.Notice.RECORDING_LIMIT,
}


def _room_stats(room: str, stats: ParticipantStats, *, index: int, count: int) -> p.RoomStats:
    """Media's figures as a ``room_stats`` message (clamped to the protocol's ranges)."""

    def fraction(value: float | None) -> float | None:
        return None if value is None else min(max(value, 0.0), 1.0)

    def positive(value: float | None, hi: float) -> float | None:
        return None if value is None else min(max(value, 0.0), hi)

    inbound = stats.inbound.values()
    return p.RoomStats(
        room=room,
        participant=stats.participant_id,
        index=index,
        count=count,
        packets_received=sum(s.packets_received for s in inbound),
        packets_lost=sum(max(s.packets_lost, 0) for s in inbound),
        uplink_loss=fraction(stats.uplink_loss) or 0.0,
        jitter_ms=min(max((s.jitter_ms for s in inbound), default=0.0), 3_600_000.0),
        downlink_loss=fraction(stats.downlink_loss),
        rtt_ms=positive(stats.rtt_ms, 3_600_000.0),
        bitrate_in_kbps=positive(stats.bitrate_in_kbps, 10_000_000.0),
        bitrate_out_kbps=positive(stats.bitrate_out_kbps, 10_000_000.0),
    )
