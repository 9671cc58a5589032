"""Rooms across processes: each room on one home node, its messages forwarded there.

``PlacedRooms`` is a ``RoomService`` that wraps this process's own (``local``) and the
room directory (``media_nodes``). For a room message from a socket on this process:

- the room's home is looked up; a room with no live home is placed when staff open it
  (``choose_node``: the least-loaded live node with a free room; every node full is
  ``room_full``) and claimed atomically, so two openers agree on one home; a caller
  cannot open a room (``bad_state``, as on one process) but the room of its own call;
- home here: ``local`` handles it with the socket's own ``RoomPeer``;
- home elsewhere: the call goes to the home's channel (``{"op": "call"}``) with the
  socket's participant id and identity; the home runs it on *its* ``local`` with a
  *guest* peer standing in for the socket, and replies (``{"op": "reply"}``) with the
  result or the ``room_error`` code. What the home's service sends the guest (``muted``,
  recording notices, ``room_left``) comes back as ``{"op": "send"}`` and is put on the
  socket; a server re-offer comes back as ``{"op": "renegotiate"}``, which this process
  carries out on the socket (``room_offer`` … ``room_answer``) and answers.

The media then flows between the browser and the home node directly: the SDP answer's
ICE candidates are the home's. Messages between two nodes keep their order (one
publisher per node, one subscriber). A home that does not answer within
``call_timeout_s`` is ``unavailable``, and so is every call waiting when this node's
subscription was lost (pub/sub keeps nothing meanwhile; notices sent then are lost).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from signaling import protocol as p
from signaling.errors import BackplaneError, ProtocolError
from signaling.identity import Identity
from signaling.media_nodes import RedisMediaNodes, choose_node
from signaling.rooms import RoomPeer, RoomRefused, RoomService

log = logging.getLogger(__name__)

Code = p.RoomErrorCode


def _identity_to_json(identity: Identity) -> dict[str, Any]:
    return {
        "kind": identity.kind,
        "user_id": identity.user_id,
        "display_name": identity.display_name,
        "agent_id": identity.agent_id,
        "roles": sorted(identity.roles),
        "subject": identity.subject,
        "room": identity.room,
    }


def _identity_from_json(data: Mapping[str, Any]) -> Identity:
    kind = data["kind"]
    if kind not in ("staff", "caller"):
        raise ValueError(f"bad identity kind {kind!r}")
    return Identity(
        kind=kind,
        user_id=str(data["user_id"]),
        display_name=str(data["display_name"]),
        agent_id=data.get("agent_id"),
        roles=frozenset(str(r) for r in data.get("roles", ())),
        subject=data.get("subject"),
        room=data.get("room"),
    )


class _Guest:
    """A socket on another node, as the rooms homed here see it."""

    def __init__(
        self, owner: PlacedRooms, origin: str, key: str, pid: str, identity: Identity
    ) -> None:
        self._owner = owner
        self.origin = origin
        self.key = key
        self._participant_id = pid
        self._identity = identity
        self.grants: set[str] = set()  # as the socket's own node last said

    @property
    def participant_id(self) -> str:
        return self._participant_id

    @property
    def identity(self) -> Identity:
        return self._identity

    def granted(self, room: str) -> bool:
        return room in self.grants

    def send(self, msg: p.ServerMessage) -> None:
        self._owner._post(self.origin, {"op": "send", "peer": self.key, "m": p.serialize(msg)})

    async def renegotiate(self, room: str, sdp: str) -> str:
        try:
            answer = await self._owner._request(
                self.origin,
                {"op": "renegotiate", "peer": self.key, "room": room, "sdp": sdp},
            )
        except RoomRefused as exc:
            raise ConnectionError(f"re-offer to {self.participant_id} failed: {exc}") from exc
        return str(answer)


class PlacedRooms:
    """A ``RoomService`` that places rooms on media nodes and forwards to their homes."""

    def __init__(
        self, local: RoomService, nodes: RedisMediaNodes, *, call_timeout_s: float = 30.0
    ) -> None:
        self.local = local
        self.nodes = nodes
        self.call_timeout_s = call_timeout_s
        # Sockets on this process that are in rooms homed elsewhere.
        self._keys: dict[int, str] = {}  # id(peer) -> key
        self._peers: dict[str, RoomPeer] = {}  # key -> peer
        self._remote: dict[str, dict[str, str]] = {}  # key -> room -> home
        # Sockets elsewhere in rooms homed here.
        self._guests: dict[tuple[str, str], _Guest] = {}
        self._calls: dict[str, asyncio.Future[Any]] = {}
        self._outbox: asyncio.Queue[tuple[str, Mapping[str, Any]]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def node_id(self) -> str:
        return self.nodes.node_id

    # -- background ---------------------------------------------------------------------

    async def run(self) -> None:
        """Listen to this node's channel and send what is posted, until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    self.nodes.listen(self._on_message, self._gap), name="media-node-listen"
                )
                group.create_task(self._send_posted(), name="media-node-send")
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for future in self._calls.values():
                if not future.done():
                    future.set_exception(RoomRefused(Code.UNAVAILABLE, "shutting down"))

    def _gap(self) -> None:
        """Messages to this node may have been lost: nobody waits for a reply in vain."""
        for future in self._calls.values():
            if not future.done():
                future.set_exception(
                    RoomRefused(Code.UNAVAILABLE, "lost touch with the other media nodes")
                )

    async def _send_posted(self) -> None:
        while True:
            node, message = await self._outbox.get()
            try:
                await self.nodes.send(node, message)
            except BackplaneError as exc:
                log.warning("lost a message to media node %s: %s", node, exc)
                rid = message.get("rid")
                future = self._calls.get(rid) if isinstance(rid, str) else None
                if future is not None and not future.done():
                    future.set_exception(RoomRefused(Code.UNAVAILABLE, "media nodes unreachable"))

    def _post(self, node: str, message: Mapping[str, Any]) -> None:
        self._outbox.put_nowait((node, message))

    async def _request(self, node: str, message: Mapping[str, Any]) -> Any:
        """Post ``message`` with a request id and wait for the reply's result."""
        rid = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[rid] = future
        try:
            self._post(node, {**message, "rid": rid, "from": self.node_id})
            reply = await asyncio.wait_for(future, self.call_timeout_s)
        except TimeoutError:
            raise RoomRefused(Code.UNAVAILABLE, f"media node {node} did not answer") from None
        finally:
            self._calls.pop(rid, None)
        error = reply.get("error")
        if error is not None:
            try:
                code = Code(error.get("code"))
            except ValueError:
                code = Code.UNAVAILABLE
            raise RoomRefused(code, str(error.get("detail", ""))[:500])
        return reply.get("ok")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_message(self, message: Mapping[str, Any]) -> None:
        op = message.get("op")
        if op == "reply":
            future = self._calls.get(str(message.get("rid")))
            if future is not None and not future.done():
                future.set_result(message)
        elif op == "send":
            peer = self._peers.get(str(message.get("peer")))
            if peer is not None:
                try:
                    peer.send(p.parse_server(str(message.get("m"))))
                except ProtocolError as exc:
                    log.warning("dropping a bad forwarded message: %s", exc)
        elif op == "call":
            self._spawn(self._serve_call(message), f"room call {message.get('method')}")
        elif op == "renegotiate":
            self._spawn(self._serve_renegotiate(message), "room re-offer")
        else:
            log.warning("ignoring media node message %.40r", op)

    # -- serving other nodes ------------------------------------------------------------

    async def _serve_call(self, message: Mapping[str, Any]) -> None:
        origin = str(message["from"])
        rid = message["rid"]
        reply: dict[str, Any]
        try:
            reply = {"ok": await self._carry_out(origin, message)}
        except RoomRefused as exc:
            reply = {"error": {"code": exc.code.value, "detail": exc.detail}}
        except Exception:  # the service's own failure, as Node reports it
            log.exception("forwarded room call %s failed", message.get("method"))
            reply = {"error": {"code": Code.UNAVAILABLE.value, "detail": "the media server failed"}}
        self._post(origin, {"op": "reply", "rid": rid, **reply})

    async def _carry_out(self, origin: str, message: Mapping[str, Any]) -> Any:
        key = str(message["peer"])
        method = message["method"]
        room = str(message.get("room", ""))
        args: Mapping[str, Any] = message.get("args") or {}
        guest = self._guests.get((origin, key))
        if method == "disconnected":
            if guest is not None:
                del self._guests[(origin, key)]
                await self.local.disconnected(guest)
            return None
        if guest is None:
            identity = _identity_from_json(message["who"])
            guest = _Guest(self, origin, key, str(message["pid"]), identity)
            if not key.startswith("once-"):
                self._guests[(origin, key)] = guest
        guest.grants = {str(r) for r in message.get("grants", ())}
        if method == "join":
            return await self.local.join(guest, room, str(args["sdp"]))
        if method == "leave":
            return await self.local.leave(guest, room)
        if method == "mute":
            kind = p.MediaKind(args["kind"])
            await self.local.mute(guest, room, str(args["participant"]), kind, bool(args["muted"]))
            return None
        if method == "set_recording":
            return await self.local.set_recording(guest, room, bool(args["on"]))
        if method == "hold":
            return await self.local.hold(guest, room, bool(args["on"]))
        if method == "stats":
            return [p.serialize(m) for m in await self.local.stats(guest, room)]
        raise RoomRefused(Code.BAD_STATE, f"unknown forwarded call {method!r}")

    async def _serve_renegotiate(self, message: Mapping[str, Any]) -> None:
        origin = str(message["from"])
        reply: dict[str, Any]
        peer = self._peers.get(str(message.get("peer")))
        try:
            if peer is None:
                raise ConnectionError("the participant's socket is gone")
            answer = await asyncio.wait_for(
                peer.renegotiate(str(message["room"]), str(message["sdp"])),
                self.call_timeout_s,
            )
            reply = {"ok": answer}
        except (ConnectionError, TimeoutError) as exc:
            reply = {"error": {"code": Code.UNAVAILABLE.value, "detail": str(exc)[:200]}}
        self._post(origin, {"op": "reply", "rid": message["rid"], **reply})

    # -- this node's sockets ------------------------------------------------------------

    def _key(self, peer: RoomPeer) -> str:
        key = self._keys.get(id(peer))
        if key is None:
            key = self._keys[id(peer)] = uuid.uuid4().hex[:16]
            self._peers[key] = peer
        return key

    async def _call(self, home: str, peer: RoomPeer, method: str, room: str, **args: Any) -> Any:
        # A stats request from someone in no room here is one-off: nothing to keep.
        known = id(peer) in self._keys
        key = self._key(peer) if known or method != "stats" else f"once-{uuid.uuid4().hex[:12]}"
        return await self._request(
            home,
            {
                "op": "call",
                "method": method,
                "room": room,
                "peer": key,
                "pid": peer.participant_id,
                "who": _identity_to_json(peer.identity),
                "grants": sorted(r for r in (room,) if peer.granted(r)),
                "args": args,
            },
        )

    async def _home(self, room: str, *, open_it: bool) -> str:
        """The room's live home; staff opening it place it on the least-loaded node."""
        try:
            home = await self.nodes.home(room)
            if home is not None:
                return home
            if not open_it:
                raise RoomRefused(Code.BAD_STATE, "the room is not open yet; try again")
            nodes, now_ms = await self.nodes.nodes()
            chosen = choose_node(nodes, now_ms=now_ms)
            if chosen is None:
                raise RoomRefused(Code.ROOM_FULL, "every media node is at capacity")
            return await self.nodes.claim(room, chosen.node)
        except BackplaneError as exc:
            log.warning("room directory failed: %s", exc)
            raise RoomRefused(Code.UNAVAILABLE, "the room directory is unavailable") from exc

    def _remote_home(self, peer: RoomPeer, room: str) -> str | None:
        key = self._keys.get(id(peer))
        return self._remote.get(key, {}).get(room) if key is not None else None

    async def join(self, peer: RoomPeer, room: str, sdp: str) -> str:
        # Always asked afresh: a home that died since the last join is replaced.
        # Staff open any room; the caller of a call may open its own (either may be first).
        opener = peer.identity.kind == "staff" or peer.granted(room)
        home = await self._home(room, open_it=opener)
        if home == self.node_id:
            return await self.local.join(peer, room, sdp)
        key = self._key(peer)
        try:
            answer = await self._call(home, peer, "join", room, sdp=sdp)
        except BaseException:
            if not self._remote.get(key):  # in no room elsewhere: forget the socket
                self._remote.pop(key, None)
                self._keys.pop(id(peer), None)
                self._peers.pop(key, None)
                self._post(home, self._goodbye(peer, key))
            raise
        self._remote.setdefault(key, {})[room] = home
        return str(answer)

    def _goodbye(self, peer: RoomPeer, key: str) -> dict[str, Any]:
        """A ``disconnected`` call nobody waits for (the home drops its guest)."""
        return {
            "op": "call",
            "method": "disconnected",
            "rid": f"bye-{key}",
            "from": self.node_id,
            "room": "",
            "peer": key,
            "pid": peer.participant_id,
            "who": _identity_to_json(peer.identity),
        }

    async def leave(self, peer: RoomPeer, room: str) -> None:
        home = self._remote_home(peer, room)
        if home is None:
            await self.local.leave(peer, room)
            return
        key = self._key(peer)
        try:
            await self._call(home, peer, "leave", room)
        finally:
            rooms = self._remote.get(key, {})
            rooms.pop(room, None)
            if home not in rooms.values():  # in no other room there: the home drops its guest
                self._post(home, self._goodbye(peer, key))
            if not rooms:  # in no room elsewhere: forget the socket (Node may not tell us)
                self._remote.pop(key, None)
                self._keys.pop(id(peer), None)
                self._peers.pop(key, None)

    async def mute(
        self, peer: RoomPeer, room: str, participant: str, kind: p.MediaKind, muted: bool
    ) -> None:
        home = self._remote_home(peer, room)
        if home is None:
            await self.local.mute(peer, room, participant, kind, muted)
            return
        await self._call(
            home, peer, "mute", room, participant=participant, kind=kind.value, muted=muted
        )

    async def set_recording(self, peer: RoomPeer, room: str, on: bool) -> None:
        home = self._remote_home(peer, room)
        if home is None:
            await self.local.set_recording(peer, room, on)
            return
        await self._call(home, peer, "set_recording", room, on=on)

    async def hold(self, peer: RoomPeer, room: str, on: bool) -> None:
        home = self._remote_home(peer, room)
        if home is None:
            await self.local.hold(peer, room, on)
            return
        await self._call(home, peer, "hold", room, on=on)

    async def stats(self, peer: RoomPeer, room: str) -> list[p.RoomStats]:
        home = self._remote_home(peer, room)
        if home is None:
            try:
                home = await self.nodes.home(room)
            except BackplaneError as exc:
                raise RoomRefused(Code.UNAVAILABLE, "the room directory is unavailable") from exc
        if home is None or home == self.node_id:
            return await self.local.stats(peer, room)
        found = []
        for raw in await self._call(home, peer, "stats", room) or ():
            msg = p.parse_server(str(raw))
            if isinstance(msg, p.RoomStats):
                found.append(msg)
        return found

    async def disconnected(self, peer: RoomPeer) -> None:
        """Tell each home this socket was in a room on (without waiting), then ``local``."""
        key = self._keys.pop(id(peer), None)
        if key is not None:
            rooms = self._remote.pop(key, {})
            self._peers.pop(key, None)
            for home in sorted(set(rooms.values())):
                self._post(home, self._goodbye(peer, key))
        await self.local.disconnected(peer)

    # -- the local service's rooms ------------------------------------------------------

    async def room_closed(self, room: str) -> None:
        """A room homed here closed: the directory forgets it."""
        try:
            await self.nodes.release(room)
        except BackplaneError as exc:
            log.warning("releasing room %s failed: %s", room, exc)
