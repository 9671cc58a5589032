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
    CONSULT = "consult"  # a colleague asks this agent into a live call (``consult``)


class ConsultPhase(enum.StrEnum):
    """Where a consult stands (``consult_state``)."""

    RINGING = "ringing"  # asked for; ringing, or waiting for someone to be free
    CONNECTED = "connected"  # the colleague accepted: three in the call
    ENDED = "ended"


class ConsultSide(enum.StrEnum):
    """Which end of a consult the receiving agent is."""

    REQUESTER = "requester"  # the call's agent, who asked
    CONSULTANT = "consultant"  # the colleague asked in


class ConsultEndReason(enum.StrEnum):
    ENDED = "ended"  # withdrawn by the requester, or the colleague left
    CALL_ENDED = "call_ended"  # the call itself ended
    AGENT_LOST = "agent_lost"  # the colleague's connection was lost


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

    A written message is required unless the caller ``recorded`` one in the voicemail
    room granted by ``record_voicemail`` (a ticket with neither helps nobody). ``phone``:
    the number to answer on, if not given with ``join_queue`` (kept sealed, shown masked).
    """

    type: ClassVar[str] = "request_voicemail"
    message: Annotated[str, Text(1, 2000)] | None = None
    recorded: bool | None = None  # true: the voice message recorded in the voicemail room
    phone: Phone | None = None

    def __post_init__(self) -> None:
        if self.message is None and not self.recorded:
            raise ProtocolError(ErrorCode.MISSING_FIELD, "message: required unless recorded")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordVoicemail:
    """A waiting caller asks to record a voice message (answered by ``voicemail_room``)."""

    type: ClassVar[str] = "record_voicemail"


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelVoicemail:
    """The caller gives up the voice message being recorded (they stay in line)."""

    type: ClassVar[str] = "cancel_voicemail"


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
class Consult:
    """Ask a second agent into a live call (warm transfer): a named colleague or anyone
    serving a queue (exactly one). Refused (``nobody_eligible``) when nobody signed in
    could take it; the colleague's offer is marked ``consult``."""

    type: ClassVar[str] = "consult"
    session_id: Id
    to_queue: Category | None = None
    to_agent: Id | None = None

    def __post_init__(self) -> None:
        if (self.to_queue is None) == (self.to_agent is None):
            raise ProtocolError(ErrorCode.BAD_FIELD, "exactly one of to_queue, to_agent")


@dataclass(frozen=True, slots=True, kw_only=True)
class EndConsult:
    """End the consult of call ``session_id``: the requester withdraws it (or asks the
    colleague out), or the colleague leaves the call."""

    type: ClassVar[str] = "end_consult"
    session_id: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class HandOver:
    """The call's agent hands it to the colleague who joined, and leaves (wrap-up)."""

    type: ClassVar[str] = "hand_over"
    session_id: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class GetTargets:
    """Who a live call could be transferred to or a colleague consulted from (``targets``)."""

    type: ClassVar[str] = "get_targets"
    session_id: Id


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
    # What the call is about and where the caller is (the desk shows them after a reload).
    category: Category | None = None
    town: Id | None = None
    # To a desk that came back (no offer on its page): as on an ``offer``, the leader
    # names the number key between servers, the agent's node turns it into a pass.
    caller_ref: Id | None = None
    history_pass: Token | None = None
    # A callback: which attempt this is, of how many; to the agent, whether the
    # caller's page is open (it rings there) or the number must be dialled.
    callback: bool | None = None
    attempt: Count | None = None
    attempts: Count | None = None
    caller_online: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailRoom:
    """The caller may now ``join_room`` ``room`` (``V-<session>``, microphone only) and
    speak for up to ``limit_s`` seconds; then ``request_voicemail`` with ``recorded``."""

    type: ClassVar[str] = "voicemail_room"
    session_id: Id
    room: Id
    limit_s: Seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackOffered:
    """The wait is long: the caller may ask for a callback and keep their place."""

    type: ClassVar[str] = "callback_offered"
    session_id: Id
    reason: CallbackReason = CallbackReason.LONG_WAIT


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackKept:
    """The callback is booked: the caller keeps their place and may close the page."""

    type: ClassVar[str] = "callback_kept"
    session_id: Id


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
    # A consult: the call it is for and who asks (王律师).
    call_session_id: Id | None = None
    from_name: Annotated[str, Text(1, 80)] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackNumber:
    """The full number to call back, sent only to the agent a callback is offered to,
    right after the ``offer`` (which, like every other screen, shows it masked); with
    no ``offer_id``, for the live callback of a desk that came back (a reload)."""

    type: ClassVar[str] = "callback_number"
    session_id: Id
    phone: Annotated[str, Text(3, 32)]
    offer_id: Id | None = None


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsultState:
    """A consult changed: to the requester (ringing, connected, ended) and to the
    colleague (connected, ended). ``room`` is the call's room the colleague may join;
    ``agent_name`` the other agent's name. A hand-over is told by ``connected`` (the
    colleague) and ``ended`` (the requester) of the sessions themselves."""

    type: ClassVar[str] = "consult_state"
    session_id: Id
    consult_id: Id
    state: ConsultPhase
    side: ConsultSide
    category: Category
    room: Id | None = None
    agent_name: Annotated[str, Text(1, 80)] | None = None
    reason: ConsultEndReason | None = None
    channel: Channel | None = None  # to the colleague: the call's (voice, video)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetAgent:
    """A colleague who could take a call (signed in, on duty, speaking its language)."""

    agent_id: Id
    name: Annotated[str, Text(1, 80)]
    free: bool  # available and not ringing: would be rung at once


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetQueue:
    """A queue someone signed in serves (besides the asking agent)."""

    category: Category
    free: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Targets:
    """The answer to ``get_targets``: colleagues by name and queues, for a live call."""

    type: ClassVar[str] = "targets"
    session_id: Id
    agents: tuple[TargetAgent, ...] = ()
    queues: tuple[TargetQueue, ...] = ()
