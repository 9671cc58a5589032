"""Mounting signaling on an aiohttp application.

``setup_signaling`` registers the WebSocket route and a ``cleanup_ctx`` that owns
everything signaling runs in the background: the backplane's delivery listener and the
leader loop (which owns lease renewal, the log reader, timers and the outcome writer).
Open sockets are kept in ``signaling.sockets.Sockets`` and closed with GOING_AWAY on
shutdown.

Before a socket is accepted, in this order (each refusal counted through ``refused``):

1. ``Origin``: a browser says which page opens the socket (RFC 6455, 10.2). Only the
   request's own host or a configured public origin may, or a staff member's cookie
   would let any site's page act as them (cross-site WebSocket hijacking): 403. A
   request without ``Origin`` is no browser's (bots) and is let through;
2. the client address's open sockets on this process (``sockets_per_address``): 429;
3. who it is: ``authenticate`` (staff cookie, caller or room token), else a caller's
   resume token in ``?resume=`` (a caller token expired during a drop must not cost
   the caller their place): 401.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, hdrs, web

from routing.model import RoutingConfig
from signaling import records as rec
from signaling.backplane.base import Backplane
from signaling.driver import CreateTicket, Leader, RecordOutcome
from signaling.errors import ProtocolError
from signaling.identity import Authenticate, Identity
from signaling.node import LoadProfile, Node, roster_profiles
from signaling.protocol import MAX_FRAME_BYTES
from signaling.rooms import RoomService
from signaling.router import check_config
from signaling.sockets import Sockets
from signaling.tokens import Tokens

log = logging.getLogger(__name__)

BackplaneFactory = Callable[[], Backplane]
ClientAddress = Callable[[web.Request], str]
Refused = Callable[[str], None]


@dataclass
class Signaling:
    """What ``setup_signaling`` put on the application (``app[SIGNALING]``)."""

    backplane: Backplane
    node: Node
    leader: Leader
    sockets: Sockets

    async def disposed(self, agent: str, session: str) -> None:
        """The agent recorded ``session``'s disposition: their wrap-up may end."""
        record = rec.Disposed(key=f"a:{agent}", session=session, now=time.time())
        await self.backplane.append(rec.to_dict(record))

    async def revoke(self, session_ref: str) -> None:
        """A staff web session is over (signed out): close its sockets on every process
        with 4003."""
        await self.sockets.revoke(self.backplane, session_ref)


SIGNALING = web.AppKey("signaling", Signaling)


def origin(url: str) -> str:
    """The origin of ``url`` as a browser sends it: ``scheme://host[:port]``, lower case."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(request: web.Request, allowed: frozenset[str]) -> bool:
    """No ``Origin`` (not a browser), the request's own host, or one of ``allowed``."""
    sent = request.headers.get(hdrs.ORIGIN)
    if sent is None:
        return True
    parts = urlsplit(sent.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file) and anything malformed
    return origin(sent) in allowed or parts.netloc == request.host.lower()


def _remote(request: web.Request) -> str:
    return request.remote or ""


def setup_signaling(
    app: web.Application,
    *,
    backplane_factory: BackplaneFactory,
    authenticate: Authenticate,
    record_outcome: RecordOutcome,
    engine_config: RoutingConfig,
    resume_secret: bytes,
    path: str = "/ws",
    load_profile: LoadProfile | None = None,
    create_ticket: CreateTicket | None = None,
    grace_s: float = 30.0,
    snapshot_every: int = 10_000,
    heartbeat_s: float = 20.0,
    clock: Callable[[], float] = time.time,
    rooms: RoomService | None = None,
    tickets_per_hour: int = 30,
    known_town: Callable[[str], Awaitable[bool]] | None = None,
    keep_number: Callable[[str, str], Awaitable[None]] | None = None,
    reveal_number: Callable[[str, Identity], Awaitable[str | None]] | None = None,
    survey_token: Callable[[str], str] | None = None,
    history_pass: Callable[[str, str, str, float], str] | None = None,
    discard_recording: Callable[[str], Awaitable[None]] | None = None,
    allowed_origins: Iterable[str] = (),
    sockets_per_address: int = 50,
    client_address: ClientAddress = _remote,
    refused: Refused | None = None,
) -> None:
    """Serve the signaling WebSocket at ``path`` and run routing in the background.

    ``backplane_factory`` is called once at startup (``MemoryBackplane`` or
    ``lambda: RedisBackplane(url)``). ``authenticate`` maps the upgrade request to an
    ``Identity`` (``None``: 401). ``record_outcome`` writes one ``SessionRecorded``
    and must be idempotent per session id. ``resume_secret`` (≥ 16 bytes, the same on
    every process) signs resume tokens and hashes phone numbers. ``load_profile`` gives
    an agent's routing profile (default: ``engine_config.roster``). ``rooms`` runs media
    rooms for the room messages (``signaling.rooms``); without it they are refused.
    ``discard_recording(room)`` deletes a voicemail room's recordings when its caller
    cancels the message or gives it up (hangs up, is answered, drops).

    ``allowed_origins`` are the pages' origins besides the request's own host (the public
    URL behind a proxy); ``sockets_per_address`` bounds one client address's open
    sockets on this process, the address being ``client_address(request)``; ``refused``
    is called with a reason each time a limit refuses something (``/metrics``).
    """
    check_config(engine_config)  # at once: a bad queue id must stop the start
    tokens = Tokens(resume_secret)
    profiles = load_profile or roster_profiles(engine_config)
    origins = frozenset(origin(url) for url in allowed_origins)
    count_refusal = refused or (lambda reason: None)

    def resumed_caller(request: web.Request) -> Identity | None:
        """The caller a resume token in ``?resume=`` names; ``hello`` checks it again."""
        token = request.query.get("resume")
        if not token:
            return None
        try:
            key, user = tokens.read(token, now=clock())
        except ProtocolError as exc:
            log.info("resume token refused at upgrade: %s", exc.detail)
            return None
        if not key.startswith("c:"):
            return None  # staff sign in again
        return Identity(
            kind="caller", user_id=user, display_name="caller", subject=user, resume_only=True
        )

    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.config_dict[SIGNALING]
        if not origin_allowed(request, origins):
            count_refusal("origin")
            log.warning("refused a WebSocket from origin %r", request.headers.get(hdrs.ORIGIN))
            raise web.HTTPForbidden(text="this page's origin may not open the signaling socket")
        address = client_address(request)
        if not state.sockets.reserve(address):
            count_refusal("sockets_per_address")
            log.warning("refused a WebSocket: %s has too many open", address)
            raise web.HTTPTooManyRequests(text="too many open connections from your address")
        try:
            identity = await authenticate(request) or resumed_caller(request)
            if identity is None:
                raise web.HTTPUnauthorized(text="sign in or present a caller token")
            # Frames up to 2 MiB get a ``too_large`` error, not a close (1009).
            ws = web.WebSocketResponse(heartbeat=heartbeat_s, max_msg_size=MAX_FRAME_BYTES)
            await ws.prepare(request)
            with state.sockets.serving(ws, identity):
                await state.node.serve(ws, identity, address=address)
        finally:
            state.sockets.release(address)
        return ws

    async def close_sockets(app: web.Application) -> None:
        state = app.get(SIGNALING)
        if state is None:
            return
        await state.sockets.close_all(WSCloseCode.GOING_AWAY, "server shutting down")

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        backplane = backplane_factory()
        node = Node(
            backplane,
            tokens=tokens,
            load_profile=profiles,
            grace_s=grace_s,
            clock=clock,
            rooms=rooms,
            refused=count_refusal,
            known_town=known_town,
            keep_number=keep_number,
            discard_recording=discard_recording,
            reveal_number=reveal_number,
            survey_token=survey_token,
            history_pass=history_pass,
        )
        leader = Leader(
            backplane,
            config=engine_config,
            record_outcome=record_outcome,
            create_ticket=create_ticket,
            grace_s=grace_s,
            snapshot_every=snapshot_every,
            clock=clock,
            tickets_per_hour=tickets_per_hour,
            refused=count_refusal,
        )
        sockets = Sockets(per_address=sockets_per_address, clock=clock)
        await backplane.start(node.receive, node.resync, sockets.received)
        app[SIGNALING] = Signaling(backplane=backplane, node=node, leader=leader, sockets=sockets)
        tasks = [
            asyncio.create_task(backplane.run(), name="backplane-listener"),
            asyncio.create_task(leader.run(), name="routing-leader-loop"),
        ]
        try:
            yield
        finally:
            await close_sockets(app)
            await sockets.aclose()
            for task in tasks:
                task.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("signaling task ended with %r", result)
            await backplane.close()

    app.router.add_get(path, handler)
    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(lifetime)
