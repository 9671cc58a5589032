"""The engine's core: its state, indexes and the matching of sessions to agents.

:class:`routing.engine.Engine` adds the event handlers and the public API on top; the
split keeps each module to one concern. Everything here is private to ``routing``.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections import deque
from typing import Any

from routing import rota
from routing._state import (
    AgentEntry,
    AgentRec,
    QueueRec,
    SessionEntry,
    SessionRec,
    SessionState,
)
from routing.actions import (
    Action,
    AgentPresenceChanged,
    CancelOffer,
    CancelTimer,
    ConsultChanged,
    ConsultState,
    OfferSession,
    Outcome,
    SessionRecorded,
    StartTimer,
    TellPosition,
)
from routing.errors import InvalidRequest, UnknownAgent, UnknownQueue, UnknownSession
from routing.ids import AgentId, CallerKey, Language, QueueId, SessionId, TimerKey
from routing.model import SECONDS_PER_DAY, AgentProfile, RoutingConfig, mask_number
from routing.presence import Presence, check_transition

Actions = list[Action]

_BY_AGE = operator.attrgetter("since", "order")
_BY_LEVEL = operator.attrgetter("level")


class Core:
    """State and matching shared by the event handlers of :class:`routing.engine.Engine`."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self._levels = {p.name: p.level for p in config.priority_classes}
        self._queues: dict[QueueId, QueueRec] = {q.id: QueueRec(q) for q in config.queues}
        self._profiles: dict[AgentId, AgentProfile] = {p.id: p for p in config.roster}
        self._agents: dict[AgentId, AgentRec] = {}
        self._sessions: dict[SessionId, SessionRec] = {}
        self._named: dict[AgentId, list[SessionEntry]] = {}
        self._timers: dict[TimerKey, float] = {}
        # (queue, caller) -> parked place of a caller who hung up, for abandon_return_s.
        self._parked: dict[tuple[QueueId, CallerKey], dict[str, Any]] = {}
        self._parked_order: deque[tuple[float, QueueId, CallerKey]] = deque()
        self._today: dict[AgentId, tuple[int, int]] = {}  # agent -> (local day, answered)
        self._order = 0  # sessions' arrival order and agents' sign-in order
        self._token = 0
        self._duty_cache: dict[QueueId, tuple[bool, float]] = {}
        self._emptied: set[QueueId] = set()

    def _queue(self, queue: QueueId) -> QueueRec:
        q = self._queues.get(queue)
        if q is None:
            raise UnknownQueue(f"no queue {queue!r}")
        return q

    def _agent(self, agent: AgentId) -> AgentRec:
        rec = self._agents.get(agent)
        if rec is None:
            raise UnknownAgent(f"agent {agent!r} is not signed in")
        return rec

    def _session(self, session: SessionId) -> SessionRec:
        rec = self._sessions.get(session)
        if rec is None:
            raise UnknownSession(f"no session {session!r}")
        return rec

    def _level(self, priority: str) -> int:
        level = self._levels.get(priority)
        if level is None:
            raise InvalidRequest(f"unknown priority class {priority!r}")
        return level

    def _served_queues(self, profile: AgentProfile) -> dict[QueueId, tuple[int, int]]:
        served: dict[QueueId, tuple[int, int]] = {}
        for qid, q in self._queues.items():
            prof = profile.skills.get(q.cfg.required_skill, 0)
            tier = profile.tiers.get(qid, q.tier_order[0])
            if prof >= q.cfg.min_proficiency and tier in q.present:
                served[qid] = (tier, prof)
        return served

    def _start(self, key: str, at: float, actions: Actions) -> None:
        tkey = TimerKey(key)
        if self._timers.get(tkey) != at:
            self._timers[tkey] = at
            actions.append(StartTimer(tkey, at))

    def _cancel(self, key: str, actions: Actions) -> None:
        tkey = TimerKey(key)
        if self._timers.pop(tkey, None) is not None:
            actions.append(CancelTimer(tkey))

    def _local_day(self, now: float) -> int:
        return math.floor((now + self.config.utc_offset_s) / SECONDS_PER_DAY)

    def _answered_today(self, agent: AgentId, now: float) -> int:
        day, count = self._today.get(agent, (0, 0))
        return count if day == self._local_day(now) else 0

    # --- presence and staffing

    def _count_staffing(self, agent: AgentRec, sign: int) -> None:
        if not agent.is_staffed():
            return
        for qid, (tier, _) in agent.queues.items():
            q = self._queues[qid]
            q.staffed += sign
            for lang in agent.profile.languages:
                q.speakers[lang] = q.speakers.get(lang, 0) + sign
            before = q.present[tier]
            q.present[tier] = before + sign
            if q.cfg.skip_empty_tiers and (before == 0 or q.present[tier] == 0):
                q.recompute_delays()
                if q.present[tier] == 0:
                    self._emptied.add(qid)

    def _set_presence(
        self, agent: AgentRec, presence: Presence, reason: str | None, now: float, actions: Actions
    ) -> None:
        check_transition(agent.presence, presence)
        was_free = agent.is_free()
        self._count_staffing(agent, -1)
        agent.presence = presence
        agent.reason = reason
        self._count_staffing(agent, +1)
        actions.append(AgentPresenceChanged(agent.id, presence, reason))
        self._free_changed(agent, was_free, now)

    def _free_changed(self, agent: AgentRec, was_free: bool, now: float) -> None:
        """Keep the free-agent index in step after anything that may change freeness."""
        free = agent.is_free()
        if free == was_free:
            return
        # Versions come from the engine-wide counter, so an entry left by an earlier
        # sign-in of the same agent can never look current.
        self._token += 1
        agent.version = self._token
        if free:
            agent.idle_since = now
            self._index_free(agent)

    def _index_free(self, agent: AgentRec) -> None:
        today = self._today.get(agent.id, (0, 0))[1]
        for qid, (tier, _) in agent.queues.items():
            q = self._queues[qid]
            entry: AgentEntry = (q.choice_key(agent, today), agent.order, agent.version, agent.id)
            for lang in (None, *agent.profile.languages):
                heap = q.free.setdefault((tier, lang), [])
                heapq.heappush(heap, entry)
                if len(heap) > 4 * len(self._agents) + 64:
                    heap[:] = [e for e in heap if self._agent_entry_valid(e)]
                    heapq.heapify(heap)

    def _agent_entry_valid(self, entry: AgentEntry) -> bool:
        agent = self._agents.get(entry[3])
        return agent is not None and agent.version == entry[2] and agent.is_free()

    # --- the line

    def _join_line(self, s: SessionRec) -> None:
        q = self._queues[s.queue]
        q.members.add(s.id)
        q.level_counts[s.level] = q.level_counts.get(s.level, 0) + 1

    def _leave_line(self, s: SessionRec, now: float, actions: Actions) -> None:
        q = self._queues[s.queue]
        q.members.discard(s.id)
        q.level_counts[s.level] -= 1
        s.token = -1
        self._positions_dirty(q, now, actions)

    def _index_waiting(self, s: SessionRec) -> None:
        """Put a WAITING session in its heap (the named agent's, or its queue's)."""
        entry: SessionEntry = (s.since, s.order, s.token, s.id)
        if s.named_agent is not None and s.named_pending():
            heap = self._named.setdefault(s.named_agent, [])
        else:
            heap = self._queues[s.queue].buckets.setdefault((s.level, s.language), [])
        heapq.heappush(heap, entry)
        if len(heap) > 2 * len(self._sessions) + 64:
            heap[:] = [e for e in heap if self._session_entry_valid(e)]
            heapq.heapify(heap)

    def _session_entry_valid(self, entry: SessionEntry) -> bool:
        s = self._sessions.get(entry[3])
        return s is not None and s.token == entry[2] and s.state is SessionState.WAITING

    def _enter_waiting(self, s: SessionRec, now: float, actions: Actions) -> None:
        """Make ``s`` WAITING, index it, arm its timers, and offer it if anyone can take it."""
        s.state = SessionState.WAITING
        s.agent = None
        self._token += 1
        s.token = self._token
        q = self._queues[s.queue]
        self._index_waiting(s)
        if s.consult_of is not None:
            pass  # a consult waits only for its agent(s), and only while the call lasts
        elif s.named_pending():
            self._start(f"named:{s.id}", s.named_until, actions)
        elif q.cfg.overflow_queue is not None and q.cfg.overflow_after_s is not None:
            at = max(now, s.entered_at + q.cfg.overflow_after_s)
            self._start(f"ovf:{s.id}", at, actions)
        if q.cfg.max_wait_s is not None and not s.long_wait_done and s.answered_at is None:
            self._start(f"wait:{s.id}", max(now, s.since + q.cfg.max_wait_s), actions)
        self._offer_session(s, now, actions)
        if s.state is SessionState.WAITING and not s.named_pending():
            self._arm_tier_timer(s, q, now, actions)

    def _arm_tier_timer(self, s: SessionRec, q: QueueRec, now: float, actions: Actions) -> None:
        """Wake ``s`` when a tier with a free agent opens for it.

        Only a tier that has a free agent now needs a timer: an agent who becomes free
        later looks for sessions itself, and arms its own ``idle`` timer if none is
        eligible yet. So a long line of callers costs no timers while agents are busy.
        """
        waited = now - s.since
        for tier in sorted(q.tier_order, key=q.delays.__getitem__):
            delay = q.delays[tier]
            if delay <= waited:
                continue
            heap = q.free.get((tier, s.language))
            if heap and self._free_head(heap, s, now) is not None:
                self._start(f"tier:{s.id}", s.since + delay, actions)
                return
        self._cancel(f"tier:{s.id}", actions)

    def _arm_idle_timer(self, agent: AgentRec, now: float, actions: Actions) -> None:
        """A free agent found nothing: wake it when the first session's tier opens for it."""
        wake = math.inf
        langs: tuple[Language | None, ...] = (None, *agent.profile.languages)
        for qid, (tier, _) in agent.queues.items():
            q = self._queues[qid]
            if not q.members:
                continue
            delay = q.delays[tier]
            for level in q.levels():
                for lang in langs:
                    heap = q.buckets.get((level, lang))
                    if heap:
                        s = self._head(heap, math.inf, agent.id, now)
                        if s is not None and s.since + delay > now:
                            wake = min(wake, s.since + delay)
        if wake < math.inf:
            self._start(f"idle:{agent.id}", wake, actions)
        else:
            self._cancel(f"idle:{agent.id}", actions)

    def _drop_session_timers(self, s: SessionRec, actions: Actions) -> None:
        for prefix in ("ring", "tier", "wait", "ovf", "named", "retry", "cbx"):
            self._cancel(f"{prefix}:{s.id}", actions)

    def _finish(
        self,
        s: SessionRec,
        outcome: Outcome,
        now: float,
        actions: Actions,
        transferred_to: SessionId | None = None,
    ) -> None:
        """Record the single terminal outcome of ``s`` and forget it (its open consult
        ends with it)."""
        if s.consult is not None:
            self._end_consult(s, "call ended", now, actions)
        self._drop_session_timers(s, actions)
        if s.state is not SessionState.IN_SESSION:
            self._leave_line(s, now, actions)
        del self._sessions[s.id]
        actions.append(
            SessionRecorded(
                session=s.id,
                queue=s.queue,
                outcome=outcome,
                queued_at=s.queued_at,
                ended_at=now,
                offered_at=s.offered_at,
                answered_at=s.answered_at,
                agent=s.agent,
                priority=s.priority,
                caller=s.caller,
                resumed_from=s.resumed_from,
                transferred_to=transferred_to,
            )
        )

    # --- matching

    def _excluded(self, s: SessionRec, agent: AgentId, now: float) -> bool:
        until = s.excluded.get(agent)
        return until is not None and until > now

    def _head(
        self, heap: list[SessionEntry], cutoff: float, agent: AgentId, now: float
    ) -> SessionRec | None:
        """Oldest valid session in ``heap`` with ``since <= cutoff`` not excluding ``agent``."""
        sessions = self._sessions
        while heap:
            entry = heap[0]
            s = sessions.get(entry[3])
            if s is None or s.token != entry[2] or s.state is not SessionState.WAITING:
                heapq.heappop(heap)
                continue
            if entry[0] > cutoff:
                return None
            if not s.excluded or not self._excluded(s, agent, now):
                return s
            break
        else:
            return None
        # Rare: the head was rejected or missed by this agent; look further down.
        for entry in sorted(heap):
            if entry[0] > cutoff:
                return None
            s = sessions.get(entry[3])
            if (
                s is not None
                and s.token == entry[2]
                and s.state is SessionState.WAITING
                and not self._excluded(s, agent, now)
            ):
                return s
        return None

    def _best_session_for(self, agent: AgentRec, now: float) -> SessionRec | None:
        best: SessionRec | None = None
        best_score: tuple[int, float, int] | None = None
        langs: tuple[Language | None, ...] = (None, *agent.profile.languages)
        for qid, (tier, _) in agent.queues.items():
            q = self._queues[qid]
            if not q.members:
                continue
            cutoff = now - q.delays[tier]
            weight = q.cfg.weight
            for level in q.levels():
                cand: SessionRec | None = None
                for lang in langs:
                    heap = q.buckets.get((level, lang))
                    if not heap:
                        continue
                    s = self._head(heap, cutoff, agent.id, now)
                    if s is not None and (cand is None or s.key() < cand.key()):
                        cand = s
                if cand is not None:
                    score = (cand.level, weight * (now - cand.since), -cand.order)
                    if best_score is None or score > best_score:
                        best, best_score = cand, score
                    break
        named = self._named.get(agent.id)
        if named:
            s = self._head(named, math.inf, agent.id, now)
            if s is not None:
                weight = self._queues[s.queue].cfg.weight
                score = (s.level, weight * (now - s.since), -s.order)
                if best_score is None or score > best_score:
                    best = s
        return best

    def _best_agent_for(self, s: SessionRec, now: float) -> AgentRec | None:
        if s.named_pending():
            assert s.named_agent is not None
            agent = self._agents.get(s.named_agent)
            if agent is not None and agent.is_free() and not self._excluded(s, agent.id, now):
                return agent
            return None
        q = self._queues[s.queue]
        waited = now - s.since
        for tier in q.tier_order:
            if q.delays[tier] > waited:
                continue
            heap = q.free.get((tier, s.language))
            if not heap:
                continue
            found = self._free_head(heap, s, now)
            if found is not None:
                return found
        return None

    def _free_head(self, heap: list[AgentEntry], s: SessionRec, now: float) -> AgentRec | None:
        agents = self._agents
        while heap:
            entry = heap[0]
            agent = agents.get(entry[3])
            if agent is None or agent.version != entry[2] or not agent.is_free():
                heapq.heappop(heap)
                continue
            if not self._excluded(s, agent.id, now):
                return agent
            break
        else:
            return None
        for entry in sorted(heap):
            agent = agents.get(entry[3])
            if (
                agent is not None
                and agent.version == entry[2]
                and agent.is_free()
                and not self._excluded(s, agent.id, now)
            ):
                return agent
        return None

    def _offer(self, s: SessionRec, agent: AgentRec, now: float, actions: Actions) -> None:
        q = self._queues[s.queue]
        was_free = agent.is_free()
        s.state = SessionState.OFFERED
        s.token = -1
        s.agent = agent.id
        self._positions_dirty(q, now, actions)  # its caller's wait is now 0
        if s.offered_at is None:
            s.offered_at = now
        agent.offer = s.id
        self._free_changed(agent, was_free, now)
        self._cancel(f"idle:{agent.id}", actions)
        expires = now + q.cfg.ring_timeout_s
        number = None
        if s.callback:
            number = s.display_number or (mask_number(s.caller) if s.caller else None)
        actions.append(
            OfferSession(
                agent=agent.id,
                session=s.id,
                queue=s.queue,
                expires_at=expires,
                priority=s.priority,
                callback_number=number,
                waited_s=now - s.since,
                consult_of=s.consult_of,
            )
        )
        self._start(f"ring:{s.id}", expires, actions)

    def _offer_session(self, s: SessionRec, now: float, actions: Actions) -> None:
        """Offer a session that just became (or stayed) WAITING to the best free agent.

        The agent found is given the best session *it* may take, which is ``s`` unless
        another one became eligible at the same instant (two timers due together); then
        ``s`` tries the next agent.
        """
        while s.state is SessionState.WAITING:
            agent = self._best_agent_for(s, now)
            if agent is None:
                return
            best = self._best_session_for(agent, now)
            self._offer(best or s, agent, now, actions)

    def _end_consult(self, s: SessionRec, reason: str, now: float, actions: Actions) -> None:
        """End the open consult of call ``s``: stop ringing for it, or let the consulted
        agent go (a zero-second wrap-up: a consult has no disposition of its own)."""
        assert s.consult is not None
        c = self._sessions.pop(s.consult)
        s.consult = None
        self._drop_session_timers(c, actions)
        agent = self._agents.get(c.agent) if c.agent is not None else None
        if c.state is SessionState.OFFERED and agent is not None:
            actions.append(CancelOffer(agent.id, c.id, f"consult {reason}"))
            self._release_offer(c, agent, now, actions, exclude=False)
        if c.state is not SessionState.IN_SESSION:
            self._leave_line(c, now, actions)
        joined = c.agent if c.state is SessionState.IN_SESSION else None
        actions.append(
            ConsultChanged(s.id, c.id, ConsultState.ENDED, c.queue, s.agent, joined, reason)
        )
        if agent is not None:
            if c.state is SessionState.IN_SESSION:
                agent.session = None
                self._set_presence(agent, Presence.WRAP_UP, None, now, actions)
                self._set_presence(agent, Presence.AVAILABLE, None, now, actions)
            self._offer_agent(agent, now, actions)

    def _offer_agent(self, agent: AgentRec, now: float, actions: Actions) -> None:
        """Offer a free agent the best waiting session it may take."""
        if not agent.is_free():
            return
        s = self._best_session_for(agent, now)
        if s is not None:
            self._offer(s, agent, now, actions)
        else:
            self._arm_idle_timer(agent, now, actions)

    def _release_offer(
        self, s: SessionRec, agent: AgentRec, now: float, actions: Actions, exclude: bool
    ) -> None:
        """Withdraw ``s`` from ``agent``: ``s`` waits again, ``agent`` is no longer ringing."""
        self._cancel(f"ring:{s.id}", actions)
        was_free = agent.is_free()
        agent.offer = None
        if exclude:
            until = now + self.config.reoffer_after_s
            s.excluded[agent.id] = until
            self._start(
                f"retry:{s.id}",
                min(until, self._timers.get(TimerKey(f"retry:{s.id}"), until)),
                actions,
            )
        self._free_changed(agent, was_free, now)

    # --- positions

    def _positions_dirty(self, q: QueueRec, now: float, actions: Actions) -> None:
        interval = self.config.position_interval_s
        if now >= q.last_tick + interval:
            self._position_tick(q, now, actions)
        else:
            self._start(f"pos:{q.cfg.id}", q.last_tick + interval, actions)

    def _estimate(self, q: QueueRec, s: SessionRec, position: int) -> float | None:
        """The wait ``s`` can expect at ``position``: ``None`` when nobody staffing the
        queue could take it (nobody signed in, or nobody who speaks its language), so
        no number of minutes is promised; 0 while an agent is being rung for it."""
        if s.state is SessionState.OFFERED:
            return 0.0
        if q.staffed == 0 or (s.language is not None and not q.speakers.get(s.language)):
            return None
        raw = position * q.aht / q.staffed
        step = self.config.estimate_granularity_s
        return math.ceil(raw / step) * step if step > 0 else raw

    def _position_tick(self, q: QueueRec, now: float, actions: Actions) -> None:
        """Tell every caller in ``q`` whose position or estimate changed (rate-limited)."""
        q.last_tick = now
        self._cancel(f"pos:{q.cfg.id}", actions)
        sessions = self._sessions
        # Two C-level stable sorts: oldest first, then the highest level first.
        line = sorted([sessions[sid] for sid in q.members], key=_BY_AGE)
        line.sort(key=_BY_LEVEL, reverse=True)
        interval = self.config.position_interval_s
        held = False
        for position, s in enumerate(line, 1):
            if s.callback or s.consult_of is not None:
                continue
            est = self._estimate(q, s, position)
            if position == s.told_pos and est == s.told_est:
                continue
            if now < s.told_at + interval:
                held = True
                continue
            s.told_pos, s.told_est, s.told_at = position, est, now
            actions.append(TellPosition(s.id, position, est))
        if held:
            # One tick per queue per interval, even if a held caller is due sooner: a
            # tick costs the whole line, so it must not follow every arrival.
            self._start(f"pos:{q.cfg.id}", now + interval, actions)

    # --- duty

    def _queue_on_duty(self, q: QueueRec, now: float) -> bool:
        cached = self._duty_cache.get(q.cfg.id)
        if cached is not None and now < cached[1]:
            return cached[0]
        on = False
        until = math.inf
        offset = self.config.utc_offset_s
        for profile in self._profiles.values():
            if q.cfg.id not in self._served_queues(profile):
                continue
            if rota.on_duty(profile.shifts, now, offset):
                on = True
            until = min(until, rota.next_change(profile.shifts, now, offset))
        self._duty_cache[q.cfg.id] = (on, until)
        return on

    def _redispatch_queue(self, q: QueueRec, now: float, actions: Actions) -> None:
        """After tiers opened early (an emptied tier is skipped), offer to free agents."""
        free: dict[AgentId, AgentRec] = {}
        for heap in q.free.values():
            for entry in heap:
                agent = self._agents.get(entry[3])
                if agent is not None and agent.version == entry[2] and agent.is_free():
                    free[agent.id] = agent
        for agent in sorted(free.values(), key=lambda a: a.order):
            self._offer_agent(agent, now, actions)
