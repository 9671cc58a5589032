"""This process's side of signaling: its WebSocket connections.

A ``Node`` serves each socket: it parses every frame (``protocol.parse``), answers what
it can alone (``ping``, ``hello``), refuses what a peer's role may not send, and turns
the rest into records appended to the backplane's log. Messages the leader addresses
to a connection key come back through ``Node.receive`` and are queued on that
connection's outbox, which one writer task per socket drains. A slow or dead client
therefore never holds up the leader: when its outbox is full it is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from cases.phone import is_valid
from cases.phone import mask as mask_phone
from rooms.model import RoomKind, kind_of, voicemail_room
from routing.model import AgentProfile, RoutingConfig
from signaling import protocol as p
from signaling import records as rec
from signaling.backplane.base import Backplane
from signaling.errors import BackplaneError, ErrorCode, ProtocolError
from signaling.identity import Identity
from signaling.rooms import RoomRefused, RoomService, RoomSession
from signaling.router import call_room
from signaling.tokens import Tokens

log = logging.getLogger(__name__)

LoadProfile = Callable[[Identity], Awaitable[AgentProfile | None]]

CLOSE_REPLACED = 4001
CLOSE_TOO_SLOW = 4008
# How long a reply to a client's own message may wait for room in its outbox: a client
# that sends but does not read is slowed down (we stop reading it), then closed.
REPLY_WAIT_S = 10.0

_CALLER_ONLY = (
    p.JoinQueue,
    p.LeaveQueue,
    p.RequestCallback,
    p.RequestVoicemail,
    p.RecordVoicemail,
    p.CancelVoicemail,
)
_AGENT_ONLY = (p.SetPresence, p.Accept, p.Reject, p.Transfer, p.CallbackUnreached)
# Room messages need no hello: supervisors and invited parties are not in routing.
_ROOM = (p.JoinRoom, p.RoomAnswer, p.LeaveRoom, p.Mute, p.SetRecording, p.Hold, p.GetRoomStats)
_RoomMessage = (
    p.JoinRoom | p.RoomAnswer | p.LeaveRoom | p.Mute | p.SetRecording | p.Hold | p.GetRoomStats
)


# Deliveries that change which rooms a connection may enter (serialize() puts the type
# right after the version).
_CALL_PREFIXES = (
    '{"v":1,"type":"connected"',
    '{"v":1,"type":"ended"',
    '{"v":1,"type":"queued"',
    '{"v":1,"type":"voicemail_room"',
    '{"v":1,"type":"consult_state"',
)
_OFFER_PREFIX = '{"v":1,"type":"offer"'


def root_session(session_id: str) -> str:
    """The session a caller's number was kept under: an interrupted call goes on as
    ``<id>:r<n>`` (routing), still the same caller."""
    return session_id.partition(":")[0]


def roster_profiles(config: RoutingConfig) -> LoadProfile:
    """Profiles from the engine configuration's roster, by the identity's agent id."""
    by_id = {profile.id: profile for profile in config.roster}

    async def load(identity: Identity) -> AgentProfile | None:
        return by_id.get(identity.agent_id) if identity.agent_id else None  # type: ignore[call-overload]

    return load


class _Bucket:
    """Token bucket: ``rate`` messages a second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Connection:
    """One WebSocket peer: its identity, its key once it said hello, its outbox."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        identity: Identity,
        outbox_size: int,
        address: str = "",
    ) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.ws = ws
        self.identity = identity
        self.address = address  # the client's address, as the composition root sees it
        self.key: str | None = None
        self.outbox: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue(outbox_size)
        self.bucket = _Bucket(rate=20.0, burst=40.0)
        self.limited_at = -1.0  # when this client was last told ``rate_limited``
        self.room_session: RoomSession | None = None  # once it sends a room message
        self.closing = False  # a close is queued, or the writer has stopped
        self.session_id: str | None = None  # the caller's session, as last ``queued``
        self.phone: str | None = None  # the number this caller gave, for a callback
        self.revealed: set[str] = set()  # callbacks whose full number this desk was sent

    def send(self, msg: p.ServerMessage) -> None:
        self.push(p.serialize(msg))

    async def reply(self, msg: p.ServerMessage) -> None:
        """Answer the client's own message, waiting for room in the outbox rather than
        dropping the client: a fast sender is slowed down to the pace it reads at."""
        if self.closing:
            return
        try:
            await asyncio.wait_for(self.outbox.put(p.serialize(msg)), REPLY_WAIT_S)
        except TimeoutError:
            self.too_slow()

    def push(self, payload: str) -> None:
        if self.closing:
            return
        try:
            self.outbox.put_nowait(payload)
        except asyncio.QueueFull:
            self.too_slow()

    def too_slow(self) -> None:
        if not self.closing:
            log.warning("closing %s: it does not read what it is sent", self.key or self.id)
            self.close(CLOSE_TOO_SLOW, "too slow")

    def close(self, code: int, reason: str) -> None:
        """Close after what is already queued (or at once if the outbox is full)."""
        if self.closing:
            return
        self.closing = True
        while True:
            try:
                self.outbox.put_nowait((code, reason))
                return
            except asyncio.QueueFull:
                self.outbox.get_nowait()

    def stopped(self) -> None:
        """The writer has stopped: nothing more is queued, and whoever waits to queue
        something is let go."""
        self.closing = True
        while not self.outbox.empty():
            self.outbox.get_nowait()


class Node:
    """Serves this process's WebSockets against a backplane."""

    def __init__(
        self,
        backplane: Backplane,
        *,
        tokens: Tokens,
        load_profile: LoadProfile,
        grace_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        outbox_size: int = 256,
        rooms: RoomService | None = None,
        refused: Callable[[str], None] | None = None,
        known_town: Callable[[str], Awaitable[bool]] | None = None,
        keep_number: Callable[[str, str], Awaitable[None]] | None = None,
        reveal_number: Callable[[str, Identity], Awaitable[str | None]] | None = None,
        survey_token: Callable[[str], str] | None = None,
        history_pass: Callable[[str, str, str, float], str] | None = None,
        discard_recording: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.survey_token = survey_token  # a caller's ticket to rate an ended call
        # (session, agent, caller key, ring time) -> the desk's pass to that caller's
        # earlier sessions (GET /api/sessions/{id}/earlier), minted as the offer arrives.
        self.history_pass = history_pass
        # The callback number store (``cases.callbacks``): the full number of a caller
        # who asks to be called back is kept there, never in the log, and revealed only
        # to the agent the leader offers that callback to.
        self.keep_number = keep_number
        self.reveal_number = reveal_number
        # Deletes a room's recordings (a voice message cancelled or given up).
        self.discard_recording = discard_recording
        self.backplane = backplane
        self.known_town = known_town  # whether a town id is in the record
        # Called with a reason each time an abuse limit refuses something (``/metrics``).
        self.refused = refused or (lambda reason: None)
        self.rooms = rooms
        self.tokens = tokens
        self.load_profile = load_profile
        self.grace_s = grace_s
        self.clock = clock
        self.outbox_size = outbox_size
        self.conns: dict[str, Connection] = {}
        self._leaving: set[asyncio.Task[None]] = set()

    def receive(self, key: str, payload: str) -> None:
        """A delivery from the leader for connection ``key`` (if it is still here).

        A ``queued`` names the caller's session; a ``connected`` gives the connection its
        call's room, a ``voicemail_room`` its voicemail room, and an ``ended`` takes them
        back and leaves them (so does a consulted colleague's ``consult_state``, connected
        and ended); an ``offer`` from a caller who gave a number gets its
        ``history_pass``, and a callback ``offer`` is followed by its full number
        (``callback_number``), as is a live callback's ``connected`` on a socket that had
        no offer of it (a desk that came back)."""
        conn = self.conns.get(key)
        if conn is None:
            return
        msg: p.ServerMessage | None = None
        if payload.startswith(_CALL_PREFIXES):
            msg = p.parse_server(payload)
            self._call_room(conn, msg)
            if isinstance(msg, p.Ended) and msg.survey and self.survey_token is not None:
                token = self.survey_token(msg.session_id)
                payload = p.serialize(dataclasses.replace(msg, survey_token=token))
            elif isinstance(msg, p.Connected) and msg.caller_ref is not None:
                # A desk that came back to its call: its pass to the caller's earlier
                # sessions, as an offer's (only the call's own agent gets one).
                agent = conn.identity.agent_id
                granted: str | None = None
                if self.history_pass is not None and agent is not None and agent == msg.agent_id:
                    granted = self.history_pass(msg.session_id, agent, msg.caller_ref, 0.0)
                msg = dataclasses.replace(msg, caller_ref=None, history_pass=granted)
                payload = p.serialize(msg)
        offer = p.parse_server(payload) if payload.startswith(_OFFER_PREFIX) else None
        if isinstance(offer, p.Offer) and offer.caller_ref is not None:
            # The leader offered this session to this connection's agent: only now may
            # the desk look up the caller's earlier sessions (the pass, signed, names them).
            agent = conn.identity.agent_id
            granted = None
            if self.history_pass is not None and agent is not None:
                granted = self.history_pass(
                    offer.session_id, agent, offer.caller_ref, offer.expires_in_s
                )
            offer = dataclasses.replace(offer, caller_ref=None, history_pass=granted)
            payload = p.serialize(offer)
        conn.push(payload)
        if self.reveal_number is None or conn.identity.agent_id is None:
            return
        if isinstance(offer, p.Offer) and offer.kind is p.OfferKind.CALLBACK:
            conn.revealed.add(offer.session_id)
            self._background(
                self._send_number(conn, offer.session_id, offer.offer_id),
                f"number {offer.offer_id}",
            )
        elif isinstance(msg, p.Connected) and msg.callback and msg.session_id not in conn.revealed:
            # A desk that came back to a live callback (a reload, a second tab) has no
            # offer that brought the number: it is sent again, to this socket once.
            conn.revealed.add(msg.session_id)
            self._background(
                self._send_number(conn, msg.session_id, None), f"number {msg.session_id}"
            )

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def _send_number(self, conn: Connection, session_id: str, offer_id: str | None) -> None:
        assert self.reveal_number is not None
        try:
            number = await self.reveal_number(root_session(session_id), conn.identity)
        except Exception:
            log.exception("revealing the callback number of %s failed", session_id)
            return
        if number:
            conn.send(p.CallbackNumber(offer_id=offer_id, session_id=session_id, phone=number))

    def _call_room(self, conn: Connection, msg: p.ServerMessage) -> None:
        if isinstance(msg, p.Queued):
            conn.session_id = msg.session_id
            return
        session = self._room_session(conn)
        if isinstance(msg, p.ConsultState):
            if msg.side is not p.ConsultSide.CONSULTANT or msg.room is None:
                return  # the requester stays in the call
            if msg.state is p.ConsultPhase.CONNECTED:
                session.grants.add(msg.room)
                return
            room = msg.room
        elif isinstance(msg, p.Connected) and msg.room:
            session.grants.add(msg.room)
            self._drop_voicemail_room(session, msg.session_id)  # answered while recording
            return
        elif isinstance(msg, p.VoicemailRoom):
            session.grants.add(msg.room)
            return
        elif isinstance(msg, p.Ended):
            room = call_room(msg.session_id)
            self._drop_voicemail_room(session, msg.session_id)  # hung up mid-message
        else:
            return
        session.grants.discard(room)
        if room in session.rooms and self.rooms is not None:
            session.rooms.discard(room)
            self._background(self._leave_call_room(session, room), f"leave {room}")

    def _drop_voicemail_room(self, session: RoomSession, session_id: str) -> None:
        """A voice message neither sent nor cancelled (answered, hung up): given up."""
        room = voicemail_room(session_id)
        if room in session.grants:
            session.grants.discard(room)
            self._background(self._give_up_voicemail(session, room), f"give up {room}")

    async def _give_up_voicemail(self, session: RoomSession, room: str) -> None:
        await self._leave_voicemail_room(session, room)
        await self._discard(room)

    async def _finish_voicemail(self, conn: Connection, *, keep: bool) -> None:
        """The caller sends (``keep``) or cancels a voice message: take the voicemail
        room back and leave it first, so its recording is finished (and stored) before
        the ticket; a cancelled one is discarded (nobody is to hear it)."""
        if conn.session_id is None or conn.room_session is None:
            return
        session = conn.room_session
        room = voicemail_room(conn.session_id)
        granted = room in session.grants
        session.grants.discard(room)
        await self._leave_voicemail_room(session, room)
        if granted and not keep:
            await self._discard(room)

    async def _leave_voicemail_room(self, session: RoomSession, room: str) -> None:
        if room in session.rooms and self.rooms is not None:
            session.rooms.discard(room)
            try:
                await self.rooms.leave(session, room)
            except Exception:  # already gone (the caller left it, media dropped it)
                log.debug("leaving %s failed", room, exc_info=True)
            session.send(p.RoomLeft(room=room))

    async def _discard(self, room: str) -> None:
        if self.discard_recording is None:
            return
        try:
            await self.discard_recording(room)
        except Exception:  # kept until its retention ends instead
            log.exception("discarding the recordings of %s failed", room)

    async def _leave_call_room(self, session: RoomSession, room: str) -> None:
        assert self.rooms is not None
        try:
            await self.rooms.leave(session, room)
            session.send(p.RoomLeft(room=room))
        except Exception:  # the room may have closed already
            log.debug("leaving %s after the call failed", room, exc_info=True)

    def _room_session(self, conn: Connection) -> RoomSession:
        if conn.room_session is None:
            conn.room_session = RoomSession(conn.identity, conn.send)
        return conn.room_session

    async def serve(
        self, ws: web.WebSocketResponse, identity: Identity, *, address: str = ""
    ) -> None:
        """Run one prepared WebSocket until it closes; ``address`` is the client's."""
        conn = Connection(ws, identity, self.outbox_size, address)
        writer = asyncio.create_task(self._write(conn), name=f"ws-writer {conn.id}")
        try:
            async for frame in ws:
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._on_frame(conn, frame.data)
                elif frame.type == WSMsgType.ERROR:
                    break
                if writer.done():
                    break  # the writer stopped (closed, or failed): so does the reader
        finally:
            # Whatever ends a connection ends it here, once, even if this task is being
            # cancelled: a connection nobody is behind must never stay in routing.
            await asyncio.shield(self._end(conn, writer))

    async def _end(self, conn: Connection, writer: asyncio.Task[None]) -> None:
        try:
            await self._leave_rooms(conn)
        finally:
            writer.cancel()
            try:
                await writer
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("the writer of %s failed", conn.key or conn.id)
            await self._detach(conn)

    async def _write(self, conn: Connection) -> None:
        ws = conn.ws
        try:
            while True:
                item = await conn.outbox.get()
                if isinstance(item, tuple):
                    await ws.close(code=item[0], message=item[1].encode())
                    return
                await ws.send_str(item)
        except Exception as exc:  # any failure to write ends the connection
            log.debug("writing to %s failed: %r", conn.key or conn.id, exc)
        finally:
            conn.stopped()
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"write failed")

    async def _on_frame(self, conn: Connection, data: str | bytes) -> None:
        if not conn.bucket.take():
            now = time.monotonic()
            if now - conn.limited_at >= 1.0:  # say so once a second, not per frame
                conn.limited_at = now
                await conn.reply(p.Error(code=ErrorCode.RATE_LIMITED, detail="slow down"))
            return
        try:
            msg = p.parse(data)
            await self._dispatch(conn, msg)
        except ProtocolError as exc:
            await conn.reply(p.Error(code=exc.code, detail=exc.detail[:500], ref=p.peek_type(data)))
        except BackplaneError as exc:
            log.warning("backplane failed: %s", exc)
            await conn.reply(p.Error(code=ErrorCode.UNAVAILABLE, detail="routing is unavailable"))
        except Exception:  # a bug must not take the connection (or its session) down
            log.exception("a message from %s failed", conn.key or conn.id)
            await conn.reply(
                p.Error(code=ErrorCode.UNAVAILABLE, detail="the server failed; try again")
            )

    async def _dispatch(self, conn: Connection, msg: p.ClientMessage) -> None:
        if isinstance(msg, p.Ping):
            await conn.reply(p.Pong(nonce=msg.nonce))
            return
        if isinstance(msg, p.Hello):
            await self._hello(conn, msg)
            return
        if isinstance(msg, _ROOM):
            await self._room(conn, msg)
            return
        if conn.key is None:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "say hello first")
        if self.conns.get(conn.key) is not conn:
            # A newer socket took this key over: what the old one still sends is not
            # the person's any more.
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "this connection was replaced")
        is_agent = conn.key.startswith("a:")
        if isinstance(msg, _CALLER_ONLY if is_agent else _AGENT_ONLY):
            raise ProtocolError(ErrorCode.NOT_ALLOWED, f"{msg.type} is not for your role")
        if (
            isinstance(msg, p.JoinQueue)
            and msg.town
            and self.known_town is not None
            and not await self.known_town(msg.town)
        ):
            raise ProtocolError(ErrorCode.BAD_FIELD, "town: not a town of this district")
        sid = f"S-{uuid.uuid4().hex[:16]}" if isinstance(msg, p.JoinQueue | p.Transfer) else None
        addr = None
        if isinstance(msg, p.RequestVoicemail | p.RecordVoicemail) and conn.address:
            addr = self.tokens.address_key(conn.address)  # tickets per address
        if isinstance(msg, p.RequestVoicemail):
            if msg.phone and not is_valid(msg.phone):
                raise ProtocolError(ErrorCode.BAD_FIELD, "phone: not a valid phone number")
            number = msg.phone or conn.phone
            if self.keep_number is not None and number and conn.session_id:
                # The ticket's number: sealed like a callback's, shown masked.
                await self.keep_number(root_session(conn.session_id), number)
            msg = dataclasses.replace(msg, phone=None)
        if isinstance(msg, p.CancelVoicemail):
            await self._finish_voicemail(conn, keep=False)
        elif isinstance(msg, p.RequestVoicemail) and msg.recorded:
            await self._finish_voicemail(conn, keep=True)
        caller = display = None
        if isinstance(msg, p.JoinQueue | p.RequestCallback):
            # The number stays out of the log: agents see it masked, a keyed hash
            # recognises a returning caller (DOMAIN.md: mask phone numbers).
            if msg.phone and not is_valid(msg.phone):
                raise ProtocolError(ErrorCode.BAD_FIELD, "phone: not a valid phone number")
            if msg.phone:
                caller = self.tokens.caller_key(msg.phone)
                display = mask_phone(msg.phone)
                conn.phone = msg.phone  # this connection's, in memory only
            elif conn.identity.subject:
                caller = f"sub:{conn.identity.subject}"
            number = msg.phone or conn.phone
            keep = self.keep_number if isinstance(msg, p.RequestCallback) else None
            if keep is not None and number and conn.session_id:
                await keep(root_session(conn.session_id), number)
            msg = dataclasses.replace(msg, phone=None)
        record = rec.Msg(
            key=conn.key,
            conn=conn.id,
            now=self.clock(),
            m=msg,
            sid=sid,
            caller=caller,
            display=display,
            addr=addr,
        )
        await self.backplane.append(rec.to_dict(record))

    async def _room(self, conn: Connection, msg: _RoomMessage) -> None:
        """Carry out a room message on the RoomService; refusals become ``room_error``."""
        try:
            if self.rooms is None:
                raise RoomRefused(p.RoomErrorCode.UNAVAILABLE, "no media rooms on this server")
            session = self._room_session(conn)
            if isinstance(msg, p.JoinRoom):
                answer = await self.rooms.join(session, msg.room, msg.sdp)
                session.rooms.add(msg.room)
                conn.send(
                    p.RoomJoined(room=msg.room, participant=session.participant_id, sdp=answer)
                )
            elif isinstance(msg, p.RoomAnswer):
                session.answered(msg)
            elif isinstance(msg, p.LeaveRoom):
                await self.rooms.leave(session, msg.room)
                session.rooms.discard(msg.room)
                conn.send(p.RoomLeft(room=msg.room))
            elif isinstance(msg, p.Mute):
                await self.rooms.mute(session, msg.room, msg.participant, msg.kind, msg.muted)
            elif isinstance(msg, p.GetRoomStats):
                for stats in await self.rooms.stats(session, msg.room):
                    conn.send(stats)
            elif isinstance(msg, p.Hold):
                await self.rooms.hold(session, msg.room, msg.on)
            else:
                await self.rooms.set_recording(session, msg.room, msg.on)
        except RoomRefused as exc:
            conn.send(
                p.RoomError(room=msg.room, code=exc.code, detail=exc.detail[:500], ref=msg.type)
            )
        except Exception:  # the service's own failure: the client is told, the socket lives
            log.exception("room message %s for %s failed", msg.type, msg.room)
            conn.send(
                p.RoomError(
                    room=msg.room,
                    code=p.RoomErrorCode.UNAVAILABLE,
                    detail="the media server failed",
                    ref=msg.type,
                )
            )

    async def _leave_rooms(self, conn: Connection) -> None:
        session = conn.room_session
        if session is None:
            return
        session.close()
        if self.rooms is not None and session.rooms:
            try:
                await self.rooms.disconnected(session)
            except Exception:  # a socket's end must not be held up by the media server
                log.exception("leaving rooms for %s failed", session.participant_id)
        for room in [r for r in session.grants if kind_of(r) is RoomKind.VOICEMAIL]:
            await self._discard(room)  # a voice message given up with its connection

    async def _hello(self, conn: Connection, msg: p.Hello) -> None:
        if conn.key is not None:
            raise ProtocolError(ErrorCode.BAD_STATE, "already said hello")
        identity = conn.identity
        profile_data: dict[str, Any] | None = None
        resumed = False
        agent_id: str | None = None
        if identity.kind == "staff":
            if not identity.is_agent or identity.agent_id is None:
                raise ProtocolError(ErrorCode.NOT_ALLOWED, "only agents take sessions")
            profile = await self.load_profile(identity)
            if profile is None:
                raise ProtocolError(ErrorCode.NOT_ALLOWED, "no routing profile for this agent")
            agent_id = identity.agent_id
            key = f"a:{agent_id}"
            profile_data = profile.to_dict()
            resumed = key in self.conns
        elif identity.room is not None:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "a room token admits to its room only")
        elif identity.resume_only and msg.resume_token is None:
            raise ProtocolError(ErrorCode.BAD_TOKEN, "say hello with your resume token")
        elif msg.resume_token is not None:
            key = self.tokens.check(msg.resume_token, identity.user_id)
            if not key.startswith("c:"):
                raise ProtocolError(ErrorCode.BAD_TOKEN, "resume token is not a caller's")
            resumed = True
        elif identity.subject:
            # One key per caller token: a second socket with the same token takes the
            # session over instead of opening another one.
            key = self.tokens.session_key(identity.subject)
            resumed = key in self.conns
        else:
            key = f"c:{uuid.uuid4().hex[:20]}"
        old = self.conns.get(key)
        if old is not None and old is not conn:
            old.close(CLOSE_REPLACED, "replaced by a newer connection")
        self.conns[key] = conn
        conn.key = key
        conn.send(
            p.Welcome(
                role=p.Role.AGENT if agent_id else p.Role.CALLER,
                resume_token=self.tokens.issue(key, identity.user_id),
                resumed=resumed,
                grace_s=self.grace_s,
                agent_id=agent_id,
            )
        )
        await self.backplane.register(key)
        attach = rec.Attach(key=key, conn=conn.id, now=self.clock(), profile=profile_data)
        await self.backplane.append(rec.to_dict(attach))

    async def _detach(self, conn: Connection) -> None:
        key = conn.key
        if key is None:
            return
        try:
            if self.conns.get(key) is conn:
                del self.conns[key]
                await self.backplane.unregister(key)
            drop = rec.Drop(key=key, conn=conn.id, now=self.clock())
            await self.backplane.append(rec.to_dict(drop))
        except BackplaneError as exc:
            log.warning("could not record the drop of %s: %s", key, exc)

    def resync(self) -> None:
        """Deliveries may have been lost: have every client reconnect and resume, which
        sends each its current state again (1012, service restart)."""
        for conn in list(self.conns.values()):
            conn.close(WSCloseCode.SERVICE_RESTART, "reconnect and resume")

    def close_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        """Ask every connection to close (shutdown)."""
        for conn in list(self.conns.values()):
            conn.close(code, "server shutting down")
