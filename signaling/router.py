"""The leader's state machine: log records in, engine events through, effects out.

Sans-I/O like the engine it wraps. Nodes append *records* describing what happened on
their connections; the leader feeds each to ``Router.apply`` in log order, which turns
it into routing events (``engine.handle``), keeps the little state the engine does not
(who owns which session, which offer id is open, resume grace timers), and returns
``Effects``: messages to deliver, timers to arm or disarm, outcomes to record. Replaying
the same records gives the same state, which is how a new leader catches up.

Records are the typed ones of ``signaling.records`` (``Attach``, ``Msg``, ``Drop``,
``TimerDue``, ``Gone``, ``Disposed``); a stored log entry is parsed into one once, at
the top of ``apply``. Connection keys are ``a:<agent id>`` and ``c:<caller key>``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rooms.model import RECORDING_LIMIT_S, RoomKind, voicemail_room
from routing import actions as act
from routing import events as ev
from routing.engine import Engine
from routing.errors import NobodyEligible, RoutingError
from routing.ids import AgentId, CallerKey, Language, QueueId, SessionId, TimerKey
from routing.model import AgentProfile, Category, RoutingConfig
from routing.presence import Presence as RoutingPresence
from signaling import protocol as p
from signaling import records as rec
from signaling.errors import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

GRACE_PREFIX = "grace:"
AGENT_GRACE = GRACE_PREFIX + "a:"  # + agent id: a desk dropped in a call
# A callback that reached nobody waits this long before it is queued again.
RETRY_PREFIX = "cbretry:"

_CANCEL_REASONS = {
    # The engine's CancelOffer reasons, in words, mapped onto the protocol's codes.
    "ring timeout": p.CancelReason.TIMEOUT,
    "caller hung up": p.CancelReason.CALLER_LEFT,
    "disconnected": p.CancelReason.AGENT_DISCONNECTED,
    "signed out": p.CancelReason.SIGNED_OUT,
    "agent went on a break": p.CancelReason.ON_BREAK,
}


def _cancel_reason(text: str) -> p.CancelReason:
    if text in _CANCEL_REASONS:
        return _CANCEL_REASONS[text]
    return p.CancelReason.VOICEMAIL if "voicemail" in text else p.CancelReason.OTHER


_CONSULT_LEGS = re.compile(r"(:c\d+)+$")

_CONSULT_END_REASONS = {
    "ended": p.ConsultEndReason.ENDED,
    "call ended": p.ConsultEndReason.CALL_ENDED,
    "agent lost": p.ConsultEndReason.AGENT_LOST,
}


def call_room(session: str) -> str:
    """The media room of a hotline call: one per answered session (leg), except that a
    consult leg (``<id>:c<n>``, routing) is in its call's room, before and after a
    hand-over: one room, one recording."""
    return f"R-{_CONSULT_LEGS.sub('', session)}"


def agent_key(agent: str) -> str:
    return f"a:{agent}"


def _number(caller: object) -> str | None:
    """The keyed hash of a phone number, when a record's caller key is one."""
    return caller if isinstance(caller, str) and caller.startswith("tel:") else None


def _needed(value: str | None) -> str:
    if value is None:
        raise ProtocolError(ErrorCode.MISSING_FIELD, "the node gave no session id")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedCall(act.SessionRecorded):
    """A session's terminal outcome as the router hands it on to be written: the
    engine's ``SessionRecorded`` and what only the router knows of the session, the
    channel the caller came in on and the town they gave (the engine routes neither)."""

    channel: str = p.Channel.WEB_VOICE.value
    town: str | None = None
    # A callback: which attempt this leg was, and why it reached nobody (if it did not).
    callback_attempt: int | None = None
    callback_result: str | None = None


@dataclass
class Effects:
    """What the driver must do after one record."""

    deliveries: list[tuple[str, p.ServerMessage]] = field(default_factory=list)
    start_timers: list[tuple[str, float]] = field(default_factory=list)
    cancel_timers: list[str] = field(default_factory=list)
    outcomes: list[RecordedCall] = field(default_factory=list)
    tickets: list[act.CreateVoicemailTicket] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # abuse limits that refused


@dataclass
class _Session:
    owner: str
    queue: str
    priority: str
    language: str | None
    live: bool = False
    callback: bool = False
    agent: str | None = None
    number: str | None = None  # the keyed hash of the caller's phone number, if given
    channel: str = "web_voice"
    town: str | None = None
    voicemail: bool = False  # granted the voicemail room (``record_voicemail``)
    consult: str | None = None  # the open consult leg of this call
    consultant: str | None = None  # the colleague in it, once they accepted
    display: str | None = None  # the number masked, as agents see it
    attempt: int = 1  # a callback's attempt (``<id>:b<n>`` is attempt n)
    retry_as: str | None = None  # the leg an unreached callback is tried again as

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


TICKET_WINDOW_S = 3600.0
VOICEMAIL_LIMIT_S = RECORDING_LIMIT_S[RoomKind.VOICEMAIL]


def check_config(config: RoutingConfig) -> None:
    """Every queue a configuration names must be one the protocol can speak of.

    Checked once, when the configuration loads, so that no overflow or transfer can
    later name a queue that no message can carry (``ValueError`` lists them all)."""
    known = {c.value for c in Category}
    named = {q.id for q in config.queues}
    named |= {q.overflow_queue for q in config.queues if q.overflow_queue is not None}
    unknown = sorted(str(n) for n in named - known)
    if unknown:
        raise ValueError(
            f"routing configuration names queues the protocol does not know: "
            f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


class Router:
    """Turns log records into engine events and engine actions into effects.

    ``tickets_per_hour`` caps the messages (voicemail tickets) taken from one client
    address in an hour; the count lives here, on the leader, so it holds across
    processes and replays the same."""

    def __init__(
        self,
        engine: Engine,
        *,
        grace_s: float = 30.0,
        tickets_per_hour: int = 30,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.grace_s = grace_s
        self.tickets_per_hour = tickets_per_hour
        self.ticket_times: dict[str, list[float]] = {}
        # agent -> (the session whose disposition ends their wrap-up, its outcome)
        self.awaiting: dict[str, tuple[str, str]] = {}
        # session -> (its caller's connection key, outcome): a message taken, whose
        # caller is told (``ended``) once its ticket is written (``TicketTaken``)
        self.ticket_owners: dict[str, tuple[str, str]] = {}
        self.last_now = 0.0
        self.timers: dict[str, float] = {}
        # Agents whose desk dropped in a call and may come back (their grace timers,
        # kept apart so that the check after every record costs nothing when none is).
        self.away: set[str] = set()
        self.agent_conns: dict[str, str] = {}
        self.profiles: dict[str, dict[str, Any]] = {}
        self.caller_conns: dict[str, str | None] = {}
        self.caller_session: dict[str, str] = {}
        self.sessions: dict[str, _Session] = {}
        self.offers: dict[str, tuple[str, str]] = {}
        self.offer_seq = 0
        # session -> why a callback being ended now did not reach the caller
        self.unreached: dict[str, str] = {}
        if state is not None:
            self._load(state)

    @classmethod
    def new(
        cls, config: RoutingConfig, *, grace_s: float = 30.0, tickets_per_hour: int = 30
    ) -> Router:
        check_config(config)
        return cls(Engine(config), grace_s=grace_s, tickets_per_hour=tickets_per_hour)

    # -- snapshots --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Engine state and router state, JSON-able."""
        return {
            "engine": self.engine.snapshot(),
            "router": {
                "last_now": self.last_now,
                "timers": self.timers,
                "agent_conns": self.agent_conns,
                "profiles": self.profiles,
                "caller_conns": self.caller_conns,
                "caller_session": self.caller_session,
                "sessions": {sid: s.to_dict() for sid, s in self.sessions.items()},
                "offers": {a: list(o) for a, o in self.offers.items()},
                "offer_seq": self.offer_seq,
                "ticket_times": self.ticket_times,
                "awaiting": {a: list(w) for a, w in self.awaiting.items()},
                "ticket_owners": {sid: list(o) for sid, o in self.ticket_owners.items()},
            },
        }

    @classmethod
    def restore(
        cls, snapshot: Mapping[str, Any], *, grace_s: float = 30.0, tickets_per_hour: int = 30
    ) -> Router:
        return cls(
            Engine.restore(dict(snapshot["engine"])),
            grace_s=grace_s,
            tickets_per_hour=tickets_per_hour,
            state=snapshot["router"],
        )

    def _load(self, state: Mapping[str, Any]) -> None:
        self.last_now = float(state["last_now"])
        self.timers = {str(k): float(v) for k, v in state["timers"].items()}
        self.away = {k[len(AGENT_GRACE) :] for k in self.timers if k.startswith(AGENT_GRACE)}
        self.agent_conns = dict(state["agent_conns"])
        self.profiles = dict(state.get("profiles", {}))
        self.caller_conns = dict(state["caller_conns"])
        self.caller_session = dict(state["caller_session"])
        self.sessions = {sid: _Session(**s) for sid, s in state["sessions"].items()}
        self.offers = {a: (o[0], o[1]) for a, o in state["offers"].items()}
        self.offer_seq = int(state["offer_seq"])
        self.awaiting = {
            str(k): (str(v), "answered") if isinstance(v, str) else (str(v[0]), str(v[1]))
            for k, v in state.get("awaiting", {}).items()
        }
        self.ticket_owners = {
            str(k): (str(v[0]), str(v[1])) for k, v in state.get("ticket_owners", {}).items()
        }
        self.ticket_times = {
            str(k): [float(t) for t in v] for k, v in state.get("ticket_times", {}).items()
        }

    # -- records ----------------------------------------------------------------------

    def apply(self, entry: Mapping[str, Any] | rec.Record) -> Effects:
        """Apply one log record (a stored entry is parsed here, once). Never raises for a
        bad record: it is logged and skipped."""
        fx = Effects()
        if isinstance(entry, Mapping):
            try:
                record = rec.parse_record(entry)
            except rec.RecordError as exc:
                log.error("skipping malformed record (%s): %.200r", exc, entry)
                return fx
            except ProtocolError as exc:  # a message this version no longer accepts
                key = str(entry.get("key"))
                fx.deliveries.append((key, p.Error(code=exc.code, detail=exc.detail[:500])))
                return fx
        else:
            record = entry
        key = record.key
        now = max(record.now, self.last_now)
        self.last_now = now
        ref = record.m.type if isinstance(record, rec.Msg) else None
        try:
            match record:
                case rec.Msg():
                    self._on_msg(record, now, fx)
                case rec.Attach():
                    self._on_attach(record, now, fx)
                case rec.Drop():
                    self._on_drop(key, record.conn, now, fx)
                case rec.TimerDue():
                    self._on_timer(key, now, fx)
                case rec.Gone():
                    self._on_gone(list(record.keys), now, fx)
                case rec.Disposed():
                    self._on_disposed(key, record.session, now, fx)
                case rec.TicketTaken():
                    self._on_ticket_taken(record.session, fx)
        except ProtocolError as exc:
            fx.deliveries.append((key, p.Error(code=exc.code, detail=exc.detail[:500], ref=ref)))
        except NobodyEligible as exc:
            code = ErrorCode.NOBODY_ELIGIBLE
            fx.deliveries.append((key, p.Error(code=code, detail=str(exc)[:500], ref=ref)))
        except RoutingError as exc:
            fx.deliveries.append(
                (key, p.Error(code=ErrorCode.BAD_STATE, detail=str(exc)[:500], ref=ref))
            )
        except Exception:
            # A bug must not wedge the leader in a replay loop on a poison record: the
            # engine validates before it changes anything, so skipping is safe.
            log.exception("record failed: %.200r", record)
        self._sign_out_idle_absent(now, fx)
        return fx

    def _busy(self, agent: str) -> bool:
        """In a call (or a consult) or owing its disposition."""
        in_call = self.engine.presence(AgentId(agent)) is RoutingPresence.IN_SESSION
        return in_call or agent in self.awaiting

    def _sign_out_idle_absent(self, now: float, fx: Effects) -> None:
        """A desk away within its grace period whose call ended and was disposed of is
        signed out now, before anything is offered to a socket that is not there."""
        for agent in sorted(self.away):
            if not self._busy(agent):
                self.away.discard(agent)
                self._cancel_timer(AGENT_GRACE + agent, fx)
                self._handle(ev.AgentDisconnected(now=now, agent=AgentId(agent)), fx)

    def _restore_desk(self, agent: str, fx: Effects) -> None:
        """Tell a desk that is back (a reload, a second tab) its presence, its live call
        or consult, and the disposition it still owes."""
        key = agent_key(agent)
        presence = self.engine.presence(AgentId(agent))
        fx.deliveries.append((key, p.PresenceChanged(state=p.Presence(presence.value))))
        for sid, s in self.sessions.items():
            if s.live and s.agent == agent:
                connected = dataclasses.replace(self._connected(sid, agent), caller_ref=s.number)
                fx.deliveries.append((key, self._with_caller_online(connected, s)))
                if s.consult is not None:
                    fx.deliveries.append((key, self._consult_asked(sid, s)))
            elif s.live and s.consultant == agent and s.consult is not None:
                fx.deliveries.append((key, self._consult_joined(sid, s)))
        self._ask_disposition(agent, fx)

    def _handle(self, event: ev.Event, fx: Effects) -> None:
        self._perform(self.engine.handle(event), event.now, fx)

    def _on_attach(self, record: rec.Attach, now: float, fx: Effects) -> None:
        key, conn = record.key, record.conn
        if key.startswith("a:"):
            agent = key[2:]
            if record.profile is None:
                raise ProtocolError(ErrorCode.NOT_ALLOWED, "an agent signs in with a profile")
            self.profiles[agent] = dict(record.profile)
            if agent in self.agent_conns or agent in self.away:
                # A second socket takes over the first, or the desk is back within the
                # grace period: either way it is told where it stands.
                self.agent_conns[agent] = conn
                self.away.discard(agent)
                self._cancel_timer(AGENT_GRACE + agent, fx)
                self._restore_desk(agent, fx)
            else:
                self._sign_in(agent, conn, now, RoutingPresence.BREAK, "signed in", fx)
            return
        self.caller_conns[key] = conn
        self._cancel_timer(GRACE_PREFIX + key, fx)
        sid = self.caller_session.get(key)
        session = self.sessions.get(sid) if sid else None
        if sid and session:
            # A new connection holds no voicemail room (grants are per connection, and
            # the old one left it): a voice message being recorded was given up.
            session.voicemail = False
            if session.live and session.agent:
                fx.deliveries.append((key, self._connected(sid, session.agent)))
            else:
                fx.deliveries.append((key, self._queued(sid, session.queue)))

    def _sign_in(
        self,
        agent: str,
        conn: str,
        now: float,
        presence: RoutingPresence,
        reason: str | None,
        fx: Effects,
    ) -> None:
        profile = AgentProfile.from_dict(self.profiles[agent])
        self._handle(
            ev.AgentSignedIn(now=now, profile=profile, presence=presence, reason=reason), fx
        )
        self.agent_conns[agent] = conn
        self._ask_disposition(agent, fx)  # signed out in wrap-up: it is still owed

    def _ask_disposition(self, agent: str, fx: Effects) -> None:
        if agent in self.awaiting:
            sid, outcome = self.awaiting[agent]
            ended = p.Ended(session_id=sid, outcome=p.Outcome(outcome), disposition=True)
            fx.deliveries.append((agent_key(agent), ended))

    def _on_drop(self, key: str, conn: str, now: float, fx: Effects) -> None:
        if key.startswith("a:"):
            agent = key[2:]
            if self.agent_conns.get(agent) != conn:
                return  # an older connection of an agent who has reconnected
            del self.agent_conns[agent]
            if self._busy(agent):
                # In a call or its wrap-up: the call waits for the desk (a reload, a
                # network blip) as a caller's does for the caller.
                self.away.add(agent)
                self._start_timer(AGENT_GRACE + agent, now + self.grace_s, fx)
            else:  # an idle desk is signed out at once, so offers move on
                self._handle(ev.AgentDisconnected(now=now, agent=AgentId(agent)), fx)
            return
        if self.caller_conns.get(key) != conn:
            return
        self.caller_conns[key] = None
        sid = self.caller_session.get(key)
        session = self.sessions.get(sid) if sid else None
        if session is not None and not session.callback:
            self._start_timer(GRACE_PREFIX + key, now + self.grace_s, fx)
        elif session is None:
            del self.caller_conns[key]

    def _on_disposed(self, key: str, sid: str, now: float, fx: Effects) -> None:
        agent = AgentId(key[2:])
        if self.awaiting.get(agent, ("",))[0] != sid:
            return  # an amendment, or a session that needed none
        del self.awaiting[agent]
        if self.engine.presence(agent) is RoutingPresence.WRAP_UP:
            self._handle(
                ev.AgentStateChanged(now=now, agent=agent, presence=RoutingPresence.AVAILABLE),
                fx,
            )

    def _on_ticket_taken(self, sid: str, fx: Effects) -> None:
        """A message's ticket is written: now its caller is told it was taken."""
        owner = self.ticket_owners.pop(sid, None)
        if owner is not None:
            key, outcome = owner
            fx.deliveries.append((key, p.Ended(session_id=sid, outcome=p.Outcome(outcome))))

    def _on_gone(self, keys: list[str], now: float, fx: Effects) -> None:
        """A process died with these connections: each is dropped as if it had closed."""
        for key in keys:
            conn = (
                self.agent_conns.get(key[2:])
                if key.startswith("a:")
                else self.caller_conns.get(key)
            )
            if conn is not None:
                self._on_drop(key, conn, now, fx)

    def _on_timer(self, key: str, now: float, fx: Effects) -> None:
        if self.timers.pop(key, None) is None:
            return  # cancelled, replaced or already fired (a new leader may fire twice)
        if key.startswith(RETRY_PREFIX):
            self._retry_callback(key[len(RETRY_PREFIX) :], now, fx)
            return
        if not key.startswith(GRACE_PREFIX):
            self._handle(ev.TimerFired(now=now, key=TimerKey(key)), fx)
            return
        if key.startswith(AGENT_GRACE):
            agent = key[len(AGENT_GRACE) :]
            if agent in self.away:  # the desk did not come back
                self.away.discard(agent)
                self._handle(ev.AgentDisconnected(now=now, agent=AgentId(agent)), fx)
            return
        caller = key[len(GRACE_PREFIX) :]
        if self.caller_conns.get(caller) is not None:
            return
        self.caller_conns.pop(caller, None)
        sid = self.caller_session.get(caller)
        session = self.sessions.get(sid) if sid else None
        if sid and session:
            self._end_for_caller(SessionId(sid), session, now, fx)

    def _end_for_caller(self, sid: SessionId, session: _Session, now: float, fx: Effects) -> None:
        if session.live:
            self._handle(ev.SessionEnded(now=now, session=sid), fx)
        else:
            self._handle(ev.SessionAbandoned(now=now, session=sid), fx)

    def _caller_session(self, key: str) -> tuple[SessionId, _Session]:
        sid = self.caller_session.get(key)
        session = self.sessions.get(sid) if sid else None
        if not sid or session is None:
            raise ProtocolError(ErrorCode.BAD_STATE, "you have no session")
        return SessionId(sid), session

    def _on_msg(self, record: rec.Msg, now: float, fx: Effects) -> None:
        msg, key, conn = record.m, record.key, record.conn
        is_agent = key.startswith("a:")
        agent = AgentId(key[2:])
        current = self.agent_conns.get(agent) if is_agent else self.caller_conns.get(key)
        if current != conn and not isinstance(msg, p.SetPresence):
            # The connection was closed or taken over (perhaps on another process)
            # before this message was applied: it no longer speaks for anyone.
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "this connection is closed or replaced")
        match msg:
            case p.JoinQueue() if not is_agent:
                if key in self.caller_session:
                    raise ProtocolError(ErrorCode.BAD_STATE, "already in a session")
                sid = SessionId(_needed(record.sid))
                caller = record.caller
                self.sessions[sid] = _Session(
                    owner=key,
                    queue=msg.category.value,
                    priority=msg.priority.value,
                    language=msg.language,
                    number=_number(caller),
                    channel=(msg.channel or p.Channel.WEB_VOICE).value,
                    town=msg.town,
                    display=record.display,
                )
                self.caller_session[key] = sid
                try:
                    self._handle(
                        ev.SessionQueued(
                            now=now,
                            session=sid,
                            queue=QueueId(msg.category.value),
                            caller=CallerKey(caller) if caller else None,
                            priority=msg.priority.value,
                            language=Language(msg.language),
                            named_agent=AgentId(msg.named_agent) if msg.named_agent else None,
                            display_number=record.display,
                        ),
                        fx,
                    )
                except RoutingError:
                    self.sessions.pop(sid, None)
                    self.caller_session.pop(key, None)
                    raise
                if sid in self.sessions:
                    fx.deliveries.insert(0, (key, self._queued(sid, msg.category.value)))
            case p.LeaveQueue() if not is_agent:
                sid, session = self._caller_session(key)
                if session.live:
                    raise ProtocolError(ErrorCode.BAD_STATE, "the session is live: use end")
                self._handle(ev.SessionAbandoned(now=now, session=sid), fx)
            case p.RequestCallback() if not is_agent:
                sid, session = self._caller_session(key)
                given = _number(record.caller)  # a number given only now
                number = given or session.number
                if number is None:
                    raise ProtocolError(
                        ErrorCode.MISSING_FIELD, "phone: a callback needs your phone number"
                    )
                if session.live:
                    raise ProtocolError(ErrorCode.BAD_STATE, "the session is live")
                if any(
                    other.callback and other.number == number and other_sid != sid
                    for other_sid, other in self.sessions.items()
                ):
                    fx.refusals.append("callback_per_number")
                    raise ProtocolError(
                        ErrorCode.BAD_STATE, "a callback to this number is already waiting"
                    )
                display = record.display
                self._handle(
                    ev.CallbackRequested(
                        now=now,
                        session=sid,
                        caller=CallerKey(given) if given else None,
                        display_number=str(display) if given and display else None,
                    ),
                    fx,
                )
                session.callback = True
                session.number = number
                if given and display:
                    session.display = str(display)
                fx.deliveries.append((key, p.CallbackKept(session_id=sid)))
            case p.RecordVoicemail() if not is_agent:
                sid, session = self._caller_session(key)
                if session.live:
                    raise ProtocolError(ErrorCode.BAD_STATE, "the session is live")
                if session.voicemail:
                    raise ProtocolError(ErrorCode.BAD_STATE, "a voice message is being recorded")
                self._check_tickets(record, now, fx)
                session.voicemail = True
                room = voicemail_room(sid)
                fx.deliveries.append(
                    (key, p.VoicemailRoom(session_id=sid, room=room, limit_s=VOICEMAIL_LIMIT_S))
                )
            case p.CancelVoicemail() if not is_agent:
                sid, session = self._caller_session(key)
                if not session.voicemail:
                    raise ProtocolError(ErrorCode.BAD_STATE, "no voice message is being recorded")
                session.voicemail = False
            case p.RequestVoicemail() if not is_agent:
                sid, session = self._caller_session(key)
                if msg.recorded and not session.voicemail:
                    raise ProtocolError(ErrorCode.BAD_STATE, "no voice message was recorded")
                times = self._check_tickets(record, now, fx)
                self._handle(ev.VoicemailRequested(now=now, session=sid), fx)
                if times is not None:
                    times.append(now)
                # The ticket carries what the caller wrote (a voice message alone: none;
                # its recording is the session's, recordings.store.voicemail_recordings).
                fx.tickets = [
                    dataclasses.replace(t, reason=msg.message or "") if t.session == sid else t
                    for t in fx.tickets
                ]
            case p.End() if not is_agent:
                sid, session = self._caller_session(key)
                self._end_for_caller(sid, session, now, fx)
            case p.End(session_id=sid_text) if is_agent:
                live = self.sessions.get(sid_text or "")
                if sid_text is None or live is None or live.agent != agent:
                    raise ProtocolError(ErrorCode.BAD_STATE, "not your live session")
                self._handle(ev.SessionEnded(now=now, session=SessionId(sid_text)), fx)
            case p.CallbackUnreached() if is_agent:
                self._unreached(agent, msg, now, fx)
            case p.SetPresence() if is_agent:
                if msg.state is p.PresenceRequest.AVAILABLE and agent in self.awaiting:
                    # Wrap-up lasts until the last call's disposition is recorded.
                    raise ProtocolError(
                        ErrorCode.BAD_STATE,
                        f"record the disposition of {self.awaiting[agent][0]} first",
                    )
                if self.agent_conns.get(agent) != conn:
                    # Signed out earlier on this socket: sign in again with the profile
                    # the socket's hello carried.
                    if agent in self.agent_conns or agent not in self.profiles:
                        raise ProtocolError(ErrorCode.BAD_STATE, "not signed in here")
                    if msg.state is not p.PresenceRequest.OFFLINE:
                        self._sign_in(
                            agent, conn, now, RoutingPresence(msg.state.value), msg.reason, fx
                        )
                    return
                if msg.state is p.PresenceRequest.OFFLINE:
                    self._handle(ev.AgentSignedOut(now=now, agent=agent), fx)
                    del self.agent_conns[agent]
                else:
                    self._handle(
                        ev.AgentStateChanged(
                            now=now,
                            agent=agent,
                            presence=RoutingPresence(msg.state.value),
                            reason=msg.reason,
                        ),
                        fx,
                    )
            case p.Accept() | p.Reject() if is_agent:
                open_offer = self.offers.get(agent)
                if open_offer is None or open_offer[0] != msg.offer_id:
                    raise ProtocolError(ErrorCode.BAD_STATE, "no such open offer")
                sid = SessionId(open_offer[1])
                if isinstance(msg, p.Accept):
                    self._handle(ev.OfferAccepted(now=now, agent=agent, session=sid), fx)
                else:
                    self.offers.pop(agent, None)
                    self._handle(ev.OfferRejected(now=now, agent=agent, session=sid), fx)
            case p.Transfer() if is_agent:
                old = self.sessions.get(msg.session_id)
                if old is None or old.agent != agent:
                    raise ProtocolError(ErrorCode.BAD_STATE, "not your live session")
                new = SessionId(_needed(record.sid))
                self.sessions[new] = _Session(
                    owner=old.owner,
                    queue=msg.to_queue.value if msg.to_queue else old.queue,
                    priority=old.priority,
                    language=old.language,
                    # the same caller, on the same channel, from the same place
                    number=old.number,
                    channel=old.channel,
                    town=old.town,
                )
                try:
                    self._handle(
                        ev.TransferRequested(
                            now=now,
                            session=SessionId(msg.session_id),
                            new_session=new,
                            to_queue=QueueId(msg.to_queue.value) if msg.to_queue else None,
                            to_agent=AgentId(msg.to_agent) if msg.to_agent else None,
                        ),
                        fx,
                    )
                except RoutingError:
                    self.sessions.pop(new, None)
                    raise
            case p.Consult() if is_agent:
                sid = self._agents_call(msg.session_id, agent)
                if msg.to_agent == agent:
                    raise ProtocolError(
                        ErrorCode.BAD_FIELD, "to_agent: you cannot consult yourself"
                    )
                self._handle(
                    ev.ConsultRequested(
                        now=now,
                        session=sid,
                        to_queue=QueueId(msg.to_queue.value) if msg.to_queue else None,
                        to_agent=AgentId(msg.to_agent) if msg.to_agent else None,
                    ),
                    fx,
                )
            case p.EndConsult() if is_agent:
                call = self.sessions.get(msg.session_id)
                if call is None or agent not in (call.agent, call.consultant):
                    raise ProtocolError(ErrorCode.BAD_STATE, "not your call or consult")
                self._handle(ev.ConsultEnded(now=now, session=SessionId(msg.session_id)), fx)
            case p.HandOver() if is_agent:
                sid = self._agents_call(msg.session_id, agent)
                self._handle(ev.HandOverRequested(now=now, session=sid), fx)
            case p.GetTargets() if is_agent:
                sid = self._agents_call(msg.session_id, agent)
                agents, queues = self.engine.targets(sid)
                targets = p.Targets(
                    session_id=sid,
                    agents=tuple(
                        p.TargetAgent(agent_id=a, name=self._name(a) or a, free=free)
                        for a, free in agents
                    ),
                    queues=tuple(
                        p.TargetQueue(category=Category(q), free=free) for q, free in queues
                    ),
                )
                fx.deliveries.append((key, targets))
            case _:
                raise ProtocolError(ErrorCode.NOT_ALLOWED, f"{msg.type} is not for your role")

    def _check_tickets(self, record: rec.Msg, now: float, fx: Effects) -> list[float] | None:
        """The address's ticket times this hour; ``rate_limited`` when they are spent."""
        address = record.addr
        times = self._ticket_times(str(address), now) if address else None
        if times is not None and len(times) >= self.tickets_per_hour:
            fx.refusals.append("tickets_per_address")
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                "too many messages from your address this hour; please call later",
            )
        return times

    def _agents_call(self, sid: str, agent: str) -> SessionId:
        """``sid`` if it is ``agent``'s live call, else ``bad_state``."""
        live = self.sessions.get(sid)
        if live is None or live.agent != agent or not live.live:
            raise ProtocolError(ErrorCode.BAD_STATE, "not your live session")
        return SessionId(sid)

    def _name(self, agent: str | None) -> str | None:
        name = self.profiles.get(agent, {}).get("name") if agent else None
        return str(name)[:80] if name else None

    def _unreached(self, agent: str, msg: p.CallbackUnreached, now: float, fx: Effects) -> None:
        """A callback that reached nobody: recorded, and with ``retry`` queued again (as
        ``<id>:b<n+1>``) once the queue's retry delay has passed."""
        live = self.sessions[self._agents_call(msg.session_id, agent)]
        if not live.callback:
            raise ProtocolError(ErrorCode.BAD_STATE, "only a callback can be unreached")
        queue = self.engine.config.queue(QueueId(live.queue))
        attempts = queue.callback_attempts if queue is not None else 1
        if msg.retry and live.attempt >= attempts:
            raise ProtocolError(
                ErrorCode.BAD_STATE, f"that was the last of {attempts} attempts: close it"
            )
        if msg.retry:
            base = msg.session_id.partition(":b")[0]
            live.retry_as = f"{base}:b{live.attempt + 1}"
        self.unreached[msg.session_id] = msg.result.value
        try:
            self._handle(
                ev.SessionEnded(now=now, session=SessionId(msg.session_id), reached=False), fx
            )
        finally:
            live.retry_as = None
            self.unreached.pop(msg.session_id, None)

    def _retry_callback(self, sid: str, now: float, fx: Effects) -> None:
        """The retry delay of an unreached callback is over: it waits in line again."""
        session = self.sessions.get(sid)
        if session is None:
            return
        try:
            self._handle(
                ev.SessionQueued(
                    now=now,
                    session=SessionId(sid),
                    queue=QueueId(session.queue),
                    caller=CallerKey(session.number) if session.number else None,
                    priority=session.priority,
                    language=Language(session.language) if session.language else None,
                    display_number=session.display,
                    callback=True,
                ),
                fx,
            )
        except RoutingError:
            log.exception("a callback could not be queued again: %s", sid)
            self.sessions.pop(sid, None)
            if self.caller_session.get(session.owner) == sid:
                del self.caller_session[session.owner]

    def _ticket_times(self, address: str, now: float) -> list[float]:
        """Ticket times of ``address`` within the last hour (older ones forgotten)."""
        stale = now - TICKET_WINDOW_S
        for other in [a for a, ts in self.ticket_times.items() if not ts or ts[-1] <= stale]:
            del self.ticket_times[other]
        times = self.ticket_times.setdefault(address, [])
        times[:] = [t for t in times if t > now - TICKET_WINDOW_S]
        return times

    # -- actions ----------------------------------------------------------------------

    def _connected(self, sid: str, agent: str) -> p.Connected:
        session = self.sessions.get(sid)
        return p.Connected(
            session_id=sid,
            agent_id=agent,
            room=call_room(sid),
            agent_name=self._name(agent),
            channel=p.Channel(session.channel) if session else None,
            category=Category(session.queue) if session else None,
            town=session.town if session else None,
            callback=True if session is not None and session.callback else None,
            attempt=session.attempt if session is not None and session.callback else None,
            attempts=self._attempts(session) if session is not None and session.callback else None,
        )

    def _attempts(self, session: _Session) -> int:
        queue = self.engine.config.queue(QueueId(session.queue))
        return queue.callback_attempts if queue is not None else 1

    def _queued(self, sid: str, queue: str, reason: p.QueuedReason | None = None) -> p.Queued:
        return p.Queued(session_id=sid, category=Category(queue), reason=reason)

    def _owner(self, sid: str) -> str | None:
        session = self.sessions.get(sid)
        return session.owner if session else None

    def _start_timer(self, key: str, at: float, fx: Effects) -> None:
        self.timers[key] = at
        fx.start_timers.append((key, at))

    def _cancel_timer(self, key: str, fx: Effects) -> None:
        if self.timers.pop(key, None) is not None:
            fx.cancel_timers.append(key)

    def _perform(self, actions: list[act.Action], now: float, fx: Effects) -> None:
        """Carry out every action of one engine step. The engine has already changed, so
        one action that fails must not stop the others (it is logged, as a bug)."""
        for action in actions:
            try:
                self._perform_one(action, now, fx)
            except Exception:
                log.exception("carrying out %s failed", action.kind)

    def _new_offer(self, action: act.OfferSession) -> str:
        """The id of a new offer of ``action.session`` to its agent, now the open one."""
        self.offer_seq += 1
        offer_id = f"{action.session}.{self.offer_seq}"
        self.offers[action.agent] = (offer_id, action.session)
        return offer_id

    def _perform_one(self, action: act.Action, now: float, fx: Effects) -> None:
        match action:
            case act.OfferSession() if action.consult_of is not None:
                offer_id = self._new_offer(action)
                call = self.sessions[action.consult_of]
                fx.deliveries.append(
                    (
                        agent_key(action.agent),
                        p.Offer(
                            offer_id=offer_id,
                            session_id=action.session,
                            category=Category(call.queue),
                            priority=action.priority,
                            kind=p.OfferKind.CONSULT,
                            expires_in_s=max(0.0, action.expires_at - now),
                            waited_s=max(0.0, action.waited_s),
                            language=call.language,
                            channel=p.Channel(call.channel),
                            call_session_id=action.consult_of,
                            from_name=self._name(call.agent),
                        ),
                    )
                )
            case act.ConsultChanged():
                self._consult_changed(action, fx)
            case act.OfferSession():
                offer_id = self._new_offer(action)
                session = self.sessions.get(action.session)
                fx.deliveries.append(
                    (
                        agent_key(action.agent),
                        p.Offer(
                            offer_id=offer_id,
                            session_id=action.session,
                            category=Category(action.queue),
                            priority=action.priority,
                            kind=p.OfferKind.CALLBACK
                            if action.callback_number
                            else p.OfferKind.CALL,
                            expires_in_s=max(0.0, action.expires_at - now),
                            waited_s=max(0.0, action.waited_s),
                            language=session.language if session else None,
                            phone=action.callback_number,
                            channel=p.Channel(session.channel) if session else None,
                            town=session.town if session else None,
                            caller_ref=session.number if session else None,
                        ),
                    )
                )
            case act.CancelOffer():
                offer = self.offers.get(action.agent)
                offer_id = f"{action.session}.0"
                if offer is not None and offer[1] == action.session:
                    offer_id = offer[0]
                    del self.offers[action.agent]
                fx.deliveries.append(
                    (
                        agent_key(action.agent),
                        p.OfferCancelled(
                            offer_id=offer_id,
                            session_id=action.session,
                            reason=_cancel_reason(action.reason),
                        ),
                    )
                )
            case act.ConnectSession():
                self.offers.pop(action.agent, None)
                connected = self._connected(action.session, action.agent)
                session = self.sessions.get(action.session)
                to_agent = self._with_caller_online(connected, session)
                fx.deliveries.append((agent_key(action.agent), to_agent))
                if session is not None:
                    session.live = True
                    session.agent = action.agent
                    fx.deliveries.append((session.owner, connected))
            case act.StartTimer():
                self._start_timer(action.key, action.at, fx)
            case act.CancelTimer():
                self._cancel_timer(action.key, fx)
            case act.TellPosition():
                owner = self._owner(action.session)
                if owner is not None:
                    fx.deliveries.append(
                        (
                            owner,
                            p.Position(
                                session_id=action.session,
                                position=max(0, action.position),
                                estimated_wait_s=None
                                if action.estimated_wait_s is None
                                else max(0.0, action.estimated_wait_s),
                            ),
                        )
                    )
            case act.OfferCallback():
                owner = self._owner(action.session)
                if owner is not None:
                    offered = p.CallbackOffered(
                        session_id=action.session, reason=p.CallbackReason(action.reason)
                    )
                    fx.deliveries.append((owner, offered))
            case act.CreateVoicemailTicket():
                fx.tickets.append(action)
            case act.SessionMoved():
                session = self.sessions.get(action.session)
                if session is not None:
                    session.queue = action.to_queue
                    fx.deliveries.append(
                        (session.owner, self._queued(action.session, action.to_queue))
                    )
            case act.AgentPresenceChanged():
                fx.deliveries.append(
                    (
                        agent_key(action.agent),
                        p.PresenceChanged(
                            state=p.Presence(action.presence.value),
                            reason=action.reason[:200] if action.reason else None,
                        ),
                    )
                )
            case act.SessionRecorded():
                self._recorded(action, fx)
            case _:
                log.warning("unhandled action %s", action.kind)

    def _with_caller_online(self, connected: p.Connected, session: _Session | None) -> p.Connected:
        """To the agent of a callback: whether the caller's page will ring."""
        if session is None or not session.callback:
            return connected
        online = self.caller_conns.get(session.owner) is not None
        return dataclasses.replace(connected, caller_online=online)

    def _consult_asked(self, sid: str, call: _Session) -> p.ConsultState:
        """To the agent who asked for the consult of ``call``: ringing, or connected with
        the colleague's name."""
        assert call.consult is not None
        return p.ConsultState(
            session_id=sid,
            consult_id=call.consult,
            state=p.ConsultPhase.CONNECTED if call.consultant else p.ConsultPhase.RINGING,
            side=p.ConsultSide.REQUESTER,
            category=Category(call.queue),
            agent_name=self._name(call.consultant) if call.consultant else None,
        )

    def _consult_joined(self, sid: str, call: _Session) -> p.ConsultState:
        """To the colleague in the consult of ``call``: the room to join, who asked, how."""
        assert call.consult is not None
        return p.ConsultState(
            session_id=sid,
            consult_id=call.consult,
            state=p.ConsultPhase.CONNECTED,
            side=p.ConsultSide.CONSULTANT,
            category=Category(call.queue),
            room=call_room(sid),
            agent_name=self._name(call.agent),
            channel=p.Channel(call.channel),
        )

    def _consult_changed(self, action: act.ConsultChanged, fx: Effects) -> None:
        """Tell both agents of a consult where it stands; a hand-over makes the consult
        leg the caller's session, in the same room (``connected`` to both)."""
        call = self.sessions[action.session]
        sid, cid = action.session, action.consult
        category = Category(call.queue)
        requester, consultant = action.requester, action.consultant
        state = action.state

        def send(to: str | None, msg: p.ConsultState) -> None:
            if to is not None:
                fx.deliveries.append((agent_key(to), msg))

        def tell(to: str | None, phase: p.ConsultPhase, side: p.ConsultSide, **kw: Any) -> None:
            send(
                to,
                p.ConsultState(
                    session_id=sid, consult_id=cid, state=phase, side=side, category=category, **kw
                ),
            )

        if state is act.ConsultState.RINGING:
            call.consult = cid
            send(requester, self._consult_asked(sid, call))
        elif state is act.ConsultState.CONNECTED:
            self.offers.pop(consultant or "", None)
            call.consultant = consultant
            send(consultant, self._consult_joined(sid, call))
            send(requester, self._consult_asked(sid, call))
        elif state is act.ConsultState.ENDED:
            call.consult = call.consultant = None
            reason = _CONSULT_END_REASONS.get(action.reason or "", p.ConsultEndReason.ENDED)
            tell(requester, p.ConsultPhase.ENDED, p.ConsultSide.REQUESTER, reason=reason)
            tell(
                consultant,
                p.ConsultPhase.ENDED,
                p.ConsultSide.CONSULTANT,
                room=call_room(sid),
                reason=reason,
            )
        else:  # HANDED_OVER: the session's own SessionRecorded (transferred) follows
            assert consultant is not None
            call.consult = call.consultant = None
            self.sessions[cid] = dataclasses.replace(
                call, queue=action.queue, live=True, agent=consultant
            )
            if self.caller_session.get(call.owner) == sid:
                self.caller_session[call.owner] = cid
            connected = self._connected(cid, consultant)
            fx.deliveries.append((agent_key(consultant), connected))
            fx.deliveries.append((call.owner, connected))

    def _recorded(self, action: act.SessionRecorded, fx: Effects) -> None:
        session = self.sessions.pop(action.session, None)
        fields = {f.name: getattr(action, f.name) for f in dataclasses.fields(action)}
        if session is None:  # a session the router does not hold: the defaults
            fx.outcomes.append(RecordedCall(**fields))
        else:
            fx.outcomes.append(
                RecordedCall(
                    **fields,
                    channel=session.channel,
                    town=session.town,
                    callback_attempt=session.attempt if session.callback else None,
                    callback_result=self.unreached.get(action.session),
                )
            )
        outcome = p.Outcome(action.outcome.value)
        if action.agent is not None and outcome in (
            p.Outcome.ANSWERED,
            p.Outcome.TRANSFERRED,
            p.Outcome.CALLBACK_DONE,
            p.Outcome.CALLBACK_FAILED,
        ):
            queue = self.engine.config.queue(action.queue)
            # An unreached callback needs no disposition: its result is the record.
            needed = (
                queue is not None
                and queue.wrap_up_s is None
                and outcome is not p.Outcome.CALLBACK_FAILED
            )
            if needed:
                self.awaiting[action.agent] = (action.session, outcome.value)
            ended = p.Ended(session_id=action.session, outcome=outcome, disposition=needed or None)
            fx.deliveries.append((agent_key(action.agent), ended))
        if session is None:
            return
        owner = session.owner
        new: str | None = action.transferred_to
        if outcome is p.Outcome.CALLBACK_FAILED and session.retry_as is not None:
            retry = session.retry_as
            self.sessions[retry] = dataclasses.replace(
                session, live=False, agent=None, attempt=session.attempt + 1, retry_as=None
            )
            queue = self.engine.config.queue(action.queue)
            delay = queue.callback_retry_s if queue is not None else 0.0
            self._start_timer(RETRY_PREFIX + retry, action.ended_at + delay, fx)
            new = retry
        elif outcome is p.Outcome.INTERRUPTED and new is not None:
            # The agent was lost mid-call; the engine goes on with a new session at the
            # head of the line, which the caller is told of.
            self.sessions[new] = _Session(
                owner=owner,
                queue=action.queue,
                priority=session.priority,
                language=session.language,
                callback=session.callback,
                number=session.number,
                channel=session.channel,
                town=session.town,
            )
        if new is not None and self.caller_session.get(owner) == new:
            return  # handed over within the call: the caller was told ``connected``
        if self.caller_session.get(owner) == action.session:
            if new is not None and new in self.sessions:
                self.caller_session[owner] = new
                reason = {
                    p.Outcome.INTERRUPTED: p.QueuedReason.AGENT_LOST,
                    p.Outcome.CALLBACK_FAILED: p.QueuedReason.CALLBACK_RETRY,
                }.get(outcome, p.QueuedReason.TRANSFERRED)
                queued = self._queued(new, self.sessions[new].queue, reason)
                fx.deliveries.append((owner, queued))
                return
            del self.caller_session[owner]
            self._cancel_timer(GRACE_PREFIX + owner, fx)
            if self.caller_conns.get(owner, "") is None:
                del self.caller_conns[owner]
        if any(t.session == action.session for t in fx.tickets):
            # A message taken: its caller is told once the ticket exists (TicketTaken).
            self.ticket_owners[action.session] = (owner, outcome.value)
            return
        answered = outcome in (p.Outcome.ANSWERED, p.Outcome.CALLBACK_DONE)
        fx.deliveries.append(
            (owner, p.Ended(session_id=action.session, outcome=outcome, survey=answered or None))
        )
