"""The durable record: typed SQLAlchemy 2 models, one schema for SQLite and PostgreSQL.

Staff and their agent profiles, the district's service points, live sessions and
their single terminal outcome, cases, outcomes, tickets, recordings and the audit
log. Nothing the routing engine needs to route lives only here, and nothing a user
must keep lives only in Redis (DESIGN.md, "Persistence").
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from cases import phone


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def stored_phone(value: str | None) -> str | None:
    """Phone numbers are stored in E.164 however they were typed (``PhoneError`` if
    invalid), so one caller's records always carry the same number."""
    return None if value is None else phone.parse(value)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as the value string, checked by the application, so that adding a
    # member needs no ALTER TYPE on PostgreSQL.
    return Enum(
        cls,
        native_enum=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Role(enum.StrEnum):
    LAWYER = "lawyer"
    MEDIATOR = "mediator"
    NOTARY = "notary"
    LEGAL_AID = "legal_aid"
    BACK_OFFICE = "back_office"  # 后台: legal aid centre, mediation committee, notary office …
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def is_agent(self) -> bool:
        return self in AGENT_ROLES


AGENT_ROLES = frozenset({Role.LAWYER, Role.MEDIATOR, Role.NOTARY, Role.LEGAL_AID})
# Who oversees the centre: the supervisor wall, any room's figures, any recording.
SUPERVISOR_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
# Who works the tickets (工单) of the back offices: the /tickets page.
BACK_OFFICE_ROLES = frozenset({Role.BACK_OFFICE, Role.SUPERVISOR, Role.ADMIN})


class ServicePointLevel(enum.StrEnum):
    """District (区) → town/street (镇/街) → village/community (村/居)."""

    DISTRICT = "district"
    TOWN = "town"
    VILLAGE = "village"


class SessionChannel(enum.StrEnum):
    PHONE = "phone"
    WEB_VOICE = "web_voice"
    WEB_VIDEO = "web_video"


class SessionOutcome(enum.StrEnum):
    """Every session ends in exactly one of these ways (routing issue)."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    CALLBACK_DONE = "callback_done"
    CALLBACK_FAILED = "callback_failed"  # an attempt that did not reach the caller
    VOICEMAIL = "voicemail"
    TRANSFERRED = "transferred"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"  # the agent was lost mid-call; the caller went on


class CaseKind(enum.StrEnum):
    CONSULTATION = "consultation"
    MEDIATION = "mediation"
    NOTARY = "notary"


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TicketStatus(enum.StrEnum):
    """A ticket's lifecycle; the allowed steps are ``cases.tickets.TRANSITIONS``."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    RETURNED = "returned"  # sent back: not this office's matter, or cannot be done


class TicketKind(enum.StrEnum):
    REFERRAL = "referral"  # to a back office (legal aid, mediation, notary, 12345, …)
    VOICEMAIL = "voicemail"  # a message left after hours (hotline.contact.OutcomeWriter)
    CALLBACK = "callback"  # a dissatisfied caller is called back (every one of them)
    COMPLAINT = "complaint"
    ESCALATION = "escalation"  # 吹哨报到: acknowledged within 10 minutes


class Office(enum.StrEnum):
    """The back-office queues tickets go to (前台统一受理、后台分别办理)."""

    LEGAL_AID = "legal_aid"  # 法律援助中心
    MEDIATION = "mediation"  # 人民调解委员会
    NOTARY = "notary"  # 公证处
    GOV_12345 = "gov_12345"  # 12345 政务服务热线
    OTHER_AGENCY = "other_agency"
    SUPERVISORS = "supervisors"  # callbacks, complaints, escalations


class ServicePoint(Base):
    """A district centre, a town service station or a village point."""

    __tablename__ = "service_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[ServicePointLevel] = mapped_column(_enum(ServicePointLevel))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("service_points.id"), default=None)

    parent: Mapped[ServicePoint | None] = relationship(remote_side=[id], lazy="raise")


class User(Base):
    """A member of staff who signs in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    profile: Mapped[AgentProfile | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.roles)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(_enum(Role))

    user: Mapped[User] = relationship(back_populates="roles")


class AgentProfile(Base):
    """What routing needs to know about an agent: skills, tier, languages, home town."""

    __tablename__ = "agent_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    tier: Mapped[int] = mapped_column(Integer, default=1)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    home_point_id: Mapped[int | None] = mapped_column(ForeignKey("service_points.id"))

    user: Mapped[User] = relationship(back_populates="profile")
    skills: Mapped[list[AgentSkill]] = relationship(
        back_populates="profile", cascade="all, delete-orphan", lazy="selectin"
    )
    shifts: Mapped[list[AgentShift]] = relationship(
        back_populates="profile", cascade="all, delete-orphan", lazy="selectin"
    )
    home_point: Mapped[ServicePoint | None] = relationship(lazy="selectin")


class AgentSkill(Base):
    __tablename__ = "agent_skills"
    __table_args__ = (UniqueConstraint("profile_id", "skill"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("agent_profiles.id", ondelete="CASCADE"))
    skill: Mapped[str] = mapped_column(String(48))
    proficiency: Mapped[int] = mapped_column(Integer)  # 1–5, checked by the repository

    profile: Mapped[AgentProfile] = relationship(back_populates="skills")


class AgentShift(Base):
    """A duty-rota shift in the centre's local time; an end not after the start is night duty.

    An agent with no shifts is on duty whenever signed in.
    """

    __tablename__ = "agent_shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("agent_profiles.id", ondelete="CASCADE"))
    weekdays: Mapped[list[int]] = mapped_column(JSON)  # 0 = Monday
    start: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    end: Mapped[str] = mapped_column(String(5))

    profile: Mapped[AgentProfile] = relationship(back_populates="shifts")


class SessionRecord(Base):
    """One live interaction (a hotline call or a video room) and how it ended."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    queue: Mapped[str] = mapped_column(String(48))
    channel: Mapped[SessionChannel] = mapped_column(_enum(SessionChannel))
    caller_phone: Mapped[str | None] = mapped_column(String(32))
    priority_class: Mapped[str | None] = mapped_column(String(32))
    agent_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    offered_at: Mapped[datetime | None] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[SessionOutcome | None] = mapped_column(_enum(SessionOutcome))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @validates("caller_phone")
    def _caller_phone(self, _key: str, value: str | None) -> str | None:
        return stored_phone(value)


class Case(Base):
    """A consultation, mediation or notary matter; may span several sessions."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[CaseKind] = mapped_column(_enum(CaseKind))
    category: Mapped[str] = mapped_column(String(48))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.OPEN)
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    service_point_id: Mapped[int | None] = mapped_column(ForeignKey("service_points.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Outcome(Base):
    """The recorded result of a case (e.g. mediation agreement reached)."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(48))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """Front desk / back office (工单): what could not be answered on the call."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # voicemail, callback, referral, ...
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.OPEN)
    # No foreign key: a ticket is taken while its session is still being recorded.
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    department: Mapped[str | None] = mapped_column(String(64))
    caller_phone: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    # 吹哨报到: an escalation not acknowledged by then is overdue.
    ack_due_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    result_note: Mapped[str] = mapped_column(Text, default="")
    # The agent who handled the call: they see the result (GET /api/my/tickets).
    agent_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    @validates("caller_phone")
    def _caller_phone(self, _key: str, value: str | None) -> str | None:
        return stored_phone(value)


class Disposition(Base):
    """How the agent closed a session's wrap-up (one per session; amendments audited)."""

    __tablename__ = "dispositions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), unique=True
    )
    agent_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))  # cases.dispositions.DispositionKind
    category: Mapped[str] = mapped_column(String(48))
    notes: Mapped[str] = mapped_column(Text, default="")
    callback_at: Mapped[datetime | None] = mapped_column()
    agency: Mapped[str | None] = mapped_column(String(100))
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Survey(Base):
    """The caller's satisfaction rating after the call (one per session)."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), unique=True
    )
    rating: Mapped[int] = mapped_column(Integer)  # 1–5
    comment: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackNumber(Base):
    """The full number of a caller who asked to be called back: encrypted, kept until
    ``expires_at`` (retention), revealed only to the agent holding the offer, audited."""

    __tablename__ = "callback_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key: the number is taken while the session is still live.
    session_id: Mapped[str] = mapped_column(String(64), unique=True)
    sealed: Mapped[str] = mapped_column(Text)  # AES-GCM of the E.164 number (cases.callbacks)
    masked: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Recording(Base):
    """One recording of a room: per-participant files and a manifest."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(String(64))
    # No foreign key: a call's recording is written as its session's row is (at the end).
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    manifest_path: Mapped[str | None] = mapped_column(String(512))

    files: Mapped[list[RecordingFile]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", lazy="selectin"
    )


class RecordingFile(Base):
    __tablename__ = "recording_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    participant: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))

    recording: Mapped[Recording] = relationship(back_populates="files")


class AuditEntry(Base):
    """Append-only: sign-ins, reads of recordings, changes of outcomes."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class WebSession(Base):
    """Server-side sign-in session; the cookie holds only the random id."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
