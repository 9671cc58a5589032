"""Media nodes: placement (pure), the room directory on real Redis, forwarding between nodes.

The forwarding tests run two ``PlacedRooms`` (two nodes) in this process on the same
Redis with a fresh prefix, each over a fake local ``RoomService`` that records what it
was asked; sockets are ``RoomSession``s whose messages land in a list.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from signaling import protocol as p
from signaling.identity import Identity
from signaling.media_nodes import MediaNode, MediaNodeLoad, RedisMediaNodes, choose_node
from signaling.room_forwarding import PlacedRooms
from signaling.rooms import RoomPeer, RoomRefused, RoomSession

Code = p.RoomErrorCode
MEDIATOR = Identity(kind="staff", user_id="7", display_name="M", roles=frozenset({"mediator"}))
SUPERVISOR = Identity(kind="staff", user_id="3", display_name="S", roles=frozenset({"supervisor"}))
PARTY = Identity(kind="caller", user_id="v-1", display_name="party", room="m-1")
TTL_MS = 3000


def node(name: str, rooms: int, capacity: int = 8, *, expires: int = 10_000) -> MediaNode:
    return MediaNode(
        node=name,
        rooms=rooms,
        participants=rooms * 3,
        capacity=capacity,
        load=rooms / capacity,
        expires_at_ms=expires,
    )


class TestChooseNode:
    def test_the_least_loaded_live_node_wins(self) -> None:
        """Of live nodes with a free room, the one with the lowest load figure is chosen."""
        chosen = choose_node([node("a", 5), node("b", 1), node("c", 3)], now_ms=1000)
        assert chosen is not None
        assert chosen.node == "b"

    def test_load_is_relative_to_capacity(self) -> None:
        """A big node with more rooms can still be the less loaded one."""
        chosen = choose_node([node("small", 2, 4), node("big", 4, 16)], now_ms=1000)
        assert chosen is not None
        assert chosen.node == "big"

    def test_full_nodes_are_never_chosen(self) -> None:
        """A node at capacity is skipped; every node full gives None (room_full)."""
        chosen = choose_node([node("a", 8), node("b", 7)], now_ms=1000)
        assert chosen is not None
        assert chosen.node == "b"
        assert choose_node([node("a", 8), node("b", 8)], now_ms=1000) is None
        assert choose_node([], now_ms=1000) is None

    def test_a_stale_heartbeat_is_ignored(self) -> None:
        """A node whose deadline has passed is not live, however idle it looks."""
        nodes = [node("dead", 0, expires=999), node("busy", 6, expires=5000)]
        chosen = choose_node(nodes, now_ms=1000)
        assert chosen is not None
        assert chosen.node == "busy"
        assert choose_node([node("dead", 0, expires=1000)], now_ms=1000) is None

    def test_ties_are_deterministic(self) -> None:
        """Equal load: fewer participants, then the node id."""
        a = MediaNode("a", 1, 5, 8, 0.125, 10_000)
        b = MediaNode("b", 1, 2, 8, 0.125, 10_000)
        c = MediaNode("c", 1, 2, 8, 0.125, 10_000)
        chosen = choose_node([a, c, b], now_ms=0)
        assert chosen is not None
        assert chosen.node == "b"


# ------------------------------------------------------------------ on real Redis


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:10]}:media"
    yield prefix
    cleaner = RedisMediaNodes(redis_url, prefix=prefix)
    await cleaner.start()
    await cleaner.delete_all()
    await cleaner.close()


@pytest.fixture
async def directory(redis_url: str, prefix: str) -> AsyncIterator[Callable[..., Any]]:
    started: list[RedisMediaNodes] = []

    async def make(node_id: str) -> RedisMediaNodes:
        nodes = RedisMediaNodes(redis_url, prefix=prefix, node_id=node_id)
        await nodes.start()
        started.append(nodes)
        return nodes

    yield make
    for nodes in started:
        await nodes.close()


def load(rooms: int, capacity: int = 8) -> MediaNodeLoad:
    return MediaNodeLoad(rooms=rooms, participants=2 * rooms, capacity=capacity, load=rooms / 8)


class TestDirectory:
    async def test_published_loads_are_read_back_with_a_deadline(
        self, directory: Callable[..., Any]
    ) -> None:
        """publish writes the figures with a deadline ttl ahead on the Redis clock."""
        a = await directory("A")
        await a.publish(load(2), ttl_ms=TTL_MS)
        nodes, now_ms = await a.nodes()
        assert [(n.node, n.rooms, n.participants, n.capacity) for n in nodes] == [("A", 2, 4, 8)]
        assert now_ms < nodes[0].expires_at_ms <= now_ms + TTL_MS

    async def test_concurrent_claims_agree_on_one_home(self, directory: Callable[..., Any]) -> None:
        """Two nodes claiming the same room at once: both get the same home."""
        a, b = await directory("A"), await directory("B")
        await a.publish(load(0), ttl_ms=TTL_MS)
        await b.publish(load(0), ttl_ms=TTL_MS)
        homes = await asyncio.gather(a.claim("r", "A"), b.claim("r", "B"))
        assert homes[0] == homes[1]
        assert await a.home("r") == homes[0]

    async def test_a_lapsed_home_is_forgotten_and_replaced(
        self, directory: Callable[..., Any]
    ) -> None:
        """A room whose home's heartbeat lapsed has no home; the next claim takes it."""
        a, b = await directory("A"), await directory("B")
        await a.publish(load(0), ttl_ms=TTL_MS)
        await b.publish(load(0), ttl_ms=50)
        assert await b.claim("r", "B") == "B"
        await asyncio.sleep(0.1)
        assert await a.home("r") is None
        assert await a.claim("r", "A") == "A"

    async def test_release_is_the_homes_alone(self, directory: Callable[..., Any]) -> None:
        """Only the home's release clears the entry; a closed node frees its rooms."""
        a, b = await directory("A"), await directory("B")
        await a.publish(load(0), ttl_ms=TTL_MS)
        await b.publish(load(0), ttl_ms=TTL_MS)
        await a.claim("r", "A")
        await b.release("r")
        assert await b.home("r") == "A"
        await a.release("r")
        assert await b.home("r") is None
        await a.claim("s", "A")
        await a.close()
        assert await b.home("s") is None


# ------------------------------------------------------------------ forwarding


class FakeLocal:
    """One node's own rooms: records calls, talks back to its peers like MediaRooms."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[Any, ...]] = []
        self.seats: dict[str, RoomPeer] = {}
        self.gone: list[str] = []
        self.left = asyncio.Event()
        self.refuse_mute = False

    async def join(self, peer: RoomPeer, room: str, sdp: str) -> str:
        if peer.identity.kind != "staff" and not peer.granted(room) and not self.seats:
            raise RoomRefused(Code.BAD_STATE, "the room is not open yet; try again")
        self.calls.append(("join", peer.participant_id, room, sdp))
        for other in self.seats.values():
            other.send(p.RecordingStarted(room=room))
        self.seats[peer.participant_id] = peer
        return f"answer from {self.name}"

    async def leave(self, peer: RoomPeer, room: str) -> None:
        self.calls.append(("leave", peer.participant_id, room))
        self.seats.pop(peer.participant_id, None)

    async def mute(
        self, peer: RoomPeer, room: str, participant: str, kind: p.MediaKind, muted: bool
    ) -> None:
        if self.refuse_mute:
            raise RoomRefused(Code.NOT_ALLOWED, "only staff mute other participants")
        self.calls.append(("mute", peer.participant_id, participant, kind, muted))
        for seat in self.seats.values():
            seat.send(p.Muted(room=room, participant=participant, kind=kind, muted=muted))

    async def set_recording(self, peer: RoomPeer, room: str, on: bool) -> None:
        self.calls.append(("set_recording", peer.participant_id, on))

    async def hold(self, peer: RoomPeer, room: str, on: bool) -> None:
        self.calls.append(("hold", peer.participant_id, on))
        for seat in self.seats.values():
            seat.send(p.RoomNotice(room=room, notice=p.Notice.ON_HOLD if on else p.Notice.RESUMED))

    async def stats(self, peer: RoomPeer, room: str) -> list[p.RoomStats]:
        self.calls.append(("stats", peer.participant_id, room))
        return [
            p.RoomStats(
                room=room,
                participant=pid,
                index=i,
                count=len(self.seats),
                packets_received=10,
                packets_lost=0,
                uplink_loss=0.0,
                jitter_ms=1.0,
            )
            for i, pid in enumerate(sorted(self.seats), start=1)
        ]

    async def disconnected(self, peer: RoomPeer) -> None:
        self.gone.append(peer.participant_id)
        self.seats.pop(peer.participant_id, None)
        self.left.set()


class Socket:
    """A socket's room side, with what it was sent."""

    def __init__(self, identity: Identity) -> None:
        self.sent: list[p.ServerMessage] = []
        self.session = RoomSession(identity, self.sent.append)

    async def wait_for(self, kind: type[Any], within: float = 5.0) -> Any:
        async with asyncio.timeout(within):
            while True:
                for msg in self.sent:
                    if isinstance(msg, kind):
                        return msg
                await asyncio.sleep(0.01)


class Cluster:
    def __init__(self) -> None:
        self.local: dict[str, FakeLocal] = {}
        self.placed: dict[str, PlacedRooms] = {}


@pytest.fixture
async def cluster(directory: Callable[..., Any]) -> AsyncIterator[Cluster]:
    """Nodes A (4 of 8 rooms in use) and B (idle), both live and listening."""
    cluster = Cluster()
    tasks = []
    for name, rooms in (("A", 4), ("B", 0)):
        nodes = await directory(name)
        await nodes.publish(load(rooms), ttl_ms=TTL_MS)
        cluster.local[name] = FakeLocal(name)
        placed = PlacedRooms(cluster.local[name], nodes, call_timeout_s=5.0)
        cluster.placed[name] = placed
        tasks.append(asyncio.create_task(placed.run()))
        await asyncio.wait_for(nodes.wait_ready(), 5)
    yield cluster
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class TestPlacement:
    async def test_staff_open_the_room_on_the_least_loaded_node(self, cluster: Cluster) -> None:
        """A mediator on A opens a room: it is placed on idle B, and the answer is B's."""
        mediator = Socket(MEDIATOR)
        answer = await cluster.placed["A"].join(mediator.session, "m-1", "offer")
        assert answer == "answer from B"
        assert cluster.local["A"].calls == []
        assert cluster.local["B"].calls == [("join", "staff-7", "m-1", "offer")]
        assert await cluster.placed["A"].nodes.home("m-1") == "B"

    async def test_a_room_never_spans_nodes(self, cluster: Cluster) -> None:
        """A party on B joining the room homed on B stays local; one on A is forwarded."""
        await cluster.placed["A"].join(Socket(MEDIATOR).session, "m-1", "offer")
        party_b = Socket(PARTY)
        assert await cluster.placed["B"].join(party_b.session, "m-1", "o2") == "answer from B"
        other = Identity(kind="caller", user_id="v-2", display_name="p2", room="m-1")
        assert await cluster.placed["A"].join(Socket(other).session, "m-1", "o3") == (
            "answer from B"
        )
        assert sorted(cluster.local["B"].seats) == ["caller-v-1", "caller-v-2", "staff-7"]
        assert cluster.local["A"].seats == {}

    async def test_every_node_full_is_room_full(self, cluster: Cluster) -> None:
        """No live node with a free room: room_full, and no home is recorded."""
        for name in ("A", "B"):
            await cluster.placed[name].nodes.publish(load(8), ttl_ms=TTL_MS)
        with pytest.raises(RoomRefused) as info:
            await cluster.placed["A"].join(Socket(MEDIATOR).session, "m-1", "offer")
        assert info.value.code is Code.ROOM_FULL
        assert await cluster.placed["A"].nodes.home("m-1") is None

    async def test_a_node_whose_heartbeat_lapsed_is_not_chosen(self, cluster: Cluster) -> None:
        """Idle B stops beating: the room goes to busier A."""
        await cluster.placed["B"].nodes.publish(load(0), ttl_ms=1)
        await asyncio.sleep(0.05)
        answer = await cluster.placed["B"].join(Socket(MEDIATOR).session, "m-1", "offer")
        assert answer == "answer from A"

    async def test_a_caller_cannot_open_a_room(self, cluster: Cluster) -> None:
        """A room with no home is not placed for a caller: bad_state, try again."""
        with pytest.raises(RoomRefused) as info:
            await cluster.placed["A"].join(Socket(PARTY).session, "m-1", "offer")
        assert info.value.code is Code.BAD_STATE
        assert await cluster.placed["A"].nodes.home("m-1") is None

    async def test_the_caller_of_a_call_may_open_its_room(self, cluster: Cluster) -> None:
        """A connection granted a call's room places it like staff (either may be first)."""
        caller = Socket(PARTY)
        caller.session.grants.add("R-S-1")
        answer = await cluster.placed["A"].join(caller.session, "R-S-1", "offer")
        assert answer == "answer from B"
        assert await cluster.placed["A"].nodes.home("R-S-1") == "B"


class TestForwarding:
    async def test_hold_reaches_the_home_and_its_notice_the_socket(self, cluster: Cluster) -> None:
        """hold from a socket on A is carried out on B; B's room_notice comes back."""
        mediator = Socket(MEDIATOR)
        await cluster.placed["A"].join(mediator.session, "m-1", "offer")
        await cluster.placed["A"].hold(mediator.session, "m-1", True)
        assert (await mediator.wait_for(p.RoomNotice)).notice is p.Notice.ON_HOLD
        assert ("hold", "staff-7", True) in cluster.local["B"].calls

    async def test_notices_from_the_home_reach_the_socket(self, cluster: Cluster) -> None:
        """What the home sends a guest (recording_started, muted) arrives on its socket."""
        mediator, party = Socket(MEDIATOR), Socket(PARTY)
        await cluster.placed["A"].join(mediator.session, "m-1", "offer")
        await cluster.placed["A"].join(party.session, "m-1", "offer")
        assert (await mediator.wait_for(p.RecordingStarted)).room == "m-1"
        await cluster.placed["A"].mute(party.session, "m-1", "caller-v-1", p.MediaKind.AUDIO, True)
        for socket in (mediator, party):
            muted = await socket.wait_for(p.Muted)
            assert (muted.participant, muted.muted) == ("caller-v-1", True)
        assert ("mute", "caller-v-1", "caller-v-1", p.MediaKind.AUDIO, True) in (
            cluster.local["B"].calls
        )

    async def test_a_reoffer_is_answered_through_the_socket_node(self, cluster: Cluster) -> None:
        """The home's renegotiate reaches the socket as room_offer; its room_answer returns."""
        mediator = Socket(MEDIATOR)
        await cluster.placed["A"].join(mediator.session, "m-1", "offer")
        guest = cluster.local["B"].seats["staff-7"]
        pending = asyncio.create_task(guest.renegotiate("m-1", "v=0\r\nreoffer"))
        offer = await mediator.wait_for(p.RoomOffer)
        assert (offer.room, offer.sdp) == ("m-1", "v=0\r\nreoffer")
        mediator.session.answered(p.RoomAnswer(room="m-1", seq=offer.seq, sdp="v=0\r\nanswer"))
        assert await asyncio.wait_for(pending, 5) == "v=0\r\nanswer"

    async def test_refusals_come_back_with_their_code(self, cluster: Cluster) -> None:
        """The home's RoomRefused reaches the socket's node with its code and detail."""
        await cluster.placed["A"].join(Socket(MEDIATOR).session, "m-1", "offer")
        party = Socket(PARTY)
        await cluster.placed["A"].join(party.session, "m-1", "offer")
        cluster.local["B"].refuse_mute = True
        with pytest.raises(RoomRefused) as info:
            await cluster.placed["A"].mute(party.session, "m-1", "staff-7", p.MediaKind.VIDEO, True)
        assert (info.value.code, info.value.detail) == (
            Code.NOT_ALLOWED,
            "only staff mute other participants",
        )

    async def test_stats_for_a_supervisor_on_another_node(self, cluster: Cluster) -> None:
        """A supervisor in no room asks on A for the room homed on B: B's figures come back."""
        await cluster.placed["A"].join(Socket(MEDIATOR).session, "m-1", "offer")
        found = await cluster.placed["A"].stats(Socket(SUPERVISOR).session, "m-1")
        assert [(s.participant, s.count) for s in found] == [("staff-7", 1)]
        assert ("stats", "staff-3", "m-1") in cluster.local["B"].calls

    async def test_leave_and_a_closed_socket_reach_the_home(self, cluster: Cluster) -> None:
        """leave_room is carried out on the home; a closed socket's guest is dropped there."""
        mediator, party = Socket(MEDIATOR), Socket(PARTY)
        await cluster.placed["A"].join(mediator.session, "m-1", "offer")
        await cluster.placed["A"].join(party.session, "m-1", "offer")
        await cluster.placed["A"].leave(party.session, "m-1")
        assert ("leave", "caller-v-1", "m-1") in cluster.local["B"].calls
        await asyncio.wait_for(cluster.local["B"].left.wait(), 5)  # its guest is dropped
        assert cluster.local["B"].gone == ["caller-v-1"]
        cluster.local["B"].left.clear()
        await cluster.placed["A"].disconnected(mediator.session)
        await asyncio.wait_for(cluster.local["B"].left.wait(), 5)
        assert cluster.local["B"].gone == ["caller-v-1", "staff-7"]
        assert cluster.local["A"].gone == ["staff-7"]  # the local service is told too

    async def test_a_closed_room_is_released(self, cluster: Cluster) -> None:
        """room_closed on the home clears the directory entry; the next opener places anew."""
        await cluster.placed["A"].join(Socket(MEDIATOR).session, "m-1", "offer")
        await cluster.placed["B"].room_closed("m-1")
        assert await cluster.placed["A"].nodes.home("m-1") is None


class TestLostSubscription:
    async def test_a_node_resubscribes_and_fails_waiting_calls(
        self, cluster: Cluster, redis_url: str
    ) -> None:
        """Redis drops A's subscription: a call waiting on A fails at once, later ones work."""
        mediator = Socket(MEDIATOR)
        await cluster.placed["A"].join(mediator.session, "m-1", "offer")
        guest = cluster.local["B"].seats["staff-7"]
        # B waits on A for a re-offer's answer that the socket never gives.
        pending = asyncio.create_task(guest.renegotiate("m-1", "v=0\r\nreoffer"))
        await mediator.wait_for(p.RoomOffer)
        nodes_b = cluster.placed["B"].nodes
        admin = aioredis.Redis.from_url(redis_url)
        try:
            name = f"{nodes_b.prefix}:B:listener"
            (mine,) = [c for c in await admin.client_list() if c["name"] == name]
            await admin.client_kill_filter(_id=mine["id"])
        finally:
            await admin.aclose()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(pending, 5)
        await cluster.placed["A"].set_recording(mediator.session, "m-1", True)
        assert ("set_recording", "staff-7", True) in cluster.local["B"].calls
