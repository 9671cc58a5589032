"""Events the driver feeds to :meth:`routing.engine.Engine.handle`.

Every event is a frozen dataclass carrying ``now`` (seconds since the epoch, from the
driver's clock: the engine never reads a clock). ``to_dict()`` gives a JSON-able dict
tagged by ``kind``; :func:`event_from_dict` turns it back, so the driver can append
events to a Redis Stream and replay them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from routing import _codec
from routing.errors import SerializationError
from routing.ids import AgentId, CallerKey, Language, QueueId, SessionId, TimerKey
from routing.model import AgentProfile
from routing.presence import Presence


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """Base of all events."""

    kind: ClassVar[str] = ""
    now: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict tagged by ``kind``."""
        data: dict[str, Any] = _codec.to_jsonable(self)
        return {"kind": self.kind, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild any event from :meth:`to_dict` output (dispatching on ``kind``)."""
        return event_from_dict(data)


@dataclasses.dataclass(frozen=True, slots=True)
class SessionQueued(Event):
    """A caller (voice or video) joins a queue.

    A caller whose ``caller`` key abandoned the same queue less than
    ``abandon_return_s`` ago gets the old place back (original arrival and priority).
    ``named_agent`` asks for one agent; after the queue's ``named_agent_fallback_s``
    any eligible agent may take it.
    """

    kind: ClassVar[str] = "session_queued"
    session: SessionId
    queue: QueueId
    caller: CallerKey | None = None
    priority: str = "ordinary"
    language: Language | None = None
    named_agent: AgentId | None = None
    # What an agent sees when the session is a callback ("138****5678").
    display_number: str | None = None
    # Queued as a callback from the start (a callback tried again): needs ``caller``.
    callback: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class CallerReturned(Event):
    """A caller who hung up calls again; like SessionQueued, but says so explicitly.

    If the abandoned place is still held it is restored; otherwise the caller is
    queued afresh in ``queue``.
    """

    kind: ClassVar[str] = "caller_returned"
    session: SessionId
    queue: QueueId
    caller: CallerKey
    priority: str = "ordinary"
    language: Language | None = None
    display_number: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SessionAbandoned(Event):
    """The caller hung up (or closed the page) before being answered."""

    kind: ClassVar[str] = "session_abandoned"
    session: SessionId


@dataclasses.dataclass(frozen=True, slots=True)
class SessionEnded(Event):
    """An answered session ended (either side hung up).

    ``reached=False`` ends a callback whose caller could not be reached (no answer,
    busy, a wrong number): recorded ``callback_failed``, with no talk time and no wrap-up.
    """

    kind: ClassVar[str] = "session_ended"
    session: SessionId
    reached: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackRequested(Event):
    """The caller, offered a callback, took it: the session keeps its place, caller hangs up."""

    kind: ClassVar[str] = "callback_requested"
    session: SessionId
    # The number to call back, when the caller gives it only now (else the one given
    # on arrival): its key and the masked form the agent sees.
    caller: CallerKey | None = None
    display_number: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class VoicemailRequested(Event):
    """The caller chose to leave a message (a ticket answered by a lawyer next day)."""

    kind: ClassVar[str] = "voicemail_requested"
    session: SessionId


@dataclasses.dataclass(frozen=True, slots=True)
class AgentSignedIn(Event):
    """An agent signs in, available or on a break."""

    kind: ClassVar[str] = "agent_signed_in"
    profile: AgentProfile
    presence: Presence = Presence.AVAILABLE
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class AgentSignedOut(Event):
    """An agent signs out; an open offer moves on, a live session goes back to the head."""

    kind: ClassVar[str] = "agent_signed_out"
    agent: AgentId


@dataclasses.dataclass(frozen=True, slots=True)
class AgentDisconnected(Event):
    """An agent's connection dropped; handled like a sign-out."""

    kind: ClassVar[str] = "agent_disconnected"
    agent: AgentId


@dataclasses.dataclass(frozen=True, slots=True)
class AgentStateChanged(Event):
    """An agent asks for AVAILABLE or BREAK (with a reason)."""

    kind: ClassVar[str] = "agent_state_changed"
    agent: AgentId
    presence: Presence
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class OfferAccepted(Event):
    """The agent accepted the offered session: it is now answered."""

    kind: ClassVar[str] = "offer_accepted"
    agent: AgentId
    session: SessionId


@dataclasses.dataclass(frozen=True, slots=True)
class OfferRejected(Event):
    """The agent declined the offered session: it goes to the next agent."""

    kind: ClassVar[str] = "offer_rejected"
    agent: AgentId
    session: SessionId


@dataclasses.dataclass(frozen=True, slots=True)
class TimerFired(Event):
    """A timer the engine asked for with ``StartTimer`` is due. Stale keys are ignored."""

    kind: ClassVar[str] = "timer_fired"
    key: TimerKey


@dataclasses.dataclass(frozen=True, slots=True)
class TransferRequested(Event):
    """Blind transfer of a live session to a queue and/or a named agent.

    The current leg ends (recorded as ``transferred``) and the caller waits again as
    ``new_session``, keeping the priority class; the wait counts afresh. With only
    ``to_agent``, the new session waits in the same queue for that agent.
    """

    kind: ClassVar[str] = "transfer_requested"
    session: SessionId
    new_session: SessionId
    to_queue: QueueId | None = None
    to_agent: AgentId | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ConsultRequested(Event):
    """The agent of a live session asks a second agent into the call (warm transfer).

    Exactly one of ``to_agent`` (a named colleague) or ``to_queue`` (anyone serving it:
    an interpreter, a mediator). The engine opens a consult leg ``<session>:c<n>`` that
    is offered like a session but ahead of every caller, never overflows, falls back or
    goes to voicemail, and ends with the call.
    """

    kind: ClassVar[str] = "consult_requested"
    session: SessionId
    to_queue: QueueId | None = None
    to_agent: AgentId | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ConsultEnded(Event):
    """The open consult of live ``session`` ends: withdrawn while it rings, or the
    consulted agent leaves the call (and is available again)."""

    kind: ClassVar[str] = "consult_ended"
    session: SessionId


@dataclasses.dataclass(frozen=True, slots=True)
class HandOverRequested(Event):
    """The agent of ``session`` hands the call to the consulted agent, who has joined:
    the session's leg ends ``transferred`` and the consult leg goes on as the call."""

    kind: ClassVar[str] = "hand_over_requested"
    session: SessionId


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        SessionQueued,
        CallerReturned,
        SessionAbandoned,
        SessionEnded,
        CallbackRequested,
        VoicemailRequested,
        AgentSignedIn,
        AgentSignedOut,
        AgentDisconnected,
        AgentStateChanged,
        OfferAccepted,
        OfferRejected,
        TimerFired,
        TransferRequested,
        ConsultRequested,
        ConsultEnded,
        HandOverRequested,
    )
}


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Rebuild an event from its ``to_dict()`` form."""
    cls = EVENT_TYPES.get(str(data.get("kind")))
    if cls is None:
        raise SerializationError(f"unknown event kind {data.get('kind')!r}")
    event: Event = _codec.build(cls, data)
    return event
