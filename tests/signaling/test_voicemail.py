"""Voice messages at the signaling level (issue 8): ``record_voicemail`` grants the
waiting caller's connection its voicemail room, ``cancel_voicemail`` takes it back,
``request_voicemail`` ``recorded`` sends it; the caller is told ``ended`` only once the
ticket is written; bad input and the wrong role are refused with codes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from routing import actions as act
from routing.model import RoutingConfig
from signaling import protocol as p
from signaling import records as rec
from signaling.backplane import Backplane
from signaling.router import Router
from signaling.web import SIGNALING, setup_signaling
from tests.signaling.conftest import SECRET, Outcomes, Peer, authenticate, make_config

Connect = Callable[..., Any]


class GatedTickets:
    """A ticket writer that writes only when the test lets it."""

    def __init__(self) -> None:
        self.written: list[act.CreateVoicemailTicket] = []
        self.open = asyncio.Event()

    async def create(self, action: act.CreateVoicemailTicket) -> None:
        await self.open.wait()
        self.written.append(action)


@pytest.fixture
def tickets() -> GatedTickets:
    return GatedTickets()


@pytest.fixture
def kept() -> list[tuple[str, str]]:
    return []


class Discards(list[str]):
    """The rooms whose recordings signaling asked to discard."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    async def add(self, room: str) -> None:
        self.append(room)
        self.changed.set()

    async def wait_for(self, count: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while len(self) < count:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def discarded() -> Discards:
    return Discards()


@pytest.fixture
async def client(
    backplane_factory: Callable[[], Backplane],
    aiohttp_client: Callable[..., Any],
    outcomes: Outcomes,
    config: RoutingConfig,
    tickets: GatedTickets,
    kept: list[tuple[str, str]],
    discarded: Discards,
) -> TestClient[Any, Any]:
    async def keep_number(session_id: str, number: str) -> None:
        kept.append((session_id, number))

    async def discard_recording(room: str) -> None:
        await discarded.add(room)

    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=backplane_factory,
        authenticate=authenticate,
        record_outcome=outcomes.record,
        create_ticket=tickets.create,
        engine_config=config,
        resume_secret=SECRET,
        grace_s=1.0,
        keep_number=keep_number,
        discard_recording=discard_recording,
    )
    test_client: TestClient[Any, Any] = await aiohttp_client(app)
    state = app[SIGNALING]
    await asyncio.wait_for(state.backplane.wait_ready(), 5)
    await asyncio.wait_for(state.leader.leading.wait(), 5)
    return test_client


@pytest.fixture
def connect(client: TestClient[Any, Any]) -> Connect:
    async def open_peer(who: str) -> Peer:
        peer = Peer(await client.ws_connect(f"/ws?as={who}"))
        await peer.send("hello")
        await peer.expect(p.Welcome)
        return peer

    return open_peer


def grants(client: TestClient[Any, Any], key: str) -> set[str]:
    conn = client.server.app[SIGNALING].node.conns[key]
    return set() if conn.room_session is None else set(conn.room_session.grants)


async def waiting(connect: Connect, name: str, **fields: Any) -> tuple[Peer, p.Queued]:
    caller: Peer = await connect(f"caller:{name}")
    await caller.send("join_queue", category="labour_wages", language="zh", **fields)
    return caller, await caller.expect(p.Queued)


async def refused(peer: Peer, code: p.ErrorCode, ref: str) -> p.Error:
    error = await peer.expect(p.Error)
    assert (error.code, error.ref) == (code, ref), error
    return error


class TestRecordedMessage:
    async def test_granted_recorded_sent_and_told_once_the_ticket_exists(
        self,
        client: TestClient[Any, Any],
        connect: Connect,
        tickets: GatedTickets,
        discarded: Discards,
    ) -> None:
        """record_voicemail → voicemail_room V-<session> (120 s) granted to the connection;
        request_voicemail recorded takes the grant back; ended comes after the ticket."""
        caller, queued = await waiting(connect, "u1", phone="13812345678")
        await caller.send("record_voicemail")
        room = await caller.expect(p.VoicemailRoom)
        assert (room.session_id, room.room, room.limit_s) == (
            queued.session_id,
            f"V-{queued.session_id}",
            120.0,
        )
        key = next(k for k in client.server.app[SIGNALING].node.conns if k.startswith("c:"))
        assert grants(client, key) == {room.room}
        await caller.send("request_voicemail", recorded=True)
        await caller.send("ping", nonce="after")  # one socket's messages are taken in order
        await caller.expect(p.Pong)
        assert grants(client, key) == set()
        with pytest.raises(TimeoutError):
            await caller.expect(p.Ended, within=0.5)  # no ticket yet: not told
        tickets.open.set()
        ended = await caller.expect(p.Ended)
        assert ended.outcome is p.Outcome.VOICEMAIL
        assert [(t.session, t.reason) for t in tickets.written] == [(queued.session_id, "")]
        assert discarded == []  # a message sent is kept

    async def test_the_text_and_the_number_go_with_it(
        self,
        connect: Connect,
        tickets: GatedTickets,
        kept: list[tuple[str, str]],
    ) -> None:
        """The written words become the ticket's text; the number (given now, or at
        join_queue) is kept for the session, never in the log."""
        tickets.open.set()
        caller, queued = await waiting(connect, "u1")
        await caller.send("record_voicemail")
        await caller.expect(p.VoicemailRoom)
        await caller.send(
            "request_voicemail", recorded=True, message="工资拖欠", phone="139 1234 5678"
        )
        await caller.expect(p.Ended)
        assert [t.reason for t in tickets.written] == ["工资拖欠"]
        assert kept == [(queued.session_id, "139 1234 5678")]

    async def test_cancel_takes_the_room_back_and_the_caller_stays_in_line(
        self, client: TestClient[Any, Any], connect: Connect, discarded: Discards
    ) -> None:
        """cancel_voicemail: the grant is gone and the recording discarded, a recorded
        send is refused, the caller may record again; cancelling with nothing recorded is
        bad_state (and discards nothing)."""
        caller, queued = await waiting(connect, "u1")
        await caller.send("cancel_voicemail")
        await refused(caller, p.ErrorCode.BAD_STATE, "cancel_voicemail")
        await caller.send("record_voicemail")
        await caller.expect(p.VoicemailRoom)
        await caller.send("cancel_voicemail")
        await caller.send("request_voicemail", recorded=True)
        await refused(caller, p.ErrorCode.BAD_STATE, "request_voicemail")
        key = next(k for k in client.server.app[SIGNALING].node.conns if k.startswith("c:"))
        assert grants(client, key) == set()
        assert discarded == [f"V-{queued.session_id}"]
        await caller.send("record_voicemail")
        await caller.expect(p.VoicemailRoom)

    async def test_answered_while_recording_takes_the_voicemail_room_back(
        self, client: TestClient[Any, Any], connect: Connect, discarded: Discards
    ) -> None:
        """An agent answers the caller mid-message: connected grants the call's room and
        takes the voicemail room back."""
        caller, queued = await waiting(connect, "u1")
        await caller.send("record_voicemail")
        room = await caller.expect(p.VoicemailRoom)
        agent: Peer = await connect("agent:A1")
        await agent.send("presence", state="available")
        offer = await agent.expect(p.Offer)
        await agent.send("accept", offer_id=offer.offer_id)
        connected = await caller.expect(p.Connected)
        key = next(k for k in client.server.app[SIGNALING].node.conns if k.startswith("c:"))
        assert connected.room is not None
        assert grants(client, key) == {connected.room}
        assert room.room not in grants(client, key)
        await caller.send("record_voicemail")
        await refused(caller, p.ErrorCode.BAD_STATE, "record_voicemail")  # the session is live
        assert queued.session_id == connected.session_id
        await discarded.wait_for(1)
        assert discarded == [room.room]  # given up: nobody is to hear it

    async def test_hanging_up_or_dropping_mid_message_discards_it(
        self, connect: Connect, discarded: Discards
    ) -> None:
        """A caller who ends the session, or whose socket closes, while recording has
        given the message up: its recording is discarded."""
        first, _ = await waiting(connect, "u1")
        await first.send("record_voicemail")
        one = await first.expect(p.VoicemailRoom)
        await first.send("leave_queue")
        await first.expect(p.Ended)
        second, _ = await waiting(connect, "u2")
        await second.send("record_voicemail")
        two = await second.expect(p.VoicemailRoom)
        await second.close()
        await discarded.wait_for(2)
        assert sorted(discarded) == sorted([one.room, two.room])


class TestRefusals:
    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"type": "request_voicemail"}, p.ErrorCode.MISSING_FIELD),
            ({"type": "request_voicemail", "recorded": False}, p.ErrorCode.MISSING_FIELD),
            ({"type": "request_voicemail", "recorded": "yes"}, p.ErrorCode.BAD_FIELD),
            ({"type": "request_voicemail", "recorded": True, "phone": "12"}, p.ErrorCode.BAD_FIELD),
            (
                {"type": "request_voicemail", "recorded": True, "extra": 1},
                p.ErrorCode.UNKNOWN_FIELD,
            ),
            ({"type": "record_voicemail", "room": "V-S-1"}, p.ErrorCode.UNKNOWN_FIELD),
            ({"type": "cancel_voicemail", "session_id": "S-1"}, p.ErrorCode.UNKNOWN_FIELD),
        ],
    )
    async def test_bad_input_changes_nothing(
        self, connect: Connect, fields: dict[str, Any], code: p.ErrorCode
    ) -> None:
        """Malformed voicemail messages are refused with their code; the caller still
        records afterwards."""
        caller, _ = await waiting(connect, "u1")
        fields = dict(fields)
        kind = fields.pop("type")
        await caller.send(kind, **fields)
        await refused(caller, code, kind)
        await caller.send("record_voicemail")
        await caller.expect(p.VoicemailRoom)

    async def test_not_for_agents_nor_without_a_session(self, connect: Connect) -> None:
        """An agent's record_voicemail / cancel_voicemail are not_allowed; a caller not in
        line has no session to record for (bad_state)."""
        agent: Peer = await connect("agent:A1")
        for kind in ("record_voicemail", "cancel_voicemail"):
            await agent.send(kind)
            await refused(agent, p.ErrorCode.NOT_ALLOWED, kind)
        caller: Peer = await connect("caller:u9")
        await caller.send("record_voicemail")
        await refused(caller, p.ErrorCode.BAD_STATE, "record_voicemail")

    async def test_twice_and_after_the_message_is_refused(
        self, connect: Connect, tickets: GatedTickets
    ) -> None:
        """A second record_voicemail while recording, and any message after the session's
        message was taken: bad_state."""
        tickets.open.set()
        caller, _ = await waiting(connect, "u1")
        await caller.send("record_voicemail")
        await caller.expect(p.VoicemailRoom)
        await caller.send("record_voicemail")
        await refused(caller, p.ErrorCode.BAD_STATE, "record_voicemail")
        await caller.send("request_voicemail", recorded=True)
        await caller.expect(p.Ended)
        for kind, fields in (
            ("request_voicemail", {"message": "again"}),
            ("record_voicemail", {}),
        ):
            await caller.send(kind, **fields)
            await refused(caller, p.ErrorCode.BAD_STATE, kind)


def _msg(key: str, m: dict[str, Any], now: float, **extra: Any) -> dict[str, Any]:
    return {"t": "msg", "key": key, "conn": f"{key}#1", "now": now, "m": m, **extra}


class TestRouter:
    def _waiting(self, router: Router, key: str, sid: str, now: float) -> None:
        router.apply({"t": "attach", "key": key, "conn": f"{key}#1", "now": now})
        join = {"type": "join_queue", "category": "general", "language": "zh"}
        router.apply(_msg(key, join, now, sid=sid))

    def test_recording_counts_against_the_addresss_messages(self) -> None:
        """record_voicemail is refused rate_limited once the address's hour is spent (it
        does not spend one itself: the message does)."""
        router = Router.new(make_config(agents=0), tickets_per_hour=1)
        now = 1_800_000_000.0
        self._waiting(router, "c:a", "S-a", now)
        fx = router.apply(_msg("c:a", {"type": "record_voicemail"}, now, addr="booth"))
        assert [type(m) for _, m in fx.deliveries] == [p.VoicemailRoom]
        send = {"type": "request_voicemail", "recorded": True}
        assert router.apply(_msg("c:a", send, now, addr="booth")).tickets
        self._waiting(router, "c:b", "S-b", now + 1)
        fx = router.apply(_msg("c:b", {"type": "record_voicemail"}, now + 1, addr="booth"))
        assert [(m.code, m.ref) for _, m in fx.deliveries if isinstance(m, p.Error)] == [
            (p.ErrorCode.RATE_LIMITED, "record_voicemail")
        ]
        assert fx.refusals == ["tickets_per_address"]

    def test_told_once_after_the_ticket_and_across_a_snapshot(self) -> None:
        """ended waits for the ticket record; a snapshot keeps who is waiting; a repeated
        ticket record (a new leader writing again) tells nobody twice."""
        router = Router.new(make_config(agents=0))
        now = 1_800_000_000.0
        self._waiting(router, "c:a", "S-a", now)
        router.apply(_msg("c:a", {"type": "record_voicemail"}, now))
        fx = router.apply(_msg("c:a", {"type": "request_voicemail", "recorded": True}, now))
        assert [t.session for t in fx.tickets] == ["S-a"]
        assert not [m for _, m in fx.deliveries if isinstance(m, p.Ended)]
        restored = Router.restore(router.snapshot())
        taken = rec.to_dict(rec.TicketTaken(key="t:S-a", session="S-a", now=now + 1))
        fx = restored.apply(taken)
        assert fx.deliveries == [("c:a", p.Ended(session_id="S-a", outcome=p.Outcome.VOICEMAIL))]
        assert restored.apply(taken).deliveries == []

    def test_a_new_connection_gives_the_voice_message_up(self) -> None:
        """The caller's socket is replaced mid-message: the new one holds no voicemail
        room, so the message is given up (a recorded send is refused, recording again
        is granted)."""
        router = Router.new(make_config(agents=0))
        now = 1_800_000_000.0
        self._waiting(router, "c:a", "S-a", now)
        router.apply(_msg("c:a", {"type": "record_voicemail"}, now))
        router.apply({"t": "attach", "key": "c:a", "conn": "c:a#2", "now": now + 1})
        again = {"t": "msg", "key": "c:a", "conn": "c:a#2", "now": now + 1}
        fx = router.apply({**again, "m": {"type": "request_voicemail", "recorded": True}})
        assert [(m.code, m.ref) for _, m in fx.deliveries if isinstance(m, p.Error)] == [
            (p.ErrorCode.BAD_STATE, "request_voicemail")
        ]
        fx = router.apply({**again, "m": {"type": "record_voicemail"}})
        assert [type(m) for _, m in fx.deliveries] == [p.VoicemailRoom]

    def test_a_malformed_ticket_record_is_skipped(self) -> None:
        """A ticket record without its session is not one: skipped, nothing told."""
        router = Router.new(make_config(agents=0))
        assert router.apply({"t": "ticket", "key": "t:x", "now": 1.0}).deliveries == []
