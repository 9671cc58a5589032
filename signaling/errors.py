"""Errors raised by the signaling package.

Exception tree::

    SignalingError                 root of everything signaling raises on purpose
    ├── ProtocolError              a client message that does not parse or validate;
    │                              carries an ``ErrorCode`` and is turned into an
    │                              ``error`` message by the web layer, never a crash
    └── BackplaneError             the backplane (Redis) failed or our lease was lost;
        └── LeaseLost              another process now leads: stop performing actions

Errors of dependencies (``redis.exceptions.RedisError``, ``OSError``) are translated
into ``BackplaneError`` at the seam in ``signaling.backplane``.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """The closed set of codes an ``error`` message may carry."""

    BAD_JSON = "bad_json"
    TOO_LARGE = "too_large"
    BAD_VERSION = "bad_version"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    BAD_FIELD = "bad_field"
    NOT_ALLOWED = "not_allowed"
    BAD_STATE = "bad_state"
    BAD_TOKEN = "bad_token"  # noqa: S105 - an error code, not a secret
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    # A transfer or consult names a queue or colleague nobody signed in could take.
    NOBODY_ELIGIBLE = "nobody_eligible"


class SignalingError(Exception):
    """Root of the errors the signaling package raises."""


class ProtocolError(SignalingError):
    """A message that must be answered with an ``error`` message and otherwise ignored."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail


class BackplaneError(SignalingError):
    """The backplane could not carry an event or a message."""


class LeaseLost(BackplaneError):
    """This process no longer holds the routing lease."""
