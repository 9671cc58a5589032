"""HTTP routes of the back office and of what follows a call.

Wiring only: the rules live in ``cases.tickets``, ``cases.dispositions``,
``cases.surveys`` and ``cases.towns``; this module parses requests, asks them, and turns
their errors into statuses (400 bad input, 403 not yours, 404 unknown, 409 conflict).

- ``GET  /tickets`` (back office, supervisors, admins): the ticket list, filtered by
  office, status and overdue; each ticket acknowledged, started, closed from a form
  (``POST /tickets/{id}``, works without scripts) or from ``tickets.js``
  (``POST /api/tickets/{id}/transition``).
- ``GET  /api/tickets?office=&status=&overdue=1``: the same list as JSON.
- ``GET  /api/my/tickets`` (agents): the tickets raised from the agent's own sessions,
  with their results.
- ``POST /api/sessions/{id}/disposition`` (the agent who handled the session), and
  ``GET`` the same address for what is recorded.
- ``POST /api/sessions/{id}/survey``: the caller, with a survey token for that session
  (``survey_token``, which signaling hands the caller when the call ends) or the caller
  token the session was placed with.
- ``GET  /api/towns`` (public): district → towns → villages.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent_console.i18n import N_, use_locale
from agent_console.i18n import gettext as _
from cases import callbacks, dispositions, surveys, tickets, towns
from cases.models import (
    AGENT_ROLES,
    BACK_OFFICE_ROLES,
    CallbackNumber,
    Office,
    Ticket,
    TicketKind,
    TicketStatus,
    utcnow,
)
from cases.phone import mask
from hotline import keys
from hotline.auth import PUBLIC, Handler, allow
from hotline.contact import CALLER_AUDIENCE, caller_claims
from hotline.recordings_web import file_url
from hotline.web import locale_of, page, viewer_of
from recordings.store import recordings_of_rooms
from rooms.model import voicemail_room
from signaling.identity import Identity
from signaling.protocol import Category
from signaling.tokens import TokenError
from signaling.web import SIGNALING

log = logging.getLogger("hotline.office")
routes = web.RouteTableDef()
# Seals callback numbers (cases.callbacks): the key derives from HOTLINE_SECRET_KEY.
NUMBER_SEAL: web.AppKey[callbacks.NumberSeal] = web.AppKey("number_seal")


def _localised(handler: Handler) -> Handler:
    """Messages of the handler in the request's language (cookie, then Accept-Language)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        with use_locale(locale_of(request)):
            return await handler(request)

    return wrapped


SURVEY_AUDIENCE = "survey"
SURVEY_TTL_S = 24 * 3600


def survey_token(app: web.Application, session_id: str, *, now: float | None = None) -> str:
    """A token that lets its holder rate ``session_id`` once, for a day: give it to the
    caller when the call ends (``POST /api/sessions/{id}/survey`` with
    ``Authorization: Bearer <token>``)."""
    return app[keys.TOKENS].issue(
        aud=SURVEY_AUDIENCE,
        sub=f"survey-{session_id}",
        scope=session_id,
        ttl_s=SURVEY_TTL_S,
        now=time.time() if now is None else now,
    )


def _survey_claims(request: web.Request, session_id: str) -> tuple[str, bool] | None:
    """(subject, token is for this session) from a survey token for ``session_id`` or a
    caller token; None if the request carries neither."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if token:
        try:
            claims = request.app[keys.TOKENS].verify(
                token, aud=SURVEY_AUDIENCE, now=time.time(), scope=session_id
            )
        except TokenError:
            pass
        else:
            return claims.sub, True
    caller = caller_claims(request, now=time.time())
    if caller is None or caller.aud != CALLER_AUDIENCE:
        return None
    return caller.sub, False


# ---------------------------------------------------------------- signaling's hooks
async def known_town(app: web.Application, code: str) -> bool:
    """``setup_signaling(known_town=…)``: a ``join_queue`` town is a town or village code
    from ``GET /api/towns``."""
    async with app[keys.DB].session() as session:
        return await towns.is_place(session=session, code=code)


async def keep_number(app: web.Application, session_id: str, number: str) -> None:
    """``setup_signaling(keep_number=…)``: a caller asking for a callback leaves the
    full number in the sealed store for the retention period."""
    await callbacks.keep(
        app[keys.DB],
        seal=app[NUMBER_SEAL],
        session_id=session_id,
        number=number,
        retention=app[keys.SETTINGS].retention.callback_numbers,
    )


async def reveal_number(app: web.Application, session_id: str, identity: Identity) -> str | None:
    """``setup_signaling(reveal_number=…)``: signaling asks only for the agent the leader
    offered the callback to; anyone else (no agent id) is refused. Audited either way;
    ``None`` when no number is kept."""
    staff_id = int(identity.user_id) if identity.user_id.isdigit() else None
    try:
        return await callbacks.reveal(
            db=app[keys.DB],
            seal=app[NUMBER_SEAL],
            session_id=session_id,
            viewer=identity.agent_id or identity.user_id,
            viewer_user_id=staff_id,
            allowed=identity.kind == "staff" and identity.agent_id is not None,
        )
    except (callbacks.NumberNotFound, callbacks.RevealRefused):
        return None


def setup_office(app: web.Application, secret_key: str) -> None:
    """The back office's routes and the callback number seal."""
    app[NUMBER_SEAL] = callbacks.NumberSeal(secret_key)
    app.router.add_routes(routes)


CATEGORIES = frozenset(c.value for c in Category)
CHECK = N_("Please check what you entered and try again.")
SESSION_ID_MAX = 64
_BACK = re.compile(r"[A-Za-z0-9_=&%.+-]{1,200}")


def _bad(
    message: str, *, field: str | None = None, status: int = 400, detail: str | None = None
) -> web.Response:
    """A JSON error: ``error`` in the caller's language (set by ``_localised``), ``field``
    the one at fault, ``detail`` the rule it broke (English, for developers)."""
    body: dict[str, Any] = {"error": message, "status": status}
    if field is not None:
        body["field"] = field
    if detail is not None:
        body["detail"] = detail
    return web.json_response(body, status=status)


async def _json(request: web.Request) -> dict[str, Any] | web.Response:
    if request.content_type != "application/json":
        return _bad(_("Send JSON (Content-Type: application/json)."))
    try:
        body = await request.json()
    except ValueError:
        return _bad(_("The body is not valid JSON."))
    if not isinstance(body, dict):
        return _bad(_("The body must be a JSON object."), field="body")
    return body


def _session_id(request: web.Request) -> str | None:
    value = request.match_info["session_id"]
    return value if 0 < len(value) <= SESSION_ID_MAX else None


def _iso(value: datetime | None) -> str | None:
    value = tickets.aware(value)
    return value.isoformat() if value else None


def ticket_json(
    ticket: Ticket,
    now: datetime,
    due: tickets.DueTimes,
    attached: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ticket as JSON; ``attached`` (``_attachments``): a voicemail's number and voice."""
    attached = attached or {}
    return {
        "id": ticket.id,
        "kind": ticket.kind,
        "status": TicketStatus(ticket.status).value,
        "office": ticket.department,
        "session_id": ticket.session_id,
        "body": ticket.body,
        "caller_phone": mask(ticket.caller_phone)
        if ticket.caller_phone
        else attached.get("caller_phone"),
        "recording": attached.get("recording"),
        "created_at": _iso(ticket.created_at),
        "due_at": _iso(tickets.due_at(ticket, due)),
        "ack_due_at": _iso(ticket.ack_due_at),
        "acknowledged_at": _iso(ticket.acknowledged_at),
        "resolved_at": _iso(ticket.resolved_at),
        "result_note": ticket.result_note,
        "overdue": tickets.is_overdue(ticket, now, due),
        "next": sorted(s.value for s in tickets.TRANSITIONS[TicketStatus(ticket.status)]),
    }


# ---------------------------------------------------------------- filters
class _Filters:
    """The list's filters from a query string; ``error`` names a bad one."""

    def __init__(self, query: Any) -> None:
        self.error: str | None = None
        self.office = query.get("office") or None
        if self.office is not None and (len(self.office) > tickets.OFFICE_MAX):
            self.error, self.office = "office", None
        raw_status = query.get("status") or None
        self.status: TicketStatus | None = None
        if raw_status is not None:
            try:
                self.status = TicketStatus(raw_status)
            except ValueError:
                self.error = "status"
        raw_overdue = query.get("overdue") or ""
        if raw_overdue not in ("", "0", "1"):
            self.error = "overdue"
        self.overdue: bool | None = True if raw_overdue == "1" else None

    def query(self) -> str:
        items = {
            "office": self.office or "",
            "status": self.status.value if self.status else "",
            "overdue": "1" if self.overdue else "",
        }
        return urlencode({k: v for k, v in items.items() if v})


async def _list(
    request: web.Request, filters: _Filters
) -> tuple[list[Ticket], datetime, dict[int, dict[str, Any]]]:
    now = utcnow()
    async with request.app[keys.DB].session() as session:
        rows = list(
            await tickets.listing(
                session=session,
                now=now,
                due=request.app[keys.SETTINGS].ticket_due,
                office=filters.office,
                status=filters.status,
                overdue=filters.overdue,
            )
        )
        attached = await _attachments(session, rows)
    return rows, now, attached


async def _attachments(session: AsyncSession, rows: list[Ticket]) -> dict[int, dict[str, Any]]:
    """What a voicemail ticket carries besides its text: the number the caller gave
    (kept sealed under the session, ``cases.callbacks``; shown masked) and the voice
    message recorded in the session's voicemail room (its newest recording)."""
    voicemails = {
        t.id: t.session_id for t in rows if t.kind == TicketKind.VOICEMAIL and t.session_id
    }
    if not voicemails:
        return {}
    roots = {sid: sid.partition(":")[0] for sid in voicemails.values()}
    found = await session.execute(
        select(CallbackNumber.session_id, CallbackNumber.masked).where(
            CallbackNumber.session_id.in_(set(roots.values()))
        )
    )
    numbers = dict(found.all())
    recorded = await recordings_of_rooms(
        session=session, rooms=[voicemail_room(sid) for sid in voicemails.values()]
    )
    out: dict[int, dict[str, Any]] = {}
    for ticket_id, sid in voicemails.items():
        refs = recorded.get(voicemail_room(sid), [])
        voice = refs[0] if refs else None
        out[ticket_id] = {
            "caller_phone": numbers.get(roots[sid]),
            "recording": None
            if voice is None or not voice.files
            else {
                "id": voice.recording_id,
                "url": file_url(voice.recording_id),
                "duration_s": round((voice.ended_at - voice.started_at).total_seconds(), 1)
                if voice.ended_at is not None
                else None,
            },
        }
    return out


# ---------------------------------------------------------------- the page
@routes.get("/tickets")
@allow(BACK_OFFICE_ROLES)
@_localised
async def tickets_page(request: web.Request) -> web.Response:
    filters = _Filters(request.query)
    if filters.error is not None:
        raise web.HTTPBadRequest(reason="Unknown filter.")
    rows, now, attached = await _list(request, filters)
    settings = request.app[keys.SETTINGS]
    zone = ZoneInfo(settings.timezone)

    def local(value: datetime | None) -> str | None:
        value = tickets.aware(value)
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else None

    shown = [
        {
            **ticket_json(t, now, settings.ticket_due, attached.get(t.id)),
            "due_local": local(tickets.due_at(t, settings.ticket_due)),
            "ack_due_local": local(t.ack_due_at),
        }
        for t in rows
    ]
    return page(
        request,
        "tickets.html",
        tickets=shown,
        filters=filters,
        offices=[o.value for o in Office],
        statuses=[s.value for s in TicketStatus],
        kinds=[k.value for k in TicketKind],
    )


class _Refused(Exception):
    """A request refused with a status and a message (and the field at fault)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def response(self) -> web.Response:
        return _bad(self.message, field=self.field, status=self.status)


async def _transition(
    request: web.Request, ticket_id_text: str, to_text: object, note: object
) -> tuple[Ticket, datetime]:
    viewer = viewer_of(request)
    assert viewer is not None
    if not ticket_id_text.isdigit() or len(ticket_id_text) > 12:
        raise _Refused(404, _("No such ticket."))
    try:
        to = TicketStatus(to_text) if isinstance(to_text, str) else None
    except ValueError:
        to = None
    if to is None:
        raise _Refused(400, _("Unknown ticket state."), "to")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise _Refused(400, _("The note must be text."), "note")
    now = utcnow()
    try:
        async with request.app[keys.DB].session() as session:
            ticket = await tickets.transition(
                session=session,
                ticket_id=int(ticket_id_text),
                to=to,
                actor=viewer.username,
                actor_user_id=viewer.user_id,
                note=note.strip(),
                now=now,
            )
    except tickets.TicketNotFound:
        raise _Refused(404, _("No such ticket.")) from None
    except tickets.IllegalTransition:
        raise _Refused(409, _("The ticket cannot move to that state now."), "to") from None
    except tickets.TicketInvalid:
        raise _Refused(
            400, _("Say why the ticket is returned (at most 2000 characters)."), "note"
        ) from None
    return ticket, now


@routes.post("/tickets/{ticket_id}")
@allow(BACK_OFFICE_ROLES)
@_localised
async def ticket_form(request: web.Request) -> web.Response:
    """The no-script path: a form per ticket action, back to the list."""
    form = await request.post()
    try:
        await _transition(
            request, request.match_info["ticket_id"], form.get("to"), form.get("note", "")
        )
    except _Refused as exc:
        return page(request, "error.html", status=exc.status, code=exc.status, message=exc.message)
    back = str(form.get("back", ""))
    # Only the list's own filters go back into the address (no open redirect).
    target = "/tickets" + (f"?{back}" if _BACK.fullmatch(back) else "")
    raise web.HTTPSeeOther(target)


@routes.get("/api/tickets")
@allow(BACK_OFFICE_ROLES)
@_localised
async def tickets_api(request: web.Request) -> web.Response:
    filters = _Filters(request.query)
    if filters.error is not None:
        return _bad(_("Unknown filter."), field=filters.error)
    rows, now, attached = await _list(request, filters)
    due = request.app[keys.SETTINGS].ticket_due
    return web.json_response(
        {"tickets": [ticket_json(t, now, due, attached.get(t.id)) for t in rows]}
    )


@routes.post("/api/tickets/{ticket_id}/transition")
@allow(BACK_OFFICE_ROLES)
@_localised
async def ticket_transition_api(request: web.Request) -> web.Response:
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    try:
        ticket, now = await _transition(
            request, request.match_info["ticket_id"], body.get("to"), body.get("note", "")
        )
    except _Refused as exc:
        return exc.response()
    return web.json_response(
        {"ticket": ticket_json(ticket, now, request.app[keys.SETTINGS].ticket_due)}
    )


@routes.post("/api/tickets/{ticket_id}/number")
@allow(BACK_OFFICE_ROLES)
@_localised
async def ticket_number_api(request: web.Request) -> web.Response:
    """The full number to call the ticket's caller back (lists show it masked);
    every reveal is audited."""
    viewer = viewer_of(request)
    assert viewer is not None
    text = request.match_info["ticket_id"]
    if not text.isdigit() or len(text) > 12:
        return _bad(_("No such ticket."), status=404)
    try:
        number = await tickets.call_back_number(
            db=request.app[keys.DB],
            seal=request.app[NUMBER_SEAL],
            ticket_id=int(text),
            actor=viewer.username,
            actor_user_id=viewer.user_id,
        )
    except tickets.TicketNotFound:
        return _bad(_("No such ticket."), status=404)
    except tickets.IllegalTransition:
        return _bad(_("The ticket is done: its number is no longer shown."), status=409)
    except tickets.NoNumber:
        return _bad(_("The caller left no number (or it is past its retention)."), status=404)
    return web.json_response({"phone": number})


@routes.get("/api/my/tickets")
@allow(AGENT_ROLES)
@_localised
async def my_tickets(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    assert viewer is not None
    now = utcnow()
    async with request.app[keys.DB].session() as session:
        rows = await tickets.for_agent(session=session, agent_user_id=viewer.user_id)
    due = request.app[keys.SETTINGS].ticket_due
    return web.json_response({"tickets": [ticket_json(t, now, due) for t in rows]})


# ---------------------------------------------------------------- after a call
@routes.get("/api/sessions/{session_id}/disposition")
@allow(AGENT_ROLES)
async def disposition_of(request: web.Request) -> web.Response:
    """The session's disposition as recorded (``null`` if none yet), for its agent."""
    viewer = viewer_of(request)
    assert viewer is not None
    session_id = _session_id(request)
    if session_id is None:
        return _bad(_("No such session."), status=404)
    row = await dispositions.of_session(request.app[keys.DB], session_id)
    if row is not None and row.agent_user_id != viewer.user_id:
        return _bad(_("Only the agent who took the call records its disposition."), status=403)
    return web.json_response(
        {
            "session_id": session_id,
            "disposition": dispositions.values_of(row) if row is not None else None,
            "ticket_id": row.ticket_id if row is not None else None,
        }
    )


@routes.post("/api/sessions/{session_id}/disposition")
@allow(AGENT_ROLES)
@_localised
async def disposition(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    assert viewer is not None
    session_id = _session_id(request)
    if session_id is None:
        return _bad(_("No such session."), status=404)
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    try:
        parsed = dispositions.parse(body, categories=CATEGORIES)
        row = await dispositions.record(
            request.app[keys.DB],
            session_id,
            viewer.user_id,
            parsed,
            actor=viewer.username,
            due=request.app[keys.SETTINGS].ticket_due,
        )
    except dispositions.DispositionInvalid as exc:
        return _bad(_(CHECK), field=exc.field, detail=exc.message)
    except dispositions.SessionNotFound:
        return _bad(_("No such session."), status=404)
    except dispositions.NotYourSession:
        return _bad(_("Only the agent who took the call records its disposition."), status=403)
    # The agent's wrap-up may end now (signaling.router keeps it until this).
    await request.app[SIGNALING].disposed(viewer.username, session_id)
    return web.json_response(
        {
            "session_id": session_id,
            "disposition": parsed.values(),
            "ticket_id": row.ticket_id,
        }
    )


@routes.post("/api/sessions/{session_id}/survey")
@allow(PUBLIC)  # the caller's token is checked here
@_localised
async def survey(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    if session_id is None:
        return _bad(_("No such session."), status=404)
    claims = _survey_claims(request, session_id)
    if claims is None:
        return _bad(_("A caller token is needed."), status=401)
    subject, for_session = claims
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    try:
        parsed = surveys.parse(body)
        row = await surveys.record(
            request.app[keys.DB],
            session_id,
            subject,
            parsed,
            for_session=for_session,
            due=request.app[keys.SETTINGS].ticket_due,
        )
    except surveys.SurveyInvalid as exc:
        return _bad(_(CHECK), field=exc.field, detail=exc.message)
    except surveys.SessionNotFound:
        return _bad(_("No such session."), status=404)
    except surveys.NotYourSession:
        return _bad(_("This survey is for the caller of that call."), status=403)
    except surveys.AlreadyAnswered:
        return _bad(_("This call has been rated already."), status=409)
    return web.json_response(
        {"session_id": session_id, "rating": row.rating, "callback": row.ticket_id is not None}
    )


@routes.get("/api/towns")
@allow(PUBLIC)
@_localised
async def towns_api(request: web.Request) -> web.Response:
    async with request.app[keys.DB].session() as session:
        places = await towns.tree(session=session)
    return web.json_response({"districts": [p.to_json() for p in places]})
