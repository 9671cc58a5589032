"""The routing engine: a deterministic state machine, ``handle(event) -> list[Action]``.

It never reads a clock: ``now`` comes in every event, and when the engine needs to act
later it returns ``StartTimer(key, at)`` and waits for ``TimerFired``. It is
event-driven: an agent who becomes free is offered the best waiting session, and a
session that becomes eligible is offered to the best free agent, within the same
``handle`` call. Given the same configuration and the same ordered events it returns
the same actions, which is how the driver rebuilds it after a crash.

Choosing, in brief (docs/routing.md has the full rules):

* a session is eligible for an agent when the agent has the queue's skill at the
  minimum proficiency, speaks the session's language, is on shift, the agent's tier
  for the queue has opened for the session's wait, the session is not waiting for a
  named agent, and the agent has not just rejected or missed it;
* among eligible sessions of one queue: higher priority level first, then oldest;
  across the agent's queues: higher level first, then the longest wait times the
  queue's weight;
* among free eligible agents: lowest open tier first, then the queue's agent choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from routing import rota
from routing._core import Actions, Core
from routing._state import (
    AgentRec,
    QueueRec,
    SessionRec,
    SessionState,
)
from routing.actions import (
    OFF_DUTY,
    Action,
    CancelOffer,
    ConnectSession,
    ConsultChanged,
    ConsultState,
    CreateVoicemailTicket,
    OfferCallback,
    Outcome,
    SessionMoved,
    TellPosition,
)
from routing.errors import (
    DuplicateSession,
    InvalidRequest,
    NobodyEligible,
    StaleOffer,
)
from routing.events import (
    AgentDisconnected,
    AgentSignedIn,
    AgentSignedOut,
    AgentStateChanged,
    CallbackRequested,
    CallerReturned,
    ConsultEnded,
    ConsultRequested,
    Event,
    HandOverRequested,
    OfferAccepted,
    OfferRejected,
    SessionAbandoned,
    SessionEnded,
    SessionQueued,
    TimerFired,
    TransferRequested,
    VoicemailRequested,
)
from routing.ids import AgentId, CallerKey, QueueId, SessionId, TimerKey
from routing.model import AgentProfile, LongWaitAction, RoutingConfig
from routing.presence import Presence, check_transition

_AHT_ALPHA = 0.1  # weight of the newest handle time in the moving average
_MISSED_OFFERS = "missed offers"
# A consult leg is offered before any caller: the caller is already being served and
# is waiting on it (priority levels of callers are small numbers).
CONSULT_LEVEL = 1_000_000


class Engine(Core):
    """The ACD. Feed it events in order; carry out the actions it returns."""

    def __init__(self, config: RoutingConfig) -> None:
        super().__init__(config)
        self._handlers: dict[type[Event], Callable[[Any, Actions], None]] = {
            SessionQueued: self._on_queued,
            CallerReturned: self._on_queued,
            SessionAbandoned: self._on_abandoned,
            SessionEnded: self._on_ended,
            CallbackRequested: self._on_callback_requested,
            VoicemailRequested: self._on_voicemail_requested,
            AgentSignedIn: self._on_signed_in,
            AgentSignedOut: self._on_signed_out,
            AgentDisconnected: self._on_signed_out,
            AgentStateChanged: self._on_state_changed,
            OfferAccepted: self._on_accepted,
            OfferRejected: self._on_rejected,
            TimerFired: self._on_timer,
            TransferRequested: self._on_transfer,
            ConsultRequested: self._on_consult,
            ConsultEnded: self._on_consult_ended,
            HandOverRequested: self._on_hand_over,
        }
        self._timer_handlers: dict[str, Callable[[str, float, Actions], None]] = {
            "ring": self._timer_ring,
            "wrap": self._timer_wrap,
            "tier": self._timer_tier,
            "idle": self._timer_idle,
            "wait": self._timer_wait,
            "ovf": self._timer_overflow,
            "named": self._timer_named,
            "retry": self._timer_retry,
            "cbx": self._timer_callback_expired,
            "pos": self._timer_position,
            "shift": self._timer_shift,
        }

    # ------------------------------------------------------------------ public API

    def handle(self, event: Event) -> list[Action]:
        """Apply one event and return what the driver must do, in order.

        Raises a :class:`~routing.errors.RoutingError` subclass, having changed nothing,
        when the event is invalid in the current state.
        """
        handler = self._handlers.get(type(event))
        if handler is None:
            raise InvalidRequest(f"not a routing event: {type(event).__name__}")
        actions: Actions = []
        handler(event, actions)
        while self._emptied:
            # A tier emptied (skip_empty_tiers): later tiers opened early for everyone.
            qid = min(self._emptied)
            self._emptied.discard(qid)
            self._redispatch_queue(self._queues[qid], event.now, actions)
        return actions

    @property
    def pending_timers(self) -> dict[TimerKey, float]:
        """Timers the engine has asked for and not cancelled (a copy)."""
        return dict(self._timers)

    def presence(self, agent: AgentId) -> Presence:
        """An agent's presence (OFFLINE when not signed in)."""
        rec = self._agents.get(agent)
        return Presence.OFFLINE if rec is None else rec.presence

    def waiting(self, queue: QueueId) -> list[SessionId]:
        """Sessions in line in ``queue`` (waiting or being offered), in priority order."""
        q = self._queue(queue)
        return sorted(q.members, key=lambda sid: self._sessions[sid].key())

    def targets(
        self, session: SessionId
    ) -> tuple[list[tuple[AgentId, bool]], list[tuple[QueueId, bool]]]:
        """Where live call ``session`` could be transferred or a colleague consulted from:
        the agents besides its own who are signed in, on duty and speak its language,
        each with whether it is free now (in sign-in order), and the queues they serve,
        each with whether one of them is free. The same rule as the refusals."""
        s = self._live_call(session)
        agents: list[tuple[AgentId, bool]] = []
        queues: dict[QueueId, bool] = {}
        for agent in sorted(self._agents.values(), key=lambda a: a.order):
            if agent.id == s.agent or not agent.on_duty:
                continue
            if s.language is not None and s.language not in agent.profile.languages:
                continue
            free = agent.is_free()
            agents.append((agent.id, free))
            for qid in agent.queues:
                queues[qid] = queues.get(qid, False) or free
        return agents, sorted(queues.items())

    def session_state(self, session: SessionId) -> str | None:
        """``waiting``/``offered``/``in_session``, or None once the session has ended."""
        rec = self._sessions.get(session)
        return None if rec is None else rec.state.value

    def snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict (canonical: equal states, equal dicts)."""
        return {
            "version": 1,
            "config": self.config.to_dict(),
            "profiles": {k: v.to_dict() for k, v in sorted(self._profiles.items())},
            "agents": {k: v.to_dict() for k, v in sorted(self._agents.items())},
            "sessions": {k: v.to_dict() for k, v in sorted(self._sessions.items())},
            "timers": dict(sorted(self._timers.items())),
            "parked": [
                {"queue": q, "caller": c, "place": place}
                for (q, c), place in sorted(
                    self._parked.items(), key=lambda item: (item[1]["abandoned_at"], item[0])
                )
            ],
            "today": {k: list(v) for k, v in sorted(self._today.items())},
            "queues": {
                qid: {"aht": q.aht, "last_tick": None if math.isinf(q.last_tick) else q.last_tick}
                for qid, q in sorted(self._queues.items())
            },
            "order": self._order,
            "token": self._token,
        }

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> Engine:
        """An engine in the state captured by :meth:`snapshot`."""
        engine = cls(RoutingConfig.from_dict(snapshot["config"]))
        engine._profiles = {
            AgentId(k): AgentProfile.from_dict(v) for k, v in snapshot["profiles"].items()
        }
        engine._order = snapshot["order"]
        engine._token = snapshot["token"]
        engine._timers = {TimerKey(k): v for k, v in snapshot["timers"].items()}
        engine._today = {AgentId(k): (v[0], v[1]) for k, v in snapshot["today"].items()}
        for qid, data in snapshot["queues"].items():
            q = engine._queues[QueueId(qid)]
            q.aht = data["aht"]
            q.last_tick = -math.inf if data["last_tick"] is None else data["last_tick"]
        for item in snapshot["parked"]:
            key = (QueueId(item["queue"]), CallerKey(item["caller"]))
            engine._parked[key] = dict(item["place"])
            engine._parked_order.append((item["place"]["abandoned_at"], key[0], key[1]))
        for data in snapshot["agents"].values():
            profile = AgentProfile.from_dict(data["profile"])
            rec = AgentRec(
                profile,
                data["order"],
                engine._served_queues(profile),
                Presence(data["presence"]),
                data["idle_since"],
                data["on_duty"],
            )
            rec.reason = data["reason"]
            rec.offer = data["offer"]
            rec.session = data["session"]
            rec.missed = data["missed"]
            rec.version = data["version"]
            engine._agents[rec.id] = rec
            engine._count_staffing(rec, +1)
            if rec.is_free():
                engine._index_free(rec)
        for data in snapshot["sessions"].values():
            s = SessionRec.from_dict(data)
            engine._sessions[s.id] = s
            if s.state is not SessionState.IN_SESSION:
                engine._join_line(s)
            if s.state is SessionState.WAITING:
                engine._index_waiting(s)
        return engine

    # ------------------------------------------------------------------ handlers

    def _on_queued(self, ev: SessionQueued | CallerReturned, actions: Actions) -> None:
        now = ev.now
        if ev.session in self._sessions:
            raise DuplicateSession(f"session {ev.session!r} is already held")
        q = self._queue(ev.queue)
        level = self._level(ev.priority)
        named = ev.named_agent if isinstance(ev, SessionQueued) else None
        callback = isinstance(ev, SessionQueued) and ev.callback
        if callback and ev.caller is None:
            raise InvalidRequest(f"session {ev.session!r}: a callback needs a caller number")
        # Forget places parked longer than the return window.
        window = self.config.abandon_return_s
        while self._parked_order and self._parked_order[0][0] + window < now:
            at, pq, pc = self._parked_order.popleft()
            if self._parked.get((pq, pc), {}).get("abandoned_at") == at:
                del self._parked[(pq, pc)]
        place = self._parked.pop((q.cfg.id, ev.caller), None) if ev.caller else None
        self._order += 1
        s = SessionRec(
            id=ev.session,
            queue=q.cfg.id,
            priority=ev.priority,
            level=level,
            since=now,
            order=self._order,
            queued_at=now,
            caller=ev.caller,
            language=ev.language,
            named_agent=named,
            named_until=now + q.cfg.named_agent_fallback_s if named else -math.inf,
            display_number=ev.display_number,
        )
        if place is not None:
            # A caller back within the window: the old place and the better priority.
            s.since = place["since"]
            s.order = place["order"]
            if place["level"] > s.level:
                s.level, s.priority = place["level"], place["priority"]
            s.resumed_from = place["session"]
        self._sessions[s.id] = s
        self._join_line(s)
        if callback:
            s.callback = s.long_wait_done = True
            self._start(f"cbx:{s.id}", now + q.cfg.callback_expires_s, actions)
        self._enter_waiting(s, now, actions)
        if callback:
            # Nobody is on the line to be told a position; offered as any callback.
            self._positions_dirty(q, now, actions)
        elif place is None:
            # A new arrival is last in its priority level: count, don't sort.
            position = sum(n for lv, n in q.level_counts.items() if lv >= s.level)
            s.told_pos, s.told_est, s.told_at = position, self._estimate(q, s, position), now
            actions.append(TellPosition(s.id, position, s.told_est))
        else:
            self._positions_dirty(q, now, actions)
        if (
            not callback
            and self.config.voicemail_outside_shifts
            and not self._queue_on_duty(q, now)
        ):
            # Nobody is on duty: say so at once and offer a callback or a message. No
            # ticket is made until the caller leaves one (an empty ticket helps nobody
            # and would let anyone flood the back office).
            s.long_wait_done = True
            actions.append(OfferCallback(s.id, 0.0, OFF_DUTY))

    def _on_abandoned(self, ev: SessionAbandoned, actions: Actions) -> None:
        s = self._callers(ev.session)
        now = ev.now
        if s.state is SessionState.IN_SESSION:
            # Hanging up on an answered session is just its end.
            self._end_live(
                s, Outcome.CALLBACK_DONE if s.callback else Outcome.ANSWERED, now, actions
            )
            return
        agent = self._agents.get(s.agent) if s.state is SessionState.OFFERED and s.agent else None
        if agent is not None:
            actions.append(CancelOffer(agent.id, s.id, "caller hung up"))
            self._release_offer(s, agent, now, actions, exclude=False)
        if s.caller is not None and not s.callback:
            key = (s.queue, s.caller)
            self._parked[key] = {
                "since": s.since,
                "order": s.order,
                "level": s.level,
                "priority": s.priority,
                "session": s.id,
                "abandoned_at": now,
            }
            self._parked_order.append((now, s.queue, s.caller))
        self._finish(s, Outcome.ABANDONED, now, actions)
        if agent is not None:
            self._offer_agent(agent, now, actions)

    def _end_live(
        self,
        s: SessionRec,
        outcome: Outcome,
        now: float,
        actions: Actions,
        transferred_to: SessionId | None = None,
    ) -> None:
        """End an answered session: record it, update AHT, put the agent in wrap-up."""
        q = self._queues[s.queue]
        assert s.answered_at is not None
        assert s.agent is not None
        q.aht += _AHT_ALPHA * ((now - s.answered_at) - q.aht)
        agent = self._agents[s.agent]
        self._finish(s, outcome, now, actions, transferred_to)
        agent.session = None
        self._set_presence(agent, Presence.WRAP_UP, None, now, actions)
        if q.cfg.wrap_up_s is None:
            pass  # until the agent ends it (AgentStateChanged)
        elif q.cfg.wrap_up_s > 0:
            self._start(f"wrap:{agent.id}", now + q.cfg.wrap_up_s, actions)
        else:
            self._set_presence(agent, Presence.AVAILABLE, None, now, actions)
            self._offer_agent(agent, now, actions)

    def _on_ended(self, ev: SessionEnded, actions: Actions) -> None:
        s = self._live_call(ev.session)
        if ev.reached:
            self._end_live(
                s, Outcome.CALLBACK_DONE if s.callback else Outcome.ANSWERED, ev.now, actions
            )
            return
        if not s.callback:
            raise InvalidRequest(f"session {s.id!r} is not a callback")
        # Nobody was reached: no talk time for the handle-time average, no wrap-up.
        assert s.agent is not None
        agent = self._agents[s.agent]
        self._finish(s, Outcome.CALLBACK_FAILED, ev.now, actions)
        agent.session = None
        self._set_presence(agent, Presence.WRAP_UP, None, ev.now, actions)
        self._set_presence(agent, Presence.AVAILABLE, None, ev.now, actions)
        self._offer_agent(agent, ev.now, actions)

    def _on_callback_requested(self, ev: CallbackRequested, actions: Actions) -> None:
        s = self._callers(ev.session)
        if s.state is SessionState.IN_SESSION or (s.caller is None and ev.caller is None):
            raise InvalidRequest(f"session {s.id!r} cannot take a callback")
        if ev.caller is not None:
            s.caller, s.display_number = ev.caller, ev.display_number
        if s.callback:
            return
        s.callback = True
        s.long_wait_done = True
        self._cancel(f"wait:{s.id}", actions)
        q = self._queues[s.queue]
        self._start(f"cbx:{s.id}", ev.now + q.cfg.callback_expires_s, actions)

    def _on_voicemail_requested(self, ev: VoicemailRequested, actions: Actions) -> None:
        s = self._callers(ev.session)
        if s.state is SessionState.IN_SESSION:
            raise InvalidRequest(f"session {s.id!r} is in a session")
        self._voicemail(s, "caller chose voicemail", ev.now, actions)

    def _voicemail(
        self,
        s: SessionRec,
        reason: str,
        now: float,
        actions: Actions,
        outcome: Outcome = Outcome.VOICEMAIL,
    ) -> None:
        agent = self._agents.get(s.agent) if s.state is SessionState.OFFERED and s.agent else None
        if agent is not None:
            actions.append(CancelOffer(agent.id, s.id, reason))
            self._release_offer(s, agent, now, actions, exclude=False)
        actions.append(CreateVoicemailTicket(s.id, s.queue, s.caller, reason))
        self._finish(s, outcome, now, actions)
        if agent is not None:
            self._offer_agent(agent, now, actions)

    def _on_signed_in(self, ev: AgentSignedIn, actions: Actions) -> None:
        profile = ev.profile
        if profile.id in self._agents:
            raise InvalidRequest(f"agent {profile.id!r} is already signed in")
        if ev.presence not in (Presence.AVAILABLE, Presence.BREAK):
            raise InvalidRequest("an agent signs in available or on a break")
        now = ev.now
        self._profiles[profile.id] = profile
        self._duty_cache.clear()
        self._order += 1
        offset = self.config.utc_offset_s
        agent = AgentRec(
            profile,
            self._order,
            self._served_queues(profile),
            Presence.OFFLINE,
            now,
            rota.on_duty(profile.shifts, now, offset),
        )
        self._agents[profile.id] = agent
        self._set_presence(agent, ev.presence, ev.reason, now, actions)
        change = rota.next_change(profile.shifts, now, offset)
        if change < math.inf:
            self._start(f"shift:{profile.id}", change, actions)
        self._offer_agent(agent, now, actions)

    def _on_signed_out(self, ev: AgentSignedOut | AgentDisconnected, actions: Actions) -> None:
        agent = self._agent(ev.agent)
        now = ev.now
        reason = "signed out" if isinstance(ev, AgentSignedOut) else "disconnected"
        orphan: SessionRec | None = None
        consulted: SessionId | None = None
        if agent.offer is not None:
            orphan = self._sessions[agent.offer]
            actions.append(CancelOffer(agent.id, orphan.id, reason))
            self._release_offer(orphan, agent, now, actions, exclude=False)
        elif agent.session is not None:
            live = self._sessions[agent.session]
            if live.consult_of is not None:
                consulted = live.consult_of  # the consult ends once the agent is gone
            else:
                orphan = self._interrupt(live, now, actions)
            agent.session = None
        for prefix in ("wrap", "shift", "idle"):
            self._cancel(f"{prefix}:{agent.id}", actions)
        self._set_presence(agent, Presence.OFFLINE, reason, now, actions)
        del self._agents[agent.id]
        if consulted is not None:
            self._end_consult(self._sessions[consulted], "agent lost", now, actions)
        if orphan is not None:
            self._enter_waiting(orphan, now, actions)

    def _interrupt(self, s: SessionRec, now: float, actions: Actions) -> SessionRec:
        """The agent of live session ``s`` is gone: that leg is recorded ``INTERRUPTED``
        and the caller goes on as a new session (``<id>:r<n>``), back at the head of
        the line with the original arrival time; the record links the two."""
        base, _, leg = s.id.partition(":r")
        new_id = SessionId(f"{base}:r{int(leg) + 1 if leg.isdigit() else 1}")
        self._finish(s, Outcome.INTERRUPTED, now, actions, transferred_to=new_id)
        t = SessionRec(
            id=new_id,
            queue=s.queue,
            priority=s.priority,
            level=s.level,
            since=s.since,
            order=s.order,
            queued_at=s.queued_at,
            caller=s.caller,
            language=s.language,
            display_number=s.display_number,
            resumed_from=s.id,
        )
        t.callback = s.callback
        t.long_wait_done = s.long_wait_done
        self._sessions[t.id] = t
        self._join_line(t)
        if t.callback:  # the caller hung up for it: the callback expires as before
            q = self._queues[t.queue]
            self._start(f"cbx:{t.id}", now + q.cfg.callback_expires_s, actions)
        self._positions_dirty(self._queues[t.queue], now, actions)
        return t

    def _on_state_changed(self, ev: AgentStateChanged, actions: Actions) -> None:
        agent = self._agent(ev.agent)
        now = ev.now
        if ev.presence is Presence.OFFLINE:
            self._on_signed_out(AgentSignedOut(now=now, agent=ev.agent), actions)
            return
        if ev.presence not in (Presence.AVAILABLE, Presence.BREAK):
            raise InvalidRequest(f"an agent cannot ask for {ev.presence.value}")
        if ev.presence is agent.presence:
            return
        check_transition(agent.presence, ev.presence)
        offered = self._sessions[agent.offer] if agent.offer is not None else None
        if offered is not None:
            actions.append(CancelOffer(agent.id, offered.id, "agent went on a break"))
            self._release_offer(offered, agent, now, actions, exclude=False)
        self._cancel(f"wrap:{agent.id}", actions)
        if ev.presence is Presence.AVAILABLE:
            agent.missed = 0
        self._set_presence(agent, ev.presence, ev.reason, now, actions)
        if offered is not None:
            self._enter_waiting(offered, now, actions)
        self._offer_agent(agent, now, actions)

    def _offer_of(self, agent_id: AgentId, session_id: SessionId) -> tuple[AgentRec, SessionRec]:
        agent = self._agent(agent_id)
        s = self._sessions.get(session_id)
        if s is None or agent.offer != session_id or s.state is not SessionState.OFFERED:
            raise StaleOffer(f"session {session_id!r} is not on offer to {agent_id!r}")
        return agent, s

    def _on_accepted(self, ev: OfferAccepted, actions: Actions) -> None:
        agent, s = self._offer_of(ev.agent, ev.session)
        now = ev.now
        self._cancel(f"ring:{s.id}", actions)
        for prefix in ("tier", "wait", "ovf", "named", "retry", "cbx"):
            self._cancel(f"{prefix}:{s.id}", actions)
        agent.offer = None
        agent.session = s.id
        agent.missed = 0
        if s.consult_of is None:  # a consult is not a call answered
            day = self._local_day(now)
            self._today[agent.id] = (day, self._answered_today(agent.id, now) + 1)
        s.state = SessionState.IN_SESSION
        s.answered_at = now
        s.excluded.clear()
        self._leave_line(s, now, actions)
        self._set_presence(agent, Presence.IN_SESSION, None, now, actions)
        if s.consult_of is None:
            actions.append(ConnectSession(agent.id, s.id, s.queue))
        else:
            call = self._sessions[s.consult_of]
            actions.append(
                ConsultChanged(call.id, s.id, ConsultState.CONNECTED, s.queue, call.agent, agent.id)
            )

    def _on_rejected(self, ev: OfferRejected, actions: Actions) -> None:
        agent, s = self._offer_of(ev.agent, ev.session)
        now = ev.now
        self._release_offer(s, agent, now, actions, exclude=True)
        self._enter_waiting(s, now, actions)
        self._offer_agent(agent, now, actions)

    def _on_transfer(self, ev: TransferRequested, actions: Actions) -> None:
        s = self._live_call(ev.session)
        now = ev.now
        if s.consult is not None:
            raise InvalidRequest(f"session {s.id!r} has a consult open: end it first")
        if ev.new_session in self._sessions:
            raise DuplicateSession(f"session {ev.new_session!r} is already held")
        if ev.to_queue is None and ev.to_agent is None:
            raise InvalidRequest("a transfer needs a queue or an agent")
        q = self._queue(ev.to_queue) if ev.to_queue is not None else self._queues[s.queue]
        if not self._could_take(q, s, ev.to_agent, besides=s.agent):
            # Refused before anything changes: the call goes on, and the agent is told why
            # (a caller sent where nobody can answer would be stranded without a word).
            who = f"agent {ev.to_agent}" if ev.to_agent else f"anyone for {q.cfg.id}"
            lang = f" who speaks {s.language}" if s.language else ""
            raise NobodyEligible(f"cannot transfer: {who}{lang} is not signed in")
        self._end_live(s, Outcome.TRANSFERRED, now, actions, transferred_to=ev.new_session)
        self._order += 1
        t = SessionRec(
            id=ev.new_session,
            queue=q.cfg.id,
            priority=s.priority,
            level=s.level,
            since=now,
            order=self._order,
            queued_at=now,
            caller=s.caller,
            language=s.language,
            named_agent=ev.to_agent,
            named_until=now + q.cfg.named_agent_fallback_s if ev.to_agent else -math.inf,
            display_number=s.display_number,
        )
        self._sessions[t.id] = t
        self._join_line(t)
        self._enter_waiting(t, now, actions)
        self._positions_dirty(q, now, actions)

    def _on_consult(self, ev: ConsultRequested, actions: Actions) -> None:
        s = self._live_call(ev.session)
        now = ev.now
        if s.consult is not None:
            raise InvalidRequest(f"session {s.id!r} already has a consult open")
        if (ev.to_queue is None) == (ev.to_agent is None):
            raise InvalidRequest("a consult needs a queue or an agent (exactly one)")
        if ev.to_agent == s.agent:
            raise InvalidRequest("an agent cannot consult themselves")
        q = self._queue(ev.to_queue) if ev.to_queue is not None else self._queues[s.queue]
        if not self._could_take(q, s, ev.to_agent, besides=s.agent):
            who = f"agent {ev.to_agent}" if ev.to_agent else f"anyone for {q.cfg.id}"
            lang = f" who speaks {s.language}" if s.language else ""
            raise NobodyEligible(f"cannot consult: {who}{lang} is not signed in")
        s.consults += 1
        self._order += 1
        c = SessionRec(
            id=SessionId(f"{s.id}:c{s.consults}"),
            queue=q.cfg.id,
            priority=s.priority,
            level=CONSULT_LEVEL,
            since=now,
            order=self._order,
            queued_at=now,
            caller=s.caller,
            language=s.language,
            named_agent=ev.to_agent,
            # A named consult waits for that colleague only, never for anyone else.
            named_until=math.inf if ev.to_agent else -math.inf,
            display_number=s.display_number,
        )
        c.consult_of = s.id
        c.long_wait_done = True  # no callback, no voicemail: the caller is being served
        s.consult = c.id
        self._sessions[c.id] = c
        self._join_line(c)
        actions.append(ConsultChanged(s.id, c.id, ConsultState.RINGING, c.queue, s.agent))
        self._enter_waiting(c, now, actions)

    def _on_consult_ended(self, ev: ConsultEnded, actions: Actions) -> None:
        s = self._live_call(ev.session)
        if s.consult is None:
            raise InvalidRequest(f"session {s.id!r} has no consult open")
        self._end_consult(s, "ended", ev.now, actions)

    def _on_hand_over(self, ev: HandOverRequested, actions: Actions) -> None:
        s = self._live_call(ev.session)
        c = self._sessions[s.consult] if s.consult is not None else None
        if c is None or c.state is not SessionState.IN_SESSION:
            raise InvalidRequest(f"nobody has joined session {s.id!r} to take it over")
        # The consult leg becomes the call: the caller's place and class, not a consult's.
        s.consult = None
        c.consult_of = None
        c.level, c.since, c.order = s.level, s.since, s.order
        c.callback = s.callback
        actions.append(
            ConsultChanged(s.id, c.id, ConsultState.HANDED_OVER, c.queue, s.agent, c.agent)
        )
        self._end_live(s, Outcome.TRANSFERRED, ev.now, actions, transferred_to=c.id)

    def _live_call(self, session: SessionId) -> SessionRec:
        """A session that is a live call (answered, not a consult leg), or raise."""
        s = self._session(session)
        if s.state is not SessionState.IN_SESSION or s.consult_of is not None:
            raise InvalidRequest(f"session {s.id!r} is {s.state.value}, not a live call")
        return s

    def _callers(self, session: SessionId) -> SessionRec:
        """A session a caller's event may name: any but a consult leg."""
        s = self._session(session)
        if s.consult_of is not None:
            raise InvalidRequest(f"session {s.id!r} is a consult, not a caller's")
        return s

    def _could_take(
        self, q: QueueRec, s: SessionRec, named: AgentId | None, besides: AgentId | None
    ) -> bool:
        """Whether anyone signed in and on duty (other than ``besides``) could take ``s``
        in ``q``: the named agent, or anyone serving the queue, speaking its language."""
        for agent in self._agents.values():
            if agent.id == besides or not agent.on_duty:
                continue
            if named is not None and agent.id != named:
                continue
            if named is None and q.cfg.id not in agent.queues:
                continue
            if s.language is None or s.language in agent.profile.languages:
                return True
        return False

    # --- timers

    def _on_timer(self, ev: TimerFired, actions: Actions) -> None:
        at = self._timers.get(ev.key)
        if at is None or at > ev.now:
            return  # cancelled, replaced, or early: stale
        del self._timers[ev.key]
        prefix, _, name = ev.key.partition(":")
        self._timer_handlers[prefix](name, ev.now, actions)

    def _timer_ring(self, name: str, now: float, actions: Actions) -> None:
        s = self._sessions[SessionId(name)]
        assert s.agent is not None
        agent = self._agents[s.agent]
        actions.append(CancelOffer(agent.id, s.id, "ring timeout"))
        self._release_offer(s, agent, now, actions, exclude=True)
        agent.missed += 1
        if agent.missed >= self.config.max_missed_offers:
            self._set_presence(agent, Presence.BREAK, _MISSED_OFFERS, now, actions)
        self._enter_waiting(s, now, actions)
        self._offer_agent(agent, now, actions)

    def _timer_wrap(self, name: str, now: float, actions: Actions) -> None:
        agent = self._agents[AgentId(name)]
        self._set_presence(agent, Presence.AVAILABLE, None, now, actions)
        self._offer_agent(agent, now, actions)

    def _timer_tier(self, name: str, now: float, actions: Actions) -> None:
        s = self._sessions[SessionId(name)]
        if s.state is not SessionState.WAITING:
            return
        self._offer_session(s, now, actions)
        if s.state is SessionState.WAITING:
            self._arm_tier_timer(s, self._queues[s.queue], now, actions)

    def _timer_idle(self, name: str, now: float, actions: Actions) -> None:
        self._offer_agent(self._agents[AgentId(name)], now, actions)

    def _timer_wait(self, name: str, now: float, actions: Actions) -> None:
        s = self._sessions[SessionId(name)]
        q = self._queues[s.queue]
        s.long_wait_done = True
        if q.cfg.long_wait_action is LongWaitAction.VOICEMAIL or s.caller is None:
            self._voicemail(s, "long wait", now, actions)
        else:
            actions.append(OfferCallback(s.id, now - s.since))

    def _timer_overflow(self, name: str, now: float, actions: Actions) -> None:
        s = self._sessions[SessionId(name)]
        if s.state is not SessionState.WAITING:
            return  # re-armed when the session waits again
        source = self._queues[s.queue]
        assert source.cfg.overflow_queue is not None
        target = self._queues[source.cfg.overflow_queue]
        self._cancel(f"tier:{s.id}", actions)
        self._leave_line(s, now, actions)
        s.queue = target.cfg.id
        s.entered_at = now
        self._join_line(s)
        actions.append(SessionMoved(s.id, source.cfg.id, target.cfg.id, "overflow"))
        self._enter_waiting(s, now, actions)
        self._positions_dirty(target, now, actions)

    def _timer_named(self, name: str, now: float, actions: Actions) -> None:
        s = self._sessions[SessionId(name)]
        s.named_until = -math.inf
        if s.state is SessionState.WAITING:
            self._enter_waiting(s, now, actions)

    def _timer_retry(self, name: str, now: float, actions: Actions) -> None:
        s = self._sessions[SessionId(name)]
        s.excluded = {a: t for a, t in s.excluded.items() if t > now}
        if s.excluded:
            self._start(f"retry:{s.id}", min(s.excluded.values()), actions)
        if s.state is SessionState.WAITING:
            self._offer_session(s, now, actions)

    def _timer_callback_expired(self, name: str, now: float, actions: Actions) -> None:
        s = self._sessions[SessionId(name)]
        self._voicemail(s, "callback expired", now, actions, outcome=Outcome.EXPIRED)

    def _timer_position(self, name: str, now: float, actions: Actions) -> None:
        self._position_tick(self._queues[QueueId(name)], now, actions)

    def _timer_shift(self, name: str, now: float, actions: Actions) -> None:
        agent = self._agents[AgentId(name)]
        offset = self.config.utc_offset_s
        was_free = agent.is_free()
        self._count_staffing(agent, -1)
        agent.on_duty = rota.on_duty(agent.profile.shifts, now, offset)
        self._count_staffing(agent, +1)
        self._free_changed(agent, was_free, now)
        self._start(
            f"shift:{agent.id}", rota.next_change(agent.profile.shifts, now, offset), actions
        )
        self._offer_agent(agent, now, actions)
