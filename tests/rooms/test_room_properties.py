"""Invariants of a room over random event sequences (Hypothesis).

A random program (joins in any role, leaves, hold on/off, mutes, recording asked, by
anyone, the recording's limit reached) is fed to a hotline call room, a voicemail room
or a meeting room. The ``SetRoute`` actions are
applied to a model of media's matrix, which starts every new pair open and never
forgets a pair, as ``media.routes.RouteMatrix`` does. After every event the invariants
hold on what media would enforce; an event the room refuses changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rooms import Room
from rooms.actions import Action, SetRoute, StartRecording, StopRecording
from rooms.errors import RoomPolicyError
from rooms.events import (
    Event,
    HoldAsked,
    Joined,
    Left,
    MuteAsked,
    RecordingAsked,
    RecordingLimitReached,
)
from rooms.model import KINDS, SILENT, Lifecycle, ParticipantId, Recording, Role, RoomKind

PEOPLE = [ParticipantId(f"p{i}") for i in range(4)]
person = st.sampled_from(PEOPLE)
kind = st.sampled_from(["audio", "video"])
event: st.SearchStrategy[Event] = st.one_of(
    st.builds(Joined, person, st.sampled_from(list(Role)), st.just("name")),
    st.builds(Left, person),
    st.builds(HoldAsked, person, st.booleans()),
    st.builds(MuteAsked, person, person, kind, st.booleans()),
    st.builds(RecordingAsked, person, st.booleans()),
    st.builds(RecordingLimitReached),
)


class MediaModel:
    """What media would enforce after applying the room's routes."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], dict[str, bool]] = {}
        self.recording = False

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SetRoute):
                assert action.source != action.destination, "nobody is routed to themselves"
                self.routes[(action.source, action.destination)] = {
                    "audio": action.audio,
                    "video": action.video,
                }
            elif isinstance(action, StartRecording):
                assert not self.recording
                self.recording = True
            elif isinstance(action, StopRecording):
                assert self.recording
                self.recording = False

    def allows(self, source: str, destination: str, kind: str) -> bool:
        return source != destination and self.routes.get((source, destination), {}).get(kind, True)


def _state(room: Room) -> Any:
    return copy.deepcopy(
        (room.members, room.mode, room.lifecycle, room.recording, room.muted_by, room._routes)
    )


def _check(room: Room, media: MediaModel, actions: list[Action]) -> None:
    members = list(room.members)
    for source in members:
        for destination in members:
            for k in KINDS:
                if source == destination:
                    assert not media.allows(source, destination, k)
                    continue
                # media enforces exactly what the room decides
                assert media.allows(source, destination, k) == room.allows(source, destination, k)
                if room.held(source) or room.held(destination):
                    assert not media.allows(source, destination, k), "hold leaks"
                if (source, k) in room.muted_by:
                    assert not media.allows(source, destination, k), "a muted track leaks"
                if room.members[source].role in SILENT:
                    assert not media.allows(source, destination, k), "a monitor is heard"
    if room.kind is RoomKind.VOICEMAIL:
        assert len(room.members) <= 1, "a voicemail room is the caller's alone"
        assert all(m.role is Role.CALLER for m in room.members.values())
    if room.recording_required and room.lifecycle is Lifecycle.OPEN and room.members:
        # recorded while it lasts, unless it stopped at its limit (a full voice message)
        assert room.recording in (Recording.ON, Recording.DONE)
        assert media.recording == (room.recording is Recording.ON)
        if room.recording is Recording.ON:
            assert StopRecording() not in actions, "a call's recording stopped mid-call"
    assert media.recording == (room.recording is Recording.ON)


@settings(max_examples=300, deadline=None)
@given(
    room_id=st.sampled_from(["R-S-1", "V-S-1", "mediation-1"]),
    program=st.lists(event, max_size=40),
)
def test_invariants_hold_after_every_event(room_id: str, program: list[Event]) -> None:
    """Hold, mute, monitor, self-routing and recording invariants hold after every event."""
    room = Room(room_id)
    media = MediaModel()
    done = False
    for ev in program:
        if room.lifecycle is Lifecycle.CLOSED:
            break
        before = _state(room)
        try:
            actions = room.handle(ev)
        except RoomPolicyError:
            assert _state(room) == before, "a refused event changed the room"
            continue
        media.apply(actions)
        _check(room, media, actions)
        if room.recording is Recording.DONE:
            done = True
        assert not (done and StartRecording in map(type, actions)), "recording restarted"


CALLER, LAWYER, COLLEAGUE = ParticipantId("caller"), ParticipantId("lawyer"), ParticipantId("b")


@settings(max_examples=200, deadline=None)
@given(
    third=st.sampled_from([Role.HOST, Role.INTERPRETER]),
    order=st.permutations([CALLER, LAWYER, COLLEAGUE]),
    silent=st.lists(st.sampled_from(sorted(SILENT)), max_size=2),
    leaver=st.sampled_from([None, LAWYER, COLLEAGUE]),
)
def test_a_three_way_call_routes_everyone_to_everyone_but_the_silent(
    third: Role,
    order: list[ParticipantId],
    silent: list[Role],
    leaver: ParticipantId | None,
) -> None:
    """A consult: the colleague (a second host, or an interpreter) joins the call's room
    in any order, with monitors or observers about; every one of caller, lawyer and
    colleague hears the other two, in both kinds, and hears the silent roles not at all
    (who hear everyone). When the colleague leaves, or the lawyer hands over and leaves,
    the two who stay still hear each other."""
    roles = {CALLER: Role.CALLER, LAWYER: Role.HOST, COLLEAGUE: third}
    room = Room("R-S-1")
    media = MediaModel()
    for who in order:
        media.apply(room.handle(Joined(who, roles[who], str(who))))
    monitors = [ParticipantId(f"m{i}") for i in range(len(silent))]
    for who, role in zip(monitors, silent, strict=True):
        media.apply(room.handle(Joined(who, role, str(who))))
    talking = [CALLER, LAWYER, COLLEAGUE]
    if leaver is not None:
        media.apply(room.handle(Left(leaver)))
        talking.remove(leaver)
    for source in talking:
        for destination in talking:
            for k in KINDS:
                assert media.allows(source, destination, k) == (source != destination)
        for monitor in monitors:
            for k in KINDS:
                assert not media.allows(monitor, source, k), "a silent role is heard"
                assert media.allows(source, monitor, k), "a monitor misses someone"
    _check(room, media, [])
