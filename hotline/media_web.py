"""The media node in the application: ICE servers for the SFU and for browsers.

- ``sfu_ice_servers(settings)``: what the SFU's own peer connections use. Always an
  explicit list (empty on a LAN and in tests): left unset, aiortc falls back to a public
  STUN server (DESIGN.md "Media"). Only ``HOTLINE_ICE_SERVERS``: the SFU is the party
  with a reachable address, and TURN credentials minted at start would expire while
  the process runs.
- ``GET /api/rtc-config``: the ``iceServers`` a page passes to ``RTCPeerConnection``, for
  signed-in staff or a caller holding a valid token (``?token=`` or ``Authorization:
  Bearer``). With ``HOTLINE_TURN_URLS`` and ``HOTLINE_TURN_SECRET`` set, it adds TURN
  servers with short-lived credentials in coturn's REST-API form, minted per request
  for that user (``media.ice``).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiortc import RTCIceServer

from hotline import keys
from hotline.auth import PUBLIC, allow
from hotline.contact import caller_claims
from hotline.settings import Settings
from hotline.web import viewer_of
from media.ice import IceSettings

routes = web.RouteTableDef()


def sfu_ice_servers(settings: Settings) -> list[RTCIceServer]:
    """``HOTLINE_ICE_SERVERS`` as aiortc objects; ``[]`` when none are configured."""
    return [
        RTCIceServer(
            urls=server["urls"],
            username=server.get("username"),
            credential=server.get("credential"),
        )
        for server in settings.ice_servers
    ]


def browser_ice_servers(settings: Settings, user: str, *, now: float) -> list[dict[str, Any]]:
    """The configured servers, plus TURN with credentials minted for ``user`` if configured."""
    servers = [dict(server) for server in settings.ice_servers]
    if settings.turn_urls and settings.turn_secret:
        turn = IceSettings(
            turn_urls=settings.turn_urls,
            turn_secret=settings.turn_secret,
            turn_ttl=settings.turn_ttl_s,
        )
        servers.extend(turn.browser_config(user, now=now))
    return servers


@routes.get("/api/rtc-config")
@allow(PUBLIC)  # staff cookie or caller token, checked here: the middleware knows no tokens
async def rtc_config(request: web.Request) -> web.Response:
    """``{"iceServers": [...], "ttl_s": n}`` for the signed-in member of staff or caller."""
    settings = request.app[keys.SETTINGS]
    now = time.time()
    viewer = viewer_of(request)
    user: str | None = viewer.username if viewer is not None else None
    if user is None:
        claims = caller_claims(request, now=now)
        user = claims.sub if claims is not None else None
    if user is None:
        return web.json_response({"error": "Sign in first.", "status": 401}, status=401)
    body = {
        "iceServers": browser_ice_servers(settings, user, now=now),
        "ttl_s": settings.turn_ttl_s if settings.turn_urls else None,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})
