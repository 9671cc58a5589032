"""A live room's policy: ``Room(room_id).handle(event) -> list[Action]``.

Pure and deterministic (standard library only), like ``routing.engine``: the media layer
feeds what happened (joined, left, hold, mute, recording asked) and carries out what
comes back (routes, notices, start/stop recording, close). The room validates an event
before it changes anything: an event that raises ``RoomPolicyError`` changed nothing.

Who hears whom (``allows``), for every source, destination and kind:

- nobody receives their own media;
- the silent roles (observer, supervisor monitoring) are heard by nobody;
- in ``Mode.HOLD`` the callers and parties receive nothing of the room and are heard
  by nobody;
- a muted kind of a source reaches nobody;
- everything else is open.

Who may do what:

- mute: anyone themselves; staff (host, supervisor) anyone. A participant muted by
  someone else cannot unmute themselves;
- hold: the host only;
- start or stop recording: staff. A room whose kind requires recording (a hotline
  call, ``R-<session>``; a voice message, ``V-<session>``) starts recording on its
  first join and refuses to stop (``RecordingRequired``) until everyone has left;
- a kind may limit its recording (a voice message: ``RECORDING_LIMIT_S``, 120 s):
  ``StartRecording.limit_s`` asks media to feed ``RecordingLimitReached`` then, which
  stops it for good (``Recording.DONE``) and tells everyone (``RECORDING_LIMIT``);
- a kind may limit who enters (a voice message: the caller alone, ``SEATS`` and
  ``ROLES``): ``check_join`` refuses the others (``NotAllowed``) before anything changes;
- quality figures: staff in the room (``may_see_figures``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rooms.actions import (
    Action,
    CloseRoom,
    Notice,
    Notify,
    SetRoute,
    StartRecording,
    StopRecording,
)
from rooms.errors import BadState, NotAllowed, NotInRoom, RecordingRequired
from rooms.events import (
    Event,
    HoldAsked,
    Joined,
    Left,
    MuteAsked,
    RecordingAsked,
    RecordingLimitReached,
)
from rooms.model import (
    HOLDABLE,
    KINDS,
    RECORDING_LIMIT_S,
    RECORDING_REQUIRED,
    ROLES,
    SEATS,
    SILENT,
    STAFF,
    Lifecycle,
    Mode,
    ParticipantId,
    Recording,
    Role,
    check,
    kind_of,
)


@dataclass(frozen=True, slots=True)
class Member:
    id: ParticipantId
    role: Role
    name: str


@dataclass(frozen=True, slots=True)
class Route:
    audio: bool
    video: bool


class Room:
    """The policy of one room. Feed it events in order; carry out what it returns."""

    def __init__(self, room: str, *, recording_limit_s: float | None = None) -> None:
        """``recording_limit_s`` overrides the kind's limit (``RECORDING_LIMIT_S``)."""
        self.id = room
        self.kind = kind_of(room)
        self.recording_required = self.kind in RECORDING_REQUIRED
        self.recording_limit_s = (
            RECORDING_LIMIT_S.get(self.kind) if recording_limit_s is None else recording_limit_s
        )
        self.members: dict[ParticipantId, Member] = {}
        self.mode = Mode.JOINT
        self.lifecycle = Lifecycle.OPEN
        self.recording = Recording.OFF
        # (participant, kind) -> who muted it
        self.muted_by: dict[tuple[ParticipantId, str], ParticipantId] = {}
        self._routes: dict[tuple[ParticipantId, ParticipantId], Route] = {}
        self._handlers: dict[type[Event], Callable[[Any, list[Action]], None]] = {
            Joined: self._on_joined,
            Left: self._on_left,
            HoldAsked: self._on_hold,
            MuteAsked: self._on_mute,
            RecordingAsked: self._on_recording,
            RecordingLimitReached: self._on_limit,
        }

    # -- the state machine --------------------------------------------------------------

    def handle(self, event: Event) -> list[Action]:
        """Apply one event; return what media must do, in order.

        Raises a ``RoomPolicyError`` subclass, having changed nothing, when the event is
        not allowed or makes no sense now.
        """
        if self.lifecycle is Lifecycle.CLOSED:
            raise BadState(f"room {self.id} is closed")
        actions: list[Action] = []
        self._handlers[type(event)](event, actions)
        return actions

    def check_join(self, participant: ParticipantId, role: Role) -> None:
        """Raise ``NotAllowed`` if ``participant`` may not enter in ``role`` (a voicemail
        room is the caller's alone); a reconnect keeps its seat. Changes nothing."""
        roles = ROLES.get(self.kind)
        if roles is not None and role not in roles:
            raise NotAllowed(f"a {self.kind.value} room admits no {role.value}")
        seats = SEATS.get(self.kind)
        if seats is not None and participant not in self.members and len(self.members) >= seats:
            raise NotAllowed(f"a {self.kind.value} room holds {seats} participant(s)")

    def _on_joined(self, event: Joined, actions: list[Action]) -> None:
        pid = event.participant
        self.check_join(pid, event.role)
        returning = pid in self.members
        self.members[pid] = Member(pid, event.role, event.name)
        self._sync_routes(actions, force=pid)
        if self.recording_required and self.recording is Recording.OFF:
            self._set_recording(Recording.ON)
            actions.append(StartRecording(limit_s=self.recording_limit_s))
        if self.recording_required and self.recording is Recording.ON:
            actions.append(Notify(pid, Notice.RECORDED))
        for other in self.members.values():
            if other.id != pid:
                actions.append(self._joined_notice(pid, other))
                if not returning:
                    actions.append(self._joined_notice(other.id, self.members[pid]))
        if self.held(pid):
            actions.append(Notify(pid, Notice.ON_HOLD, participant=pid))

    def _on_left(self, event: Left, actions: list[Action]) -> None:
        pid = self._member(event.participant).id
        del self.members[pid]
        for key in [k for k in self.muted_by if k[0] == pid]:
            del self.muted_by[key]
        for pair in [k for k in self._routes if pid in k]:
            del self._routes[pair]
        for other in self.members:
            actions.append(Notify(other, Notice.PARTICIPANT_LEFT, participant=pid))
        if self.members:
            return
        if self.recording is Recording.ON:
            self._set_recording(Recording.OFF)
            actions.append(StopRecording())
        check(self.lifecycle, Lifecycle.CLOSED)
        self.lifecycle = Lifecycle.CLOSED
        actions.append(CloseRoom())

    def _on_hold(self, event: HoldAsked, actions: list[Action]) -> None:
        if self._member(event.by).role is not Role.HOST:
            raise NotAllowed("only the host puts the room on hold")
        new = Mode.HOLD if event.on else Mode.JOINT
        if new is self.mode:
            raise BadState("the room is already on hold" if event.on else "the room is not on hold")
        check(self.mode, new)
        self.mode = new
        self._sync_routes(actions)
        notice = Notice.ON_HOLD if event.on else Notice.RESUMED
        held = [m.id for m in self.members.values() if m.role in HOLDABLE]
        for to in self.members:
            if not held:
                actions.append(Notify(to, notice))
            for pid in held:
                actions.append(Notify(to, notice, participant=pid))

    def _on_mute(self, event: MuteAsked, actions: list[Action]) -> None:
        by = self._member(event.by)
        target = self._member(event.participant).id
        if event.kind not in KINDS:
            raise BadState(f"unknown media kind {event.kind!r}")
        staff = by.role in STAFF
        if target != by.id and not staff:
            raise NotAllowed("only staff mute other participants")
        key = (target, event.kind)
        if not event.muted and not staff and self.muted_by.get(key, by.id) != by.id:
            raise NotAllowed("muted by staff: only staff can unmute you")
        if event.muted:
            self.muted_by[key] = by.id
        else:
            self.muted_by.pop(key, None)
        self._sync_routes(actions)
        for to in self.members:
            actions.append(
                Notify(
                    to,
                    Notice.MUTED,
                    participant=target,
                    kind=event.kind,
                    muted=event.muted,
                    by=by.id,
                )
            )

    def _on_recording(self, event: RecordingAsked, actions: list[Action]) -> None:
        if self._member(event.by).role not in STAFF:
            raise NotAllowed("only staff start or stop recording")
        if event.on:
            if self.recording is not Recording.OFF:
                raise BadState(f"room {self.id} is recording or has finished recording")
            self._set_recording(Recording.ON)
            actions.append(StartRecording(limit_s=self.recording_limit_s))
            return
        if self.recording_required:
            raise RecordingRequired("a hotline call is recorded until it ends")
        if self.recording is not Recording.ON:
            raise BadState(f"room {self.id} is not recording")
        self._set_recording(Recording.OFF)
        actions.append(StopRecording())
        for to in self.members:
            actions.append(Notify(to, Notice.RECORDING_STOPPED))

    def _on_limit(self, event: RecordingLimitReached, actions: list[Action]) -> None:
        if self.recording is not Recording.ON:
            raise BadState(f"room {self.id} is not recording")
        self._set_recording(Recording.DONE)
        actions.append(StopRecording())
        for to in self.members:
            actions.append(Notify(to, Notice.RECORDING_LIMIT))

    # -- who hears whom -----------------------------------------------------------------

    def held(self, participant: ParticipantId) -> bool:
        """Whether ``participant`` is on hold now."""
        member = self.members.get(participant)
        return member is not None and self.mode is Mode.HOLD and member.role in HOLDABLE

    def allows(self, source: ParticipantId, destination: ParticipantId, kind: str) -> bool:
        """Whether ``destination`` receives ``source``'s ``kind`` (the module's rules)."""
        sender = self.members.get(source)
        return (
            sender is not None
            and destination in self.members
            and source != destination
            and sender.role not in SILENT
            and not self.held(source)
            and not self.held(destination)
            and (source, kind) not in self.muted_by
        )

    def routes(self) -> dict[tuple[ParticipantId, ParticipantId], Route]:
        """The whole matrix: every ordered pair of members."""
        return {
            (s, d): Route(self.allows(s, d, "audio"), self.allows(s, d, "video"))
            for s in self.members
            for d in self.members
            if s != d
        }

    def muted(self, participant: ParticipantId) -> list[str]:
        return [kind for kind in KINDS if (participant, kind) in self.muted_by]

    def may_see_figures(self, participant: ParticipantId) -> bool:
        """Quality figures are for staff in the room (supervisors see any: the caller's rule)."""
        member = self.members.get(participant)
        return member is not None and member.role in STAFF

    # -- helpers ------------------------------------------------------------------------

    def _member(self, participant: ParticipantId) -> Member:
        member = self.members.get(participant)
        if member is None:
            raise NotInRoom(f"{participant} is not in room {self.id}")
        return member

    def _set_recording(self, new: Recording) -> None:
        check(self.recording, new)
        self.recording = new

    def _joined_notice(self, to: ParticipantId, about: Member) -> Notify:
        return Notify(
            to, Notice.PARTICIPANT_JOINED, participant=about.id, role=about.role, name=about.name
        )

    def _sync_routes(self, actions: list[Action], *, force: ParticipantId | None = None) -> None:
        """Emit ``SetRoute`` for every pair that changed (and every pair of ``force``).

        Media starts every new pair open and does not forget a leaver's pairs, so a
        joiner's pairs are always sent in full.
        """
        for pair, route in self.routes().items():
            if self._routes.get(pair) != route or force in pair:
                self._routes[pair] = route
                actions.append(SetRoute(pair[0], pair[1], audio=route.audio, video=route.video))
