"""Mounting signaling on an aiohttp application.

``setup_signaling`` registers the WebSocket route and a ``cleanup_ctx`` that owns
everything signaling runs in the background: the backplane's delivery listener and the
leader loop (which owns lease renewal, the log reader, timers and the outcome writer).
Open sockets are kept in a ``WeakSet`` and closed with GOING_AWAY on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from routing.model import RoutingConfig
from signaling.backplane.base import Backplane
from signaling.driver import CreateTicket, Leader, RecordOutcome
from signaling.identity import Authenticate
from signaling.node import LoadProfile, Node, roster_profiles
from signaling.protocol import MAX_FRAME_BYTES
from signaling.rooms import RoomService
from signaling.router import check_config
from signaling.tokens import Tokens

log = logging.getLogger(__name__)

BackplaneFactory = Callable[[], Backplane]


@dataclass
class Signaling:
    """What ``setup_signaling`` put on the application (``app[SIGNALING]``)."""

    backplane: Backplane
    node: Node
    leader: Leader
    sockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)


SIGNALING = web.AppKey("signaling", Signaling)


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
    refused: Callable[[str], None] | None = None,
) -> None:
    """Serve the signaling WebSocket at ``path`` and run routing in the background.

    ``backplane_factory`` is called once at startup (``MemoryBackplane`` or
    ``lambda: RedisBackplane(url)``). ``authenticate`` maps the upgrade request to an
    ``Identity`` (``None``: 401). ``record_outcome`` writes one ``SessionRecorded``
    and must be idempotent per session id. ``resume_secret`` (≥ 16 bytes, the same on
    every process) signs resume tokens and hashes phone numbers. ``load_profile`` gives
    an agent's routing profile (default: ``engine_config.roster``). ``rooms`` runs media
    rooms for the room messages (``signaling.rooms``); without it they are refused.
    """
    check_config(engine_config)  # at once: a bad queue id must stop the start
    tokens = Tokens(resume_secret)
    profiles = load_profile or roster_profiles(engine_config)

    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.config_dict[SIGNALING]
        identity = await authenticate(request)
        if identity is None:
            raise web.HTTPUnauthorized(text="sign in or present a caller token")
        # Frames up to 2 MiB get a ``too_large`` error, not a close (1009).
        ws = web.WebSocketResponse(heartbeat=heartbeat_s, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        state.sockets.add(ws)
        try:
            await state.node.serve(ws, identity)
        finally:
            state.sockets.discard(ws)
        return ws

    async def close_sockets(app: web.Application) -> None:
        state = app.get(SIGNALING)
        if state is None:
            return
        for ws in list(state.sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        backplane = backplane_factory()
        node = Node(
            backplane,
            tokens=tokens,
            load_profile=profiles,
            grace_s=grace_s,
            clock=clock,
            rooms=rooms,
            refused=refused,
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
            refused=refused,
        )
        await backplane.start(node.receive, node.resync)
        app[SIGNALING] = Signaling(backplane=backplane, node=node, leader=leader)
        tasks = [
            asyncio.create_task(backplane.run(), name="backplane-listener"),
            asyncio.create_task(leader.run(), name="routing-leader-loop"),
        ]
        try:
            yield
        finally:
            await close_sockets(app)
            for task in tasks:
                task.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("signaling task ended with %r", result)
            await backplane.close()

    app.router.add_get(path, handler)
    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(lifetime)
