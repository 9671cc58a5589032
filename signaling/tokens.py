"""Resume tokens and phone numbers.

A resume token lets a client that dropped reclaim its connection key (and so its place
in line) on any process: ``base64url(key|user|expiry).hmac``, signed with a secret the
processes share. No server-side state is needed to check one.

Phone numbers never enter the routing log in clear: the log carries the masked form
agents see (138****5678, DOMAIN.md) and a keyed hash that recognises a returning caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from signaling.errors import ErrorCode, ProtocolError


class Tokens:
    """Issues and checks resume tokens; hashes phone numbers with the same secret."""

    def __init__(self, secret: bytes, *, ttl_s: float = 3600.0) -> None:
        if len(secret) < 16:
            raise ValueError("the resume secret must be at least 16 bytes")
        self._secret = secret
        self.ttl_s = ttl_s

    def _mac(self, body: bytes) -> str:
        digest = hmac.new(self._secret, body, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, key: str, user: str, *, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self.ttl_s)
        body = f"{key}|{user}|{expires}".encode()
        encoded = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{encoded}.{self._mac(body)}"

    def check(self, token: str, user: str, *, now: float | None = None) -> str:
        """The key a token was issued for; ``ProtocolError(BAD_TOKEN)`` if it is not good."""
        encoded, _, mac = token.partition(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            raise ProtocolError(ErrorCode.BAD_TOKEN, "malformed resume token") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise ProtocolError(ErrorCode.BAD_TOKEN, "resume token not valid")
        key, _, rest = body.decode(errors="replace").partition("|")
        token_user, _, expires = rest.rpartition("|")
        if token_user != user:
            raise ProtocolError(ErrorCode.BAD_TOKEN, "resume token is for someone else")
        if float(expires) < (now if now is not None else time.time()):
            raise ProtocolError(ErrorCode.BAD_TOKEN, "resume token expired")
        return key

    def caller_key(self, phone: str) -> str:
        """A stable, non-reversible key for a phone number (returning-caller detection)."""
        digits = re.sub(r"\D", "", phone)
        return "tel:" + hmac.new(self._secret, digits.encode(), hashlib.sha256).hexdigest()[:24]


def mask_phone(phone: str) -> str:
    """138****5678: keep the first three and last four digits (DOMAIN.md, privacy)."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 7:
        return digits[:1] + "*" * max(0, len(digits) - 1)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
