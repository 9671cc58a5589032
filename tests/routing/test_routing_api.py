"""The public API: ids, model validation, presence table, rota, errors, serialization."""

from __future__ import annotations

import json

import pytest
from routing_harness import T0, profile

from routing import errors, rota
from routing.actions import (
    ACTION_TYPES,
    Action,
    AgentPresenceChanged,
    CancelOffer,
    CancelTimer,
    ConnectSession,
    ConsultChanged,
    ConsultState,
    CreateVoicemailTicket,
    OfferCallback,
    OfferSession,
    Outcome,
    SessionMoved,
    SessionRecorded,
    StartTimer,
    TellPosition,
    action_from_dict,
)
from routing.events import (
    EVENT_TYPES,
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
    event_from_dict,
)
from routing.ids import AgentId, CallerKey, Language, QueueId, SessionId, TimerKey
from routing.model import (
    AgentProfile,
    QueueConfig,
    RoutingConfig,
    Shift,
    TierRule,
    mask_number,
)
from routing.presence import TRANSITIONS, Presence, check_transition

S, A, Q = SessionId("s1"), AgentId("a1"), QueueId("labour")

EVENTS: list[Event] = [
    SessionQueued(
        now=T0,
        session=S,
        queue=Q,
        caller=CallerKey("13812345678"),
        priority="elderly",
        language=Language("yue"),
        named_agent=A,
        display_number="138****5678",
    ),
    CallerReturned(now=T0, session=S, queue=Q, caller=CallerKey("1")),
    SessionAbandoned(now=T0, session=S),
    SessionEnded(now=T0, session=S),
    CallbackRequested(now=T0, session=S),
    VoicemailRequested(now=T0, session=S),
    AgentSignedIn(
        now=T0,
        profile=profile(
            "a1",
            skills={"labour": 5},
            tiers={"labour": 2},
            shifts=(Shift("18:00", "08:00", night_duty=True),),
        ),
        presence=Presence.BREAK,
        reason="meeting",
    ),
    AgentSignedOut(now=T0, agent=A),
    AgentDisconnected(now=T0, agent=A),
    AgentStateChanged(now=T0, agent=A, presence=Presence.BREAK, reason="lunch"),
    OfferAccepted(now=T0, agent=A, session=S),
    OfferRejected(now=T0, agent=A, session=S),
    TimerFired(now=T0, key=TimerKey("ring:s1")),
    TransferRequested(now=T0, session=S, new_session=SessionId("s2"), to_queue=Q, to_agent=A),
    ConsultRequested(now=T0, session=S, to_agent=A),
    ConsultEnded(now=T0, session=S),
    HandOverRequested(now=T0, session=S),
]

ACTIONS: list[Action] = [
    OfferSession(agent=A, session=S, queue=Q, expires_at=T0 + 20, callback_number="138****5678"),
    CancelOffer(agent=A, session=S, reason="ring timeout"),
    ConnectSession(agent=A, session=S, queue=Q),
    StartTimer(key=TimerKey("ring:s1"), at=T0),
    CancelTimer(key=TimerKey("ring:s1")),
    TellPosition(session=S, position=3, estimated_wait_s=45.0),
    OfferCallback(session=S, waited_s=120.0),
    CreateVoicemailTicket(session=S, queue=Q, caller=None, reason="outside duty hours"),
    SessionMoved(session=S, from_queue=Q, to_queue=QueueId("general"), reason="overflow"),
    AgentPresenceChanged(agent=A, presence=Presence.BREAK, reason="missed offers"),
    SessionRecorded(
        session=S,
        queue=Q,
        outcome=Outcome.ANSWERED,
        queued_at=T0,
        ended_at=T0 + 100,
        offered_at=T0 + 1,
        answered_at=T0 + 2,
        agent=A,
    ),
    ConsultChanged(
        session=S,
        consult=SessionId("s1:c1"),
        state=ConsultState.ENDED,
        queue=Q,
        requester=A,
        consultant=AgentId("a2"),
        reason="ended",
    ),
]


class TestSerialization:
    def test_every_event_kind_is_covered(self) -> None:
        """The examples here cover every event and action kind there is."""
        assert {e.kind for e in EVENTS} == set(EVENT_TYPES)
        assert {a.kind for a in ACTIONS} == set(ACTION_TYPES)

    @pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
    def test_event_round_trip_through_json(self, event: Event) -> None:
        """An event survives to_dict, JSON and from_dict unchanged, tagged by kind."""
        data = json.loads(json.dumps(event.to_dict()))
        assert data["kind"] == event.kind
        assert Event.from_dict(data) == event
        assert event_from_dict(data) == event

    @pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.kind)
    def test_action_round_trip_through_json(self, action: Action) -> None:
        """An action survives to_dict, JSON and from_dict unchanged, tagged by kind."""
        data = json.loads(json.dumps(action.to_dict()))
        assert data["kind"] == action.kind
        assert Action.from_dict(data) == action

    def test_unknown_kind_and_bad_fields(self) -> None:
        """Unknown kinds and malformed fields raise SerializationError."""
        with pytest.raises(errors.SerializationError):
            event_from_dict({"kind": "nope", "now": 1})
        with pytest.raises(errors.SerializationError):
            action_from_dict({"kind": "nope"})
        with pytest.raises(errors.SerializationError):
            event_from_dict({"kind": "session_ended"})  # no now, no session
        with pytest.raises(errors.SerializationError):
            event_from_dict(
                {"kind": "agent_state_changed", "now": 1, "agent": "a", "presence": "x"}
            )

    def test_config_round_trip(self) -> None:
        """A full configuration survives to_dict, JSON and from_dict."""
        cfg = RoutingConfig(roster=(profile("a1", shifts=(Shift("08:30", "17:30", (0, 1)),)),))
        assert RoutingConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


class TestModelValidation:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"min_proficiency": 6},
            {"tiers": ()},
            {"tiers": (TierRule(1, 30), TierRule(2, 0))},
            {"tiers": (TierRule(1, 0), TierRule(1, 30))},
            {"ring_timeout_s": 0},
            {"weight": 0},
            {"overflow_queue": QueueId("general")},
            {"overflow_queue": Q, "overflow_after_s": 10},
            {"callback_attempts": 0},
            {"callback_retry_s": -1},
        ],
    )
    def test_bad_queue(self, kwargs: dict) -> None:
        """Out-of-range or inconsistent queue settings raise ConfigError."""
        with pytest.raises(errors.ConfigError):
            QueueConfig(id=Q, required_skill="labour", **kwargs)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("start", "end", "days"),
        [
            ("8:00", "9", (1,)),
            ("25:00", "09:00", (1,)),
            ("08:00", "09:00", ()),
            ("x:y", "09:00", (1,)),
            ("08:00", "24:30", (1,)),
        ],
    )
    def test_bad_shift(self, start: str, end: str, days: tuple[int, ...]) -> None:
        """Shift times must be HH:MM in range, on at least one weekday."""
        with pytest.raises(errors.ConfigError):
            Shift(start, end, days)

    def test_bad_profile_and_config(self) -> None:
        """Proficiency outside 1..5, duplicate queues and bad overflow targets are refused."""
        with pytest.raises(errors.ConfigError):
            AgentProfile(id=A, skills={"labour": 0})  # type: ignore[dict-item]
        q = QueueConfig(id=Q, required_skill="labour")  # type: ignore[arg-type]
        with pytest.raises(errors.ConfigError):
            RoutingConfig(queues=(q, q))
        with pytest.raises(errors.ConfigError):
            RoutingConfig(
                queues=(
                    QueueConfig(
                        id=Q,
                        required_skill="labour",
                        overflow_queue=QueueId("x"),
                        overflow_after_s=1,  # type: ignore[arg-type]
                    ),
                )
            )
        with pytest.raises(errors.ConfigError):
            RoutingConfig(priority_classes=())
        with pytest.raises(errors.ConfigError):
            RoutingConfig(max_missed_offers=0)

    def test_lookup_and_hash(self) -> None:
        """Queues are found by id; profiles hash by agent id."""
        cfg = RoutingConfig()
        assert cfg.queue(QueueId("general")) is not None
        assert cfg.queue(QueueId("nope")) is None
        assert hash(profile("a1")) == hash(AgentId("a1"))


class TestPresenceTable:
    def test_every_presence_has_a_row(self) -> None:
        """The transition table covers every presence."""
        assert set(TRANSITIONS) == set(Presence)

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            (Presence.OFFLINE, Presence.IN_SESSION),
            (Presence.BREAK, Presence.IN_SESSION),
            (Presence.IN_SESSION, Presence.AVAILABLE),
            (Presence.IN_SESSION, Presence.BREAK),
            (Presence.AVAILABLE, Presence.WRAP_UP),
        ],
    )
    def test_illegal_transitions_raise(self, old: Presence, new: Presence) -> None:
        """A transition missing from the table raises IllegalTransition."""
        with pytest.raises(errors.IllegalTransition):
            check_transition(old, new)

    def test_legal_transition_passes(self) -> None:
        """A transition in the table passes silently."""
        check_transition(Presence.WRAP_UP, Presence.AVAILABLE)


class TestRota:
    def test_day_shift(self) -> None:
        """A 09:00–17:00 weekday shift is on at 10:00 Monday, off at 08:00 and Sunday."""
        shifts = (Shift("09:00", "17:00", (0, 1, 2, 3, 4)),)
        offset = 8 * 3600
        assert rota.on_duty(shifts, T0 + 2 * 3600, offset)  # Monday 10:00 local
        assert not rota.on_duty(shifts, T0, offset)  # Monday 08:00 local
        assert not rota.on_duty(shifts, T0 - 22 * 3600, offset)  # Sunday 10:00 local
        assert rota.next_change(shifts, T0, offset) == T0 + 3600

    def test_night_duty_belongs_to_its_start_day(self) -> None:
        """A Sunday-only 18:00–08:00 night shift covers Monday 02:00 but not Tuesday 02:00."""
        shifts = (Shift("18:00", "08:00", (6,), night_duty=True),)
        offset = 8 * 3600
        monday_2am = T0 - 6 * 3600
        assert rota.on_duty(shifts, monday_2am, offset)
        assert not rota.on_duty(shifts, monday_2am + 86400, offset)
        assert rota.next_change(shifts, monday_2am, offset) == T0

    def test_whole_day_shift(self) -> None:
        """A 00:00–24:00 shift covers the whole day."""
        shifts = (Shift("00:00", "24:00"),)
        assert rota.on_duty(shifts, T0 + 5, 0)
        assert rota.on_duty(shifts, T0 - 5, 0)

    def test_no_shifts_means_always(self) -> None:
        """An agent with no rota is always on duty and never changes."""
        assert rota.on_duty((), T0, 0)
        assert rota.next_change((), T0, 0) == float("inf")


class TestErrors:
    def test_every_error_is_a_routing_error(self) -> None:
        """Every exception class in routing.errors derives from RoutingError."""
        classes = [
            v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)
        ]
        assert all(issubclass(c, errors.RoutingError) for c in classes)
        assert len(classes) == 11

    def test_mask_number(self) -> None:
        """Phone numbers are masked as 138****5678; short ones entirely."""
        assert mask_number("13812345678") == "138****5678"
        assert mask_number("12348") == "*****"
