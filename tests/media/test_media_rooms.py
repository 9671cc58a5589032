"""hotline.rooms.MediaRooms: who may enter and act in a room (refusals need no peers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from hotline import keys
from hotline.rooms import MediaRooms, _room_stats
from media.manager import RoomManager
from media.stats import InboundStats, ParticipantStats
from signaling import protocol as p
from signaling.identity import Identity
from signaling.rooms import RoomRefused, RoomSession

STAFF = Identity(kind="staff", user_id="7", display_name="M", roles=frozenset({"mediator"}))


def caller(room: str) -> Identity:
    return Identity(kind="caller", user_id="v-1", display_name="caller", room=room)


def session(identity: Identity) -> RoomSession:
    sent: list[p.ServerMessage] = []
    return RoomSession(identity, sent.append)


@pytest.fixture
def rooms(tmp_path: Path) -> MediaRooms:
    app = web.Application()
    app[keys.MEDIA] = RoomManager(ice_servers=[], recording_dir=tmp_path)
    return MediaRooms(app)


async def _refused(code: p.RoomErrorCode, call: object) -> None:
    with pytest.raises(RoomRefused) as info:
        await call  # type: ignore[misc]
    assert info.value.code is code


class TestWhoMayEnter:
    async def test_a_token_for_another_room_is_refused(self, rooms: MediaRooms) -> None:
        """A caller's token names one room; any other is not_allowed."""
        await _refused(p.RoomErrorCode.NOT_ALLOWED, rooms.join(session(caller("a")), "b", "v=0"))

    async def test_a_caller_cannot_open_a_room(self, rooms: MediaRooms) -> None:
        """Even for its own room, a caller waits until staff have opened it (bad_state)."""
        await _refused(p.RoomErrorCode.BAD_STATE, rooms.join(session(caller("a")), "a", "v=0"))
        assert rooms.manager.rooms == {}

    async def test_a_bad_offer_is_negotiation_failed_and_leaves_no_room(
        self, rooms: MediaRooms
    ) -> None:
        """Staff opening a room with an unusable SDP: negotiation_failed, nothing left open."""
        await _refused(p.RoomErrorCode.NEGOTIATION_FAILED, rooms.join(session(STAFF), "a", "v=0"))
        assert rooms.manager.rooms == {}
        assert rooms.peers == {}

    async def test_the_media_node_not_running_is_unavailable(self) -> None:
        """Before the media node starts (or after it stops) rooms are unavailable."""
        rooms = MediaRooms(web.Application())
        await _refused(p.RoomErrorCode.UNAVAILABLE, rooms.join(session(STAFF), "a", "v=0"))


class TestActionsNeedASeat:
    async def test_leave_mute_and_recording_outside_the_room(self, rooms: MediaRooms) -> None:
        """leave_room, mute, set_recording and hold from someone not in the room: not_in_room."""
        peer = session(STAFF)
        code = p.RoomErrorCode.NOT_IN_ROOM
        await _refused(code, rooms.leave(peer, "a"))
        await _refused(code, rooms.mute(peer, "a", "staff-7", p.MediaKind.AUDIO, True))
        await _refused(code, rooms.set_recording(peer, "a", True))
        await _refused(code, rooms.hold(peer, "a", True))


SUPERVISOR = Identity(kind="staff", user_id="3", display_name="S", roles=frozenset({"supervisor"}))


class TestRoomStatsAccess:
    async def test_callers_never_see_quality(self, rooms: MediaRooms) -> None:
        """A caller or invited party asking for its own room's figures: not_allowed."""
        await _refused(p.RoomErrorCode.NOT_ALLOWED, rooms.stats(session(caller("a")), "a"))

    async def test_staff_outside_the_room_are_not_in_room(self, rooms: MediaRooms) -> None:
        """A mediator who is not in the room (and no supervisor) gets not_in_room."""
        rooms.manager.create_room("a")
        await _refused(p.RoomErrorCode.NOT_IN_ROOM, rooms.stats(session(STAFF), "a"))

    async def test_supervisors_need_no_seat_but_an_open_room(self, rooms: MediaRooms) -> None:
        """A supervisor sees any open room's figures (none yet here); a closed room: not_in_room."""
        await _refused(p.RoomErrorCode.NOT_IN_ROOM, rooms.stats(session(SUPERVISOR), "a"))
        rooms.manager.create_room("a")
        assert await rooms.stats(session(SUPERVISOR), "a") == []
        admin = Identity(kind="staff", user_id="1", display_name="A", roles=frozenset({"admin"}))
        assert await rooms.stats(session(admin), "a") == []


class TestRoomStatsMessage:
    def test_media_figures_become_a_valid_room_stats(self) -> None:
        """Kinds are summed (loss) and the worse jitter taken; values clamped into range."""
        figures = ParticipantStats(
            "caller-v-1",
            inbound={
                "audio": InboundStats(packets_received=90, packets_lost=10, jitter_ms=3.0),
                "video": InboundStats(packets_received=900, packets_lost=-2, jitter_ms=7.5),
            },
            downlink_loss=0.25,
            rtt_ms=41.0,
            bitrate_in_kbps=-1.0,  # a counter reset between samples
        )
        msg = _room_stats("a", figures, index=1, count=1)
        assert (msg.packets_received, msg.packets_lost, msg.jitter_ms) == (990, 10, 7.5)
        assert msg.uplink_loss == pytest.approx(10 / 1000)
        assert (msg.downlink_loss, msg.rtt_ms, msg.bitrate_in_kbps) == (0.25, 41.0, 0.0)
        assert msg.bitrate_out_kbps is None
        assert p.parse_server(p.serialize(msg)) == msg
