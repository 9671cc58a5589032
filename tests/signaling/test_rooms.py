"""Room messages through the Node, against a fake RoomService (no media, no netns)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from signaling import protocol as p
from signaling.backplane.memory import MemoryBackplane
from signaling.errors import ErrorCode
from signaling.rooms import RoomPeer, RoomRefused
from signaling.web import SIGNALING, setup_signaling
from tests.signaling.conftest import SECRET, Outcomes, Peer, authenticate, make_config

BIG_SDP = "v=0\r\n" + "a=candidate:1 1 udp 2130706431 127.0.0.2 40000 typ host\r\n" * 400


class FakeRooms:
    """Records what the Node asked; ``refuse`` / ``crash`` make the next call fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.peers: dict[str, RoomPeer] = {}
        self.refuse: RoomRefused | None = None
        self.crash = False
        self.gone: list[str] = []

    def _maybe_fail(self) -> None:
        if self.refuse is not None:
            refusal, self.refuse = self.refuse, None
            raise refusal
        if self.crash:
            self.crash = False
            raise RuntimeError("media exploded")

    async def join(self, peer: RoomPeer, room: str, sdp: str) -> str:
        self._maybe_fail()
        self.calls.append(("join", peer.participant_id, room, len(sdp)))
        self.peers[peer.participant_id] = peer
        return "v=0\r\nanswer"

    async def leave(self, peer: RoomPeer, room: str) -> None:
        self._maybe_fail()
        self.calls.append(("leave", peer.participant_id, room))

    async def mute(
        self, peer: RoomPeer, room: str, participant: str, kind: p.MediaKind, muted: bool
    ) -> None:
        self._maybe_fail()
        self.calls.append(("mute", peer.participant_id, room, participant, kind, muted))

    async def set_recording(self, peer: RoomPeer, room: str, on: bool) -> None:
        self._maybe_fail()
        self.calls.append(("set_recording", peer.participant_id, room, on))

    async def hold(self, peer: RoomPeer, room: str, on: bool) -> None:
        self._maybe_fail()
        self.calls.append(("hold", peer.participant_id, room, on))

    async def stats(self, peer: RoomPeer, room: str) -> list[p.RoomStats]:
        self._maybe_fail()
        self.calls.append(("stats", peer.participant_id, room))
        return [
            p.RoomStats(
                room=room,
                participant=pid,
                index=i,
                count=2,
                packets_received=100 * i,
                packets_lost=i,
                uplink_loss=0.01 * i,
                jitter_ms=2.0,
                rtt_ms=30.0 if i == 1 else None,
            )
            for i, pid in enumerate(("staff-1", "caller-u1"), start=1)
        ]

    async def disconnected(self, peer: RoomPeer) -> None:
        self.gone.append(peer.participant_id)

    def reoffer(self, participant: str, room: str) -> asyncio.Task[str]:
        """What media does when tracks change: a re-offer the client must answer."""
        return asyncio.create_task(self.peers[participant].renegotiate(room, "v=0\r\nreoffer"))


async def _app(rooms: FakeRooms | None, aiohttp_client: Callable[..., Any]) -> TestClient[Any, Any]:
    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=MemoryBackplane,
        authenticate=authenticate,
        record_outcome=Outcomes().record,
        engine_config=make_config(),
        resume_secret=SECRET,
        rooms=rooms,
    )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    await asyncio.wait_for(app[SIGNALING].leader.leading.wait(), 5)
    return client


@pytest.fixture
def rooms() -> FakeRooms:
    return FakeRooms()


@pytest.fixture
async def peer(rooms: FakeRooms, aiohttp_client: Callable[..., Any]) -> Peer:
    """A caller ``u1`` on a server with the fake room service, no hello said."""
    client = await _app(rooms, aiohttp_client)
    return Peer(await client.ws_connect("/ws?as=caller:u1"))


class TestJoinAndLeave:
    async def test_join_without_hello_gets_the_answer(self, rooms: FakeRooms, peer: Peer) -> None:
        """join_room needs no hello; the answer comes back as room_joined with our id."""
        await peer.send("join_room", room="m-1", sdp="v=0\r\noffer")
        joined = await peer.expect(p.RoomJoined)
        assert (joined.room, joined.participant, joined.sdp) == (
            "m-1",
            "caller-u1",
            "v=0\r\nanswer",
        )
        await peer.send("leave_room", room="m-1")
        assert (await peer.expect(p.RoomLeft)).room == "m-1"
        assert [c[0] for c in rooms.calls] == ["join", "leave"]

    async def test_a_large_sdp_is_accepted_but_not_a_large_anything_else(
        self, rooms: FakeRooms, peer: Peer
    ) -> None:
        """An SDP message over 8 KiB is carried; any other message that large is too_large."""
        assert len(BIG_SDP) > 2 * p.MAX_MESSAGE_BYTES
        await peer.send("join_room", room="m-1", sdp=BIG_SDP)
        await peer.expect(p.RoomJoined)
        assert rooms.calls[0][3] == len(BIG_SDP)
        await peer.send("ping", nonce="x" * 20_000)
        assert (await peer.expect(p.Error)).code is ErrorCode.TOO_LARGE

    async def test_mute_and_recording_reach_the_service(self, rooms: FakeRooms, peer: Peer) -> None:
        """mute, set_recording and hold are handed over as typed calls."""
        await peer.send("join_room", room="m-1", sdp="v=0")
        await peer.expect(p.RoomJoined)
        await peer.send("mute", room="m-1", participant="caller-u1", kind="audio", muted=True)
        await peer.send("set_recording", room="m-1", on=True)
        await peer.send("hold", room="m-1", on=True)
        await peer.send("ping", nonce="1")
        await peer.expect(p.Pong)
        assert rooms.calls[1:] == [
            ("mute", "caller-u1", "m-1", "caller-u1", p.MediaKind.AUDIO, True),
            ("set_recording", "caller-u1", "m-1", True),
            ("hold", "caller-u1", "m-1", True),
        ]


class TestRenegotiation:
    async def test_server_reoffer_is_answered_with_the_same_seq(
        self, rooms: FakeRooms, peer: Peer
    ) -> None:
        """room_offer carries a seq; the client's room_answer with that seq resolves it."""
        await peer.send("join_room", room="m-1", sdp="v=0")
        await peer.expect(p.RoomJoined)
        task = rooms.reoffer("caller-u1", "m-1")
        offer = await peer.expect(p.RoomOffer)
        assert (offer.room, offer.sdp) == ("m-1", "v=0\r\nreoffer")
        await peer.send("room_answer", room="m-1", seq=offer.seq, sdp="v=0\r\nclient")
        assert await asyncio.wait_for(task, 5) == "v=0\r\nclient"

    async def test_an_answer_nobody_asked_for_is_refused(self, peer: Peer) -> None:
        """room_answer with an unknown seq gets room_error bad_state."""
        await peer.send("room_answer", room="m-1", seq=9, sdp="v=0")
        error = await peer.expect(p.RoomError)
        assert (error.code, error.ref) == (p.RoomErrorCode.BAD_STATE, "room_answer")

    async def test_closing_the_socket_fails_open_reoffers_and_leaves(
        self, rooms: FakeRooms, peer: Peer
    ) -> None:
        """A socket that closes mid re-offer: the wait fails, the service is told once."""
        await peer.send("join_room", room="m-1", sdp="v=0")
        await peer.expect(p.RoomJoined)
        task = rooms.reoffer("caller-u1", "m-1")
        await peer.expect(p.RoomOffer)
        await peer.close()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(task, 5)
        for _ in range(50):
            if rooms.gone:
                break
            await asyncio.sleep(0.02)
        assert rooms.gone == ["caller-u1"]


class TestRoomStats:
    async def test_each_participant_comes_back_as_room_stats(
        self, rooms: FakeRooms, peer: Peer
    ) -> None:
        """get_room_stats reaches the service; its figures come back one room_stats each."""
        await peer.send("get_room_stats", room="m-1")
        first = await peer.expect(p.RoomStats)
        second = await peer.expect(p.RoomStats)
        assert rooms.calls == [("stats", "caller-u1", "m-1")]
        assert [(s.participant, s.index, s.count) for s in (first, second)] == [
            ("staff-1", 1, 2),
            ("caller-u1", 2, 2),
        ]
        assert (first.rtt_ms, second.rtt_ms) == (30.0, None)

    async def test_a_refusal_is_room_error_naming_get_room_stats(
        self, rooms: FakeRooms, peer: Peer
    ) -> None:
        """The service's refusal (a caller asking) is room_error with ref get_room_stats."""
        rooms.refuse = RoomRefused(p.RoomErrorCode.NOT_ALLOWED, "only staff")
        await peer.send("get_room_stats", room="m-1")
        error = await peer.expect(p.RoomError)
        assert (error.code, error.ref) == (p.RoomErrorCode.NOT_ALLOWED, "get_room_stats")


class TestRefusals:
    async def test_service_refusal_becomes_room_error(self, rooms: FakeRooms, peer: Peer) -> None:
        """RoomRefused(code) from the service is sent as room_error with that code and ref."""
        rooms.refuse = RoomRefused(p.RoomErrorCode.ROOM_FULL, "full")
        await peer.send("join_room", room="m-1", sdp="v=0")
        error = await peer.expect(p.RoomError)
        assert (error.room, error.code, error.detail, error.ref) == (
            "m-1",
            p.RoomErrorCode.ROOM_FULL,
            "full",
            "join_room",
        )

    async def test_a_service_crash_is_unavailable_and_the_socket_lives(
        self, rooms: FakeRooms, peer: Peer
    ) -> None:
        """Anything else the service raises is room_error unavailable; the socket stays open."""
        rooms.crash = True
        await peer.send("join_room", room="m-1", sdp="v=0")
        assert (await peer.expect(p.RoomError)).code is p.RoomErrorCode.UNAVAILABLE
        await peer.send("ping", nonce="2")
        assert (await peer.expect(p.Pong)).nonce == "2"

    async def test_without_a_room_service_rooms_are_unavailable(
        self, aiohttp_client: Callable[..., Any]
    ) -> None:
        """A server set up without rooms refuses room messages with unavailable."""
        client = await _app(None, aiohttp_client)
        peer = Peer(await client.ws_connect("/ws?as=caller:u1"))
        await peer.send("join_room", room="m-1", sdp="v=0")
        assert (await peer.expect(p.RoomError)).code is p.RoomErrorCode.UNAVAILABLE
