"""Signed, expiring tokens for anonymous callers and invited parties.

``base64url(json payload) . base64url(HMAC-SHA256)``; the payload carries the
purpose (``aud``), subject, scope (one room or session) and expiry. A token for
one purpose or room is never accepted for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

MAX_TOKEN_LENGTH = 2048


class TokenError(Exception):
    """A token is malformed, forged, expired or for another purpose."""


@dataclass(frozen=True)
class TokenClaims:
    aud: str
    sub: str
    scope: str
    exp: float
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"hotline-token:" + secret.encode()).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(self, *, aud: str, sub: str, scope: str, ttl_s: float, now: float) -> str:
        payload = {"aud": aud, "sub": sub, "scope": scope, "exp": now + ttl_s}
        payload["nonce"] = secrets.token_urlsafe(8)
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, *, aud: str, now: float, scope: str | None = None) -> TokenClaims:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise TokenError("malformed token")
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise TokenError("bad signature")
        try:
            payload: dict[str, Any] = json.loads(_unb64(body))
            claims = TokenClaims(
                aud=str(payload["aud"]),
                sub=str(payload["sub"]),
                scope=str(payload["scope"]),
                exp=float(payload["exp"]),
                nonce=str(payload["nonce"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError("malformed token") from exc
        if claims.aud != aud:
            raise TokenError(f"token is for {claims.aud!r}, not {aud!r}")
        if scope is not None and claims.scope != scope:
            raise TokenError("token is for another room or session")
        if claims.exp <= now:
            raise TokenError("token expired")
        return claims
