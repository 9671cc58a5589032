"""The hotline queue: callers join the line, wait, ask for a callback or leave a
message; agents set their presence, take offers, end and transfer sessions."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, ClassVar

from signaling.errors import ErrorCode, ProtocolError
from signaling.protocol.types import (
    Category,
    Count,
    Id,
    Language,
    Outcome,
    Phone,
    Presence,
    PriorityName,
    Reason,
    Seconds,
    Token,
)
from signaling.schema import Text


class PriorityClass(enum.StrEnum):
    """Green channels (绿色通道) a caller may claim; staff may confirm or downgrade."""

    ORDINARY = "ordinary"
    WAGE_CLAIM = "wage_claim"
    ELDERLY = "elderly"
    DISABLED = "disabled"


class PresenceRequest(enum.StrEnum):
    """The presence states an agent may ask for."""

    AVAILABLE = "available"
    BREAK = "break"
    WRAP_UP = "wrap_up"
    OFFLINE = "offline"


class OfferKind(enum.StrEnum):
    CALL = "call"
    CALLBACK = "callback"


class CancelReason(enum.StrEnum):
    TIMEOUT = "timeout"
    CALLER_LEFT = "caller_left"
    AGENT_DISCONNECTED = "agent_disconnected"
    SIGNED_OUT = "signed_out"
    ON_BREAK = "on_break"
    VOICEMAIL = "voicemail"
    OTHER = "other"


class Channel(enum.StrEnum):
    """How the caller is with us (the phone comes with telephony)."""

    WEB_VOICE = "web_voice"
    WEB_VIDEO = "web_video"


class CallbackReason(enum.StrEnum):
    """Why a callback (or a message) is offered to a waiting caller."""

    LONG_WAIT = "long_wait"  # the caller has waited the queue's maximum
    OFF_DUTY = "off_duty"  # nobody is on duty for the queue now


class QueuedReason(enum.StrEnum):
    """Why a caller is (back) in line under a new session id."""

    TRANSFERRED = "transferred"  # the agent transferred the call
    AGENT_LOST = "agent_lost"  # the agent's connection was lost: back at the head
    CALLBACK_RETRY = "callback_retry"  # a callback did not reach you: it is tried again


class CallbackResult(enum.StrEnum):
    """Why a callback did not reach the caller."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinQueue:
    """A caller asks to be put in line."""

    type: ClassVar[str] = "join_queue"
    category: Category
    language: Language
    priority: PriorityClass = PriorityClass.ORDINARY
    phone: Phone | None = None
    named_agent: Id | None = None
    channel: Channel | None = None  # absent: web_voice
    town: Id | None = None  # from GET /api/towns; checked against the record


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveQueue:
    """A caller leaves the line (hangs up)."""

    type: ClassVar[str] = "leave_queue"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCallback:
    """A waiting caller asks to be called back and keeps their place."""

    type: ClassVar[str] = "request_callback"
    phone: Phone | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestVoicemail:
    """A waiting caller leaves a message instead (a ticket answered the next day).

    The message is required: a ticket without one helps nobody.
    """

    type: ClassVar[str] = "request_voicemail"
    message: Annotated[str, Text(1, 2000)]


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPresence:
    """An agent changes presence; ``reason`` is required for, and only for, a break."""

    type: ClassVar[str] = "presence"
    state: PresenceRequest
    reason: Reason | None = None

    def __post_init__(self) -> None:
        if (self.state is PresenceRequest.BREAK) != (self.reason is not None):
            raise ProtocolError(ErrorCode.BAD_FIELD, "reason: required for break, else absent")


@dataclass(frozen=True, slots=True, kw_only=True)
class Accept:
    type: ClassVar[str] = "accept"
    offer_id: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    type: ClassVar[str] = "reject"
    offer_id: Id
    reason: Reason | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class End:
    """End a live session; an agent names it, a caller ends their own."""

    type: ClassVar[str] = "end"
    session_id: Id | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackUnreached:
    """The agent ends a callback that reached nobody; with ``retry`` it is tried again
    after the queue's retry delay (never for a wrong number, nor past the last attempt)."""

    type: ClassVar[str] = "callback_unreached"
    session_id: Id
    result: CallbackResult
    retry: bool = False

    def __post_init__(self) -> None:
        if self.retry and self.result is CallbackResult.WRONG_NUMBER:
            raise ProtocolError(ErrorCode.BAD_FIELD, "retry: a wrong number is not tried again")


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """Blind transfer of a live session to a queue or to a named agent (exactly one)."""

    type: ClassVar[str] = "transfer"
    session_id: Id
    to_queue: Category | None = None
    to_agent: Id | None = None

    def __post_init__(self) -> None:
        if (self.to_queue is None) == (self.to_agent is None):
            raise ProtocolError(ErrorCode.BAD_FIELD, "exactly one of to_queue, to_agent")


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued:
    type: ClassVar[str] = "queued"
    session_id: Id
    category: Category
    reason: QueuedReason | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """Place in line (1 = next) and estimated wait; at most once every 5 s per caller."""

    type: ClassVar[str] = "position"
    session_id: Id
    position: Count
    # Absent when nobody who could take the call is on duty (no minutes are promised);
    # 0 while an agent is being rung for it.
    estimated_wait_s: Seconds | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected:
    """Sent to both caller and agent when an offer is accepted.

    ``room`` is the call's media room, which this connection may now join (and only
    while the call lasts); ``agent_name`` is how the agent is shown (王律师).
    """

    type: ClassVar[str] = "connected"
    session_id: Id
    agent_id: Id
    room: Id | None = None
    agent_name: Annotated[str, Text(1, 80)] | None = None
    channel: Channel | None = None
    # A callback: which attempt this is, of how many; to the agent, whether the
    # caller's page is open (it rings there) or the number must be dialled.
    callback: bool | None = None
    attempt: Count | None = None
    attempts: Count | None = None
    caller_online: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackOffered:
    """The wait is long: the caller may ask for a callback and keep their place."""

    type: ClassVar[str] = "callback_offered"
    session_id: Id
    reason: CallbackReason = CallbackReason.LONG_WAIT


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended:
    """The session is over. To the agent, ``disposition`` says that wrap-up lasts until
    its disposition is recorded (the desk's form); to the caller, ``survey`` that they
    may rate the call."""

    type: ClassVar[str] = "ended"
    session_id: Id
    outcome: Outcome
    disposition: bool | None = None  # true: a disposition is needed
    survey: bool | None = None  # true: the caller may rate the call
    # With ``survey``: the bearer token for ``POST /api/sessions/{id}/survey``.
    survey_token: Token | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """A session proposed to this agent until ``expires_in_s``; ``phone`` is masked."""

    type: ClassVar[str] = "offer"
    offer_id: Id
    session_id: Id
    category: Category
    priority: PriorityName
    kind: OfferKind
    expires_in_s: Seconds
    waited_s: Seconds = 0.0
    language: Language | None = None
    phone: Annotated[str, Text(1, 24)] | None = None
    channel: Channel | None = None
    town: Id | None = None
    # Between servers only: the leader names the caller's number key (``tel:…``), the
    # agent's node replaces it with ``history_pass`` before the desk sees the offer.
    caller_ref: Id | None = None
    history_pass: Token | None = None  # GET /api/sessions/{id}/earlier, while it rings


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackNumber:
    """The full number to call back, sent only to the agent a callback is offered to,
    right after the ``offer`` (which, like every other screen, shows it masked)."""

    type: ClassVar[str] = "callback_number"
    offer_id: Id
    session_id: Id
    phone: Annotated[str, Text(3, 32)]


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferCancelled:
    type: ClassVar[str] = "offer_cancelled"
    offer_id: Id
    session_id: Id
    reason: CancelReason


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceChanged:
    """The agent's presence as the router sees it (e.g. a break after missed offers)."""

    type: ClassVar[str] = "presence_changed"
    state: Presence
    reason: Reason | None = None
