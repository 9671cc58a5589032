"""Ending staff sockets: revocation broadcast to every process, and session expiry.

Two signaling apps share one backplane (on Redis: one key prefix; on memory each app
has its own, so "every process" is the one app), over real WebSockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from routing.model import RoutingConfig
from signaling.backplane import Backplane
from signaling.identity import Identity
from signaling.sockets import CLOSE_SIGNED_OUT, Revoked
from signaling.web import SIGNALING, setup_signaling
from tests.signaling.conftest import SECRET, Outcomes

Client = TestClient[Any, Any]


async def authenticate(request: web.Request) -> Identity | None:
    """``?as=NAME&session=REF`` (and ``&expires_in=S``): a member of staff's socket."""
    name = request.query.get("as")
    if not name:
        return None
    expires_in = request.query.get("expires_in")
    return Identity(
        kind="staff",
        user_id=name,
        display_name=name,
        roles=frozenset({"supervisor"}),
        session_ref=request.query.get("session"),
        expires_at=time.time() + float(expires_in) if expires_in else None,
    )


async def app_client(
    aiohttp_client: Callable[..., Any],
    backplane_factory: Callable[[], Backplane],
    outcomes: Outcomes,
    config: RoutingConfig,
) -> Client:
    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=backplane_factory,
        authenticate=authenticate,
        record_outcome=outcomes.record,
        engine_config=config,
        resume_secret=SECRET,
    )
    client: Client = await aiohttp_client(app)
    await asyncio.wait_for(app[SIGNALING].backplane.wait_ready(), 5)
    return client


async def close_code(ws: Any, within: float = 5.0) -> int | None:
    async with asyncio.timeout(within):
        while not ws.closed:
            frame = await ws.receive()
            if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                break
    code: int | None = ws.close_code
    return code


async def still_open(ws: Any) -> bool:
    await ws.send_str('{"v": 1, "type": "ping", "nonce": "x"}')
    frame = await ws.receive(timeout=5)
    return bool(frame.type == WSMsgType.TEXT and '"pong"' in frame.data)


class TestRevoke:
    async def test_revoking_a_session_closes_its_sockets_on_every_process(
        self,
        backplane_kind: str,
        aiohttp_client: Callable[..., Any],
        backplane_factory: Callable[[], Backplane],
        outcomes: Outcomes,
        config: RoutingConfig,
    ) -> None:
        """revoke(ref) on one process closes that session's sockets on the other with
        4003; another session's socket stays open."""
        first = await app_client(aiohttp_client, backplane_factory, outcomes, config)
        second = first
        if backplane_kind == "redis":
            second = await app_client(aiohttp_client, backplane_factory, outcomes, config)
        doomed = await second.ws_connect("/ws?as=ann&session=s-ann")
        spared = await second.ws_connect("/ws?as=bob&session=s-bob")
        await first.server.app[SIGNALING].revoke("s-ann")
        assert await close_code(doomed) == CLOSE_SIGNED_OUT
        assert await still_open(spared)
        await spared.close()

    async def test_a_broadcast_that_is_no_revocation_changes_nothing(
        self,
        aiohttp_client: Callable[..., Any],
        backplane_factory: Callable[[], Backplane],
        outcomes: Outcomes,
        config: RoutingConfig,
    ) -> None:
        """Garbage on the broadcast channel is logged and ignored; the sockets live on
        (the revocation sent after it shows it has been read)."""
        client = await app_client(aiohttp_client, backplane_factory, outcomes, config)
        ws = await client.ws_connect("/ws?as=ann&session=s-ann")
        marker = await client.ws_connect("/ws?as=bob&session=s-bob")
        backplane = client.server.app[SIGNALING].backplane
        for payload in ("not json", '{"t": "other"}', '{"t": "revoked"}', "[]", '"x"'):
            await backplane.broadcast(payload)
        await backplane.broadcast(Revoked("s-bob").serialize())
        assert await close_code(marker) == CLOSE_SIGNED_OUT
        assert await still_open(ws)
        await ws.close()


class TestExpiry:
    async def test_a_staff_socket_closes_when_its_session_expires(
        self,
        aiohttp_client: Callable[..., Any],
        backplane_factory: Callable[[], Backplane],
        outcomes: Outcomes,
        config: RoutingConfig,
    ) -> None:
        """A socket whose identity expires is closed with 4003 then; one without expiry
        is not."""
        client = await app_client(aiohttp_client, backplane_factory, outcomes, config)
        lasting = await client.ws_connect("/ws?as=bob&session=s-bob")
        expiring = await client.ws_connect("/ws?as=ann&session=s-ann&expires_in=0.3")
        assert await close_code(expiring) == CLOSE_SIGNED_OUT
        assert await still_open(lasting)
        await lasting.close()
