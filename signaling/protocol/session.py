"""Messages of every connection: ``hello`` / ``welcome`` (who you are, resume), ``ping`` /
``pong``, and ``error`` for a refused message."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, ClassVar

from signaling.errors import ErrorCode
from signaling.protocol.types import Id, Nonce, Seconds, Token
from signaling.schema import Text


class Role(enum.StrEnum):
    AGENT = "agent"
    CALLER = "caller"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """First message on a socket; ``resume_token`` reclaims a dropped connection's place."""

    type: ClassVar[str] = "hello"
    resume_token: Token | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    type: ClassVar[str] = "ping"
    nonce: Nonce | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """Answer to ``hello``: who you are to us, and the token to resume with."""

    type: ClassVar[str] = "welcome"
    role: Role
    resume_token: Token
    resumed: bool
    grace_s: Seconds
    agent_id: Id | None = None
    session_id: Id | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """A message was refused; nothing changed. ``ref`` is the refused message's type."""

    type: ClassVar[str] = "error"
    code: ErrorCode
    detail: Annotated[str, Text(0, 500)]
    ref: Annotated[str, Text(0, 40)] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    type: ClassVar[str] = "pong"
    nonce: Nonce | None = None
