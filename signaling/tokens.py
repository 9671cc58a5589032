"""Signed tokens and phone numbers.

``TokenSigner``: ``base64url(json payload) . base64url(HMAC-SHA256)``; the payload
carries the purpose (``aud``), subject, scope (one room, session or connection) and
expiry, and a token for one purpose or scope is never accepted for another. No
server-side state is needed to check one. It signs the caller and invited-party
tokens the web layer issues and the resume tokens below.

A resume token (``Tokens``) lets a client that dropped reclaim its connection key (and
so its place in line) on any process. It also stands in for the caller's own token when
that has expired meanwhile (``/ws?resume=…``): it names the same caller.

Phone numbers never enter the routing log in clear: the log carries the masked form
agents see (138****5678, DOMAIN.md) and a keyed hash that recognises a returning caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cases.phone import canonical
from signaling.errors import ErrorCode, ProtocolError

RESUME_AUDIENCE = "resume"

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
    """Issues and verifies signed tokens with a secret every process shares."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        self._key = hashlib.sha256(b"hotline-token:" + raw).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(self, *, aud: str, sub: str, scope: str, ttl_s: float, now: float) -> str:
        payload = {"aud": aud, "sub": sub, "scope": scope, "exp": now + ttl_s}
        payload["nonce"] = secrets.token_urlsafe(8)
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def verify(
        self,
        token: str,
        *,
        aud: str | frozenset[str],
        now: float,
        scope: str | None = None,
    ) -> TokenClaims:
        """The claims of a good token for ``aud`` (one purpose, or any of a set)."""
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
        if claims.aud not in ({aud} if isinstance(aud, str) else aud):
            raise TokenError(f"token is for {claims.aud!r}, not {aud!r}")
        if scope is not None and claims.scope != scope:
            raise TokenError("token is for another room or session")
        if claims.exp <= now:
            raise TokenError("token expired")
        return claims


class Tokens:
    """Issues and checks resume tokens; hashes phone numbers with the same secret."""

    def __init__(self, secret: bytes, *, ttl_s: float = 3600.0) -> None:
        if len(secret) < 16:
            raise ValueError("the resume secret must be at least 16 bytes")
        self._secret = secret
        self._signer = TokenSigner(secret)
        self.ttl_s = ttl_s

    def issue(self, key: str, user: str, *, now: float | None = None) -> str:
        return self._signer.issue(
            aud=RESUME_AUDIENCE,
            sub=user,
            scope=key,
            ttl_s=self.ttl_s,
            now=now if now is not None else time.time(),
        )

    def check(self, token: str, user: str, *, now: float | None = None) -> str:
        """The key a token was issued for; ``ProtocolError(BAD_TOKEN)`` if it is not good."""
        key, holder = self.read(token, now=now)
        if holder != user:
            raise ProtocolError(ErrorCode.BAD_TOKEN, "resume token is for someone else")
        return key

    def read(self, token: str, *, now: float | None = None) -> tuple[str, str]:
        """(connection key, user) of a good token; ``ProtocolError(BAD_TOKEN)`` if not."""
        try:
            claims = self._signer.verify(
                token, aud=RESUME_AUDIENCE, now=now if now is not None else time.time()
            )
        except TokenError as exc:
            raise ProtocolError(ErrorCode.BAD_TOKEN, f"resume token: {exc}") from None
        return claims.scope, claims.sub

    def session_key(self, subject: str) -> str:
        """The connection key of the caller holding a token with this subject."""
        mac = hmac.new(self._secret, b"caller-token:" + subject.encode(), hashlib.sha256)
        return "c:" + mac.hexdigest()[:24]

    def address_key(self, address: str) -> str:
        """A keyed hash of a client address: the routing log counts tickets per address
        without holding the address itself."""
        mac = hmac.new(self._secret, b"address:" + address.encode(), hashlib.sha256)
        return mac.hexdigest()[:16]

    def caller_key(self, phone: str) -> str:
        """A stable, non-reversible key for a phone number (returning-caller detection)."""
        number = canonical(phone)  # E.164: the same key however the number was typed
        return "tel:" + hmac.new(self._secret, number.encode(), hashlib.sha256).hexdigest()[:24]
