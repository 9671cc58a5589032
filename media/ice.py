"""ICE servers and TURN credentials.

aiortc falls back to a public STUN server when ``RTCConfiguration.iceServers`` is None,
so every peer connection media/ creates goes through ``rtc_configuration``, which always
passes an explicit list (empty in tests and on a LAN). TURN credentials follow coturn's
REST API (``use-auth-secret``): username ``"<expiry unix time>:<user>"``, password
``base64(HMAC-SHA1(shared secret, username))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer


@dataclass(frozen=True)
class TurnCredentials:
    username: str
    password: str
    expires_at: int
    ttl: int


def turn_credentials(
    secret: str, user: str, *, ttl: int = 3600, now: float | None = None
) -> TurnCredentials:
    """Short-lived TURN credentials for ``user`` in coturn's REST-API form."""
    if not secret:
        raise ValueError("a TURN shared secret is required")
    if ":" in user:
        raise ValueError("user must not contain ':' (it separates expiry and user)")
    expires_at = int(time.time() if now is None else now) + ttl
    username = f"{expires_at}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredentials(username, base64.b64encode(digest).decode("ascii"), expires_at, ttl)


@dataclass(frozen=True)
class IceSettings:
    """Where peers find STUN/TURN. Empty ``stun_urls`` and ``turn_urls`` means host only."""

    stun_urls: Sequence[str] = ()
    turn_urls: Sequence[str] = ()
    turn_secret: str = field(default="", repr=False)
    turn_ttl: int = 3600

    def servers_for(self, user: str, *, now: float | None = None) -> list[RTCIceServer]:
        """ICE servers for one peer (a browser or the SFU itself), TURN credentials minted."""
        servers = [RTCIceServer(urls=list(self.stun_urls))] if self.stun_urls else []
        if self.turn_urls:
            creds = turn_credentials(self.turn_secret, user, ttl=self.turn_ttl, now=now)
            servers.append(
                RTCIceServer(
                    urls=list(self.turn_urls), username=creds.username, credential=creds.password
                )
            )
        return servers

    def browser_config(self, user: str, *, now: float | None = None) -> list[dict[str, object]]:
        """The same servers as JSON for a browser's ``RTCPeerConnection({iceServers})``."""
        result: list[dict[str, object]] = []
        for server in self.servers_for(user, now=now):
            entry: dict[str, object] = {"urls": server.urls}
            if server.username is not None:
                entry["username"] = server.username
                entry["credential"] = server.credential
            result.append(entry)
        return result


def rtc_configuration(ice_servers: Sequence[RTCIceServer]) -> RTCConfiguration:
    """The one way media/ configures a peer connection: explicit servers, max-bundle."""
    return RTCConfiguration(iceServers=list(ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
