"""The room policy: who hears whom, hold, mute, recording, on the pure core."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from rooms import Room, RoomKind, kind_of, session_of
from rooms.actions import (
    CloseRoom,
    Notice,
    Notify,
    SetRoute,
    StartRecording,
    StopRecording,
)
from rooms.admission import admit
from rooms.errors import BadState, IllegalTransition, NotAllowed, NotInRoom, RecordingRequired
from rooms.events import (
    HoldAsked,
    Joined,
    Left,
    MuteAsked,
    RecordingAsked,
    RecordingLimitReached,
)
from rooms.model import Lifecycle, Mode, ParticipantId, Recording, Role, check, voicemail_room

AGENT = ParticipantId("staff-1")
CALLER = ParticipantId("caller-c")
SUP = ParticipantId("staff-9")


def call_room() -> Room:
    room = Room("R-S-1")
    room.handle(Joined(AGENT, Role.HOST, "Lawyer Li"))
    room.handle(Joined(CALLER, Role.CALLER, "Caller"))
    return room


def notices(actions: list[object], notice: Notice) -> list[Notify]:
    return [a for a in actions if isinstance(a, Notify) and a.notice is notice]


class TestKinds:
    def test_call_rooms_by_prefix(self) -> None:
        """R-<session> is a hotline call room; its session is the rest of the id."""
        assert kind_of("R-S-abc") is RoomKind.CALL
        assert session_of("R-S-abc") == "S-abc"
        assert kind_of("mediation-1") is RoomKind.MEETING
        assert session_of("mediation-1") is None
        assert session_of("R-") is None

    def test_transition_table(self) -> None:
        """An illegal state change raises instead of passing."""
        check(Mode.JOINT, Mode.HOLD)
        with pytest.raises(IllegalTransition):
            check(Lifecycle.CLOSED, Lifecycle.OPEN)
        with pytest.raises(IllegalTransition):
            check(Recording.ON, Recording.ON)
        with pytest.raises(IllegalTransition):
            check(Recording.DONE, Recording.ON)


class TestJoin:
    def test_call_is_recorded_from_the_first_join(self) -> None:
        """The first join of a call room starts recording; every joiner is told."""
        room = Room("R-S-1")
        first = room.handle(Joined(AGENT, Role.HOST, "Lawyer Li"))
        assert StartRecording() in first
        assert notices(first, Notice.RECORDED) == [Notify(AGENT, Notice.RECORDED)]
        second = room.handle(Joined(CALLER, Role.CALLER, "Caller"))
        assert StartRecording() not in second
        assert notices(second, Notice.RECORDED) == [Notify(CALLER, Notice.RECORDED)]
        assert room.recording is Recording.ON

    def test_everyone_learns_who_is_there(self) -> None:
        """The joiner hears of each participant; the others hear of the joiner."""
        room = Room("R-S-1")
        room.handle(Joined(AGENT, Role.HOST, "Lawyer Li"))
        actions = room.handle(Joined(CALLER, Role.CALLER, "Caller"))
        joined = notices(actions, Notice.PARTICIPANT_JOINED)
        assert {(n.to, n.participant, n.role, n.name) for n in joined} == {
            (CALLER, AGENT, Role.HOST, "Lawyer Li"),
            (AGENT, CALLER, Role.CALLER, "Caller"),
        }

    def test_reconnect_resends_the_joiners_routes_only_to_itself(self) -> None:
        """A rejoin under the same id re-sends its routes; the others are not told again."""
        room = call_room()
        actions = room.handle(Joined(CALLER, Role.CALLER, "Caller"))
        assert {(a.source, a.destination) for a in actions if isinstance(a, SetRoute)} == {
            (AGENT, CALLER),
            (CALLER, AGENT),
        }
        assert [n.to for n in notices(actions, Notice.PARTICIPANT_JOINED)] == [CALLER]

    def test_meeting_is_not_recorded_by_itself(self) -> None:
        """A mediation room records only when staff ask."""
        room = Room("mediation-1")
        actions = room.handle(Joined(AGENT, Role.HOST, "Mediator"))
        assert StartRecording() not in actions
        assert room.recording is Recording.OFF

    def test_silent_roles_are_heard_by_nobody(self) -> None:
        """A supervisor or observer receives everyone and reaches nobody."""
        room = call_room()
        room.handle(Joined(SUP, Role.SUPERVISOR, "Sup"))
        assert room.allows(AGENT, SUP, "audio")
        assert not room.allows(SUP, AGENT, "audio")
        assert not room.allows(SUP, CALLER, "video")


class TestHold:
    def test_hold_cuts_the_caller_off_both_ways(self) -> None:
        """On hold the caller gets nothing from the agent and is heard by nobody."""
        room = call_room()
        actions = room.handle(HoldAsked(AGENT, on=True))
        assert SetRoute(AGENT, CALLER, audio=False, video=False) in actions
        assert SetRoute(CALLER, AGENT, audio=False, video=False) in actions
        assert {(n.to, n.participant) for n in notices(actions, Notice.ON_HOLD)} == {
            (AGENT, CALLER),
            (CALLER, CALLER),
        }
        resumed = room.handle(HoldAsked(AGENT, on=False))
        assert SetRoute(AGENT, CALLER, audio=True, video=True) in resumed
        assert len(notices(resumed, Notice.RESUMED)) == 2

    def test_only_the_host_holds(self) -> None:
        """The caller cannot put the call on hold; nothing changes."""
        room = call_room()
        with pytest.raises(NotAllowed):
            room.handle(HoldAsked(CALLER, on=True))
        assert room.mode is Mode.JOINT

    def test_hold_twice_is_refused(self) -> None:
        """Holding a held room, or resuming a joint one, is a bad state."""
        room = call_room()
        with pytest.raises(BadState):
            room.handle(HoldAsked(AGENT, on=False))
        room.handle(HoldAsked(AGENT, on=True))
        with pytest.raises(BadState):
            room.handle(HoldAsked(AGENT, on=True))

    def test_hold_with_nobody_to_hold_tells_the_room(self) -> None:
        """The host alone still hears that the room is on hold."""
        room = Room("R-S-1")
        room.handle(Joined(AGENT, Role.HOST, "Lawyer Li"))
        actions = room.handle(HoldAsked(AGENT, on=True))
        assert notices(actions, Notice.ON_HOLD) == [Notify(AGENT, Notice.ON_HOLD)]

    def test_a_caller_joining_a_held_room_is_held(self) -> None:
        """Whoever joins a held room as a caller is told and cut off."""
        room = Room("R-S-1")
        room.handle(Joined(AGENT, Role.HOST, "Lawyer Li"))
        room.handle(HoldAsked(AGENT, on=True))
        actions = room.handle(Joined(CALLER, Role.CALLER, "Caller"))
        assert Notify(CALLER, Notice.ON_HOLD, participant=CALLER) in actions
        assert SetRoute(AGENT, CALLER, audio=False, video=False) in actions


class TestMute:
    def test_staff_mute_is_kept_until_staff_undo_it(self) -> None:
        """A caller muted by the agent cannot unmute; the agent can."""
        room = call_room()
        actions = room.handle(MuteAsked(AGENT, CALLER, "audio", muted=True))
        assert SetRoute(CALLER, AGENT, audio=False, video=True) in actions
        assert len(notices(actions, Notice.MUTED)) == 2
        assert room.muted(CALLER) == ["audio"]
        with pytest.raises(NotAllowed):
            room.handle(MuteAsked(CALLER, CALLER, "audio", muted=False))
        room.handle(MuteAsked(AGENT, CALLER, "audio", muted=False))
        assert room.muted(CALLER) == []

    def test_anyone_mutes_themselves(self) -> None:
        """A caller mutes and unmutes their own video."""
        room = call_room()
        room.handle(MuteAsked(CALLER, CALLER, "video", muted=True))
        assert not room.allows(CALLER, AGENT, "video")
        room.handle(MuteAsked(CALLER, CALLER, "video", muted=False))
        assert room.allows(CALLER, AGENT, "video")

    def test_a_caller_cannot_mute_others(self) -> None:
        """Only staff mute other participants."""
        with pytest.raises(NotAllowed):
            call_room().handle(MuteAsked(CALLER, AGENT, "audio", muted=True))

    def test_unknown_kind_and_stranger(self) -> None:
        """A kind that is not audio/video, or someone not in the room, is refused."""
        room = call_room()
        with pytest.raises(BadState):
            room.handle(MuteAsked(AGENT, CALLER, "smell", muted=True))
        with pytest.raises(NotInRoom):
            room.handle(MuteAsked(AGENT, ParticipantId("nobody"), "audio", muted=True))


class TestRecording:
    def test_a_call_recording_cannot_be_stopped(self) -> None:
        """Stopping a call's recording is refused while the call lasts."""
        room = call_room()
        with pytest.raises(RecordingRequired):
            room.handle(RecordingAsked(AGENT, on=False))
        with pytest.raises(BadState):
            room.handle(RecordingAsked(AGENT, on=True))
        assert room.recording is Recording.ON

    def test_meeting_recording_on_and_off(self) -> None:
        """Staff start and stop a meeting's recording; everyone hears it stopped."""
        room = Room("mediation-1")
        room.handle(Joined(AGENT, Role.HOST, "Mediator"))
        room.handle(Joined(CALLER, Role.PARTY, "Party"))
        with pytest.raises(BadState):
            room.handle(RecordingAsked(AGENT, on=False))
        with pytest.raises(NotAllowed):
            room.handle(RecordingAsked(CALLER, on=True))
        assert room.handle(RecordingAsked(AGENT, on=True)) == [StartRecording(limit_s=None)]
        stopped = room.handle(RecordingAsked(AGENT, on=False))
        assert stopped[0] == StopRecording()
        assert len(notices(stopped, Notice.RECORDING_STOPPED)) == 2


class TestVoicemail:
    def test_voicemail_rooms_by_prefix(self) -> None:
        """V-<session> is a voicemail room of that session, recorded like a call."""
        assert voicemail_room("S-abc") == "V-S-abc"
        assert kind_of("V-S-abc") is RoomKind.VOICEMAIL
        assert session_of("V-S-abc") == "S-abc"
        assert session_of("V-") is None
        assert Room("V-S-abc").recording_required

    def test_recorded_from_the_first_join_with_a_two_minute_limit(self) -> None:
        """The caller's join starts a recording limited to 120 s (or the limit given)."""
        actions = Room("V-S-1").handle(Joined(CALLER, Role.CALLER, "Caller"))
        assert StartRecording(limit_s=120.0) in actions
        assert notices(actions, Notice.RECORDED) == [Notify(CALLER, Notice.RECORDED)]
        short = Room("V-S-1", recording_limit_s=3.0).handle(Joined(CALLER, Role.CALLER))
        assert StartRecording(limit_s=3.0) in short

    def test_the_limit_stops_the_recording_for_good_and_tells_the_caller(self) -> None:
        """At the limit the recording stops, the caller is told, and it never restarts."""
        room = Room("V-S-1")
        room.handle(Joined(CALLER, Role.CALLER, "Caller"))
        assert room.handle(RecordingLimitReached()) == [
            StopRecording(),
            Notify(CALLER, Notice.RECORDING_LIMIT),
        ]
        assert room.recording is Recording.DONE
        with pytest.raises(BadState):
            room.handle(RecordingLimitReached())
        again = room.handle(Joined(CALLER, Role.CALLER, "Caller"))  # a reconnect
        assert not [a for a in again if isinstance(a, StartRecording)]
        assert not notices(again, Notice.RECORDED)
        assert room.handle(Left(CALLER)) == [CloseRoom()]

    def test_the_caller_alone(self) -> None:
        """Nobody joins a caller's voicemail room: no second seat, no other role."""
        room = Room("V-S-1")
        with pytest.raises(NotAllowed):
            room.handle(Joined(AGENT, Role.HOST, "Lawyer Li"))
        room.handle(Joined(CALLER, Role.CALLER, "Caller"))
        with pytest.raises(NotAllowed):
            room.check_join(ParticipantId("caller-2"), Role.CALLER)
        with pytest.raises(NotAllowed):
            room.handle(Joined(ParticipantId("caller-2"), Role.CALLER))
        room.check_join(CALLER, Role.CALLER)  # the same caller reconnecting keeps its seat
        assert list(room.members) == [CALLER]

    def test_the_caller_cannot_stop_or_restart_it(self) -> None:
        """Only staff ask for recording; a required room refuses to stop, a finished one
        to start again."""
        room = Room("V-S-1")
        room.handle(Joined(CALLER, Role.CALLER, "Caller"))
        with pytest.raises(NotAllowed):
            room.handle(RecordingAsked(CALLER, on=False))
        meeting = Room("mediation-1", recording_limit_s=60.0)
        meeting.handle(Joined(AGENT, Role.HOST))
        assert meeting.handle(RecordingAsked(AGENT, on=True)) == [StartRecording(limit_s=60.0)]
        meeting.handle(RecordingLimitReached())
        with pytest.raises(BadState):
            meeting.handle(RecordingAsked(AGENT, on=True))
        with pytest.raises(BadState):
            meeting.handle(RecordingAsked(AGENT, on=False))

    def test_leaving_while_recording_stops_it(self) -> None:
        """The caller leaving (sent, cancelled, dropped) stops the recording and closes."""
        room = Room("V-S-1")
        room.handle(Joined(CALLER, Role.CALLER, "Caller"))
        assert room.handle(Left(CALLER)) == [StopRecording(), CloseRoom()]


class TestLeave:
    def test_the_call_closes_when_both_left(self) -> None:
        """The last to leave stops the recording and closes the room; then it is closed."""
        room = call_room()
        room.handle(MuteAsked(AGENT, CALLER, "audio", muted=True))
        first = room.handle(Left(CALLER))
        assert first == [Notify(AGENT, Notice.PARTICIPANT_LEFT, participant=CALLER)]
        assert room.muted(CALLER) == []
        assert room.handle(Left(AGENT)) == [StopRecording(), CloseRoom()]
        assert room.lifecycle is Lifecycle.CLOSED
        with pytest.raises(BadState):
            room.handle(Joined(AGENT, Role.HOST, "Lawyer Li"))

    def test_an_unrecorded_room_just_closes(self) -> None:
        """A meeting that never recorded closes with no recording action."""
        room = Room("mediation-1")
        room.handle(Joined(AGENT, Role.HOST, "Mediator"))
        assert room.handle(Left(AGENT)) == [CloseRoom()]

    def test_leaving_twice_is_refused(self) -> None:
        """A participant not in the room cannot leave it."""
        room = call_room()
        room.handle(Left(CALLER))
        with pytest.raises(NotInRoom):
            room.handle(Left(CALLER))


class TestFigures:
    def test_staff_in_the_room_see_figures(self) -> None:
        """Figures are for staff in the room, never callers or strangers."""
        room = call_room()
        assert room.may_see_figures(AGENT)
        assert not room.may_see_figures(CALLER)
        assert not room.may_see_figures(SUP)


class TestPure:
    def test_standard_library_only(self) -> None:
        """rooms/ imports nothing but the standard library and itself (DESIGN.md)."""
        for path in Path("rooms").glob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    assert top in sys.stdlib_module_names or top == "rooms", (path, name)


class TestAdmission:
    def test_staff_host_any_room(self) -> None:
        """Signed-in agents enter any room, open or not, as host; other staff monitor."""
        assert admit("x", staff=True, granted=False, token_room=None, is_open=False) is Role.HOST
        role = admit("x", staff=True, agent=False, granted=False, token_room=None, is_open=True)
        assert role is Role.SUPERVISOR

    def test_the_caller_of_a_call_enters_its_room_first_if_need_be(self) -> None:
        """A connection granted the call's room enters it as caller, even unopened."""
        role = admit("R-S-1", staff=False, granted=True, token_room=None, is_open=False)
        assert role is Role.CALLER

    def test_an_invited_party_enters_its_open_room_only(self) -> None:
        """A room token admits to its room once open, as party; else refused."""
        assert admit("m", staff=False, granted=False, token_room="m", is_open=True) is Role.PARTY
        with pytest.raises(BadState):
            admit("m", staff=False, granted=False, token_room="m", is_open=False)
        with pytest.raises(NotAllowed):
            admit("m", staff=False, granted=False, token_room="other", is_open=True)
        with pytest.raises(NotAllowed):
            admit("m", staff=False, granted=False, token_room=None, is_open=True)

    def test_a_voicemail_room_admits_its_granted_caller_only(self) -> None:
        """Only the connection granted V-<session> enters it (as caller); not staff, not
        a room token for it."""
        assert admit("V-S-1", staff=False, granted=True, token_room=None, is_open=False) is (
            Role.CALLER
        )
        for staff, token_room in ((True, None), (False, "V-S-1"), (False, None)):
            with pytest.raises(NotAllowed):
                admit("V-S-1", staff=staff, granted=False, token_room=token_room, is_open=True)
