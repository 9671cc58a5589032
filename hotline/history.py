"""Looking back: the duty lawyer's own sessions and the recordings of them.

Wiring only (the queries are ``cases.history``; recordings play through
``hotline.recordings_web``):

- ``GET /agent/history`` (agents): the agent's own recent sessions, newest first: when,
  category, town, channel, outcome, duration, disposition, and a link to each recording
  of the call (the agent's own calls only, so every link shown is one they may open):
  ``hotline.recordings_web``'s ``GET /api/recordings/{id}/files/{n}``, audited there.
- ``GET /api/sessions/{session_id}/earlier`` (agents, with ``X-History-Pass``): the
  caller's earlier sessions from the same number, for the desk while that session is
  offered to the agent. The pass is minted by the agent's signaling node as the
  leader's ``offer`` reaches the agent's socket (``history_pass``), like the callback
  number: only the agent the session is offered to holds one, for the ring time (and
  a desk that comes back to its live call, from its ``connected``, for a few seconds). It
  names the session, the agent and the caller's number key (a keyed hash, never the
  number); a missing, expired or someone else's pass is 403. Every attempt is audited
  (``caller_history.read`` / ``caller_history.read_denied``, target ``session:<id>``).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from cases import audit, history
from cases.models import AGENT_ROLES
from hotline import keys
from hotline.auth import allow
from hotline.recordings_web import file_url
from hotline.web import page, viewer_of
from signaling.tokens import TokenError

log = logging.getLogger("hotline.history")
routes = web.RouteTableDef()
RECORDING_ID_MAX = 64
SESSION_ID_MAX = 64
HISTORY_AUDIENCE = "caller_history"
PASS_MARGIN_S = 10.0  # the desk asks as the offer arrives; a little slack for the fetch
HISTORY_HEADER = "X-History-Pass"
HISTORY_READ = "caller_history.read"
HISTORY_READ_DENIED = "caller_history.read_denied"


def history_pass(
    app: web.Application, session_id: str, agent: str, caller: str, ring_s: float
) -> str:
    """``setup_signaling(history_pass=…)``: the pass of ``agent`` to the earlier sessions
    of ``caller`` (a number key) while ``session_id`` rings on their desk."""
    return app[keys.TOKENS].issue(
        aud=HISTORY_AUDIENCE,
        sub=agent,
        scope=f"{session_id} {caller}",
        ttl_s=max(0.0, ring_s) + PASS_MARGIN_S,
        now=time.time(),
    )


def local_time(value: datetime | None, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    return history.utc(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def duration(seconds: int | None) -> str | None:
    """``4:05``, ``1:02:03``; ``None`` for a call nobody answered."""
    if seconds is None:
        return None
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def shown(item: history.PastSession, zone: ZoneInfo) -> dict[str, Any]:
    """A past session as the pages and the desk show it (codes for ``label``)."""
    return {
        "id": item.id,
        "when": local_time(item.queued_at, zone),
        "category": item.category,
        "town": item.town,
        "channel": item.channel,
        "outcome": item.outcome,
        "duration": duration(item.duration_s),
        "disposition": item.disposition,
        "notes": item.notes,
        "agent": item.agent_name,
        "tickets": [
            {"kind": kind, "office": office, "status": status, "result": result}
            for kind, office, status, result in item.tickets
        ],
    }


@routes.get("/agent/history")
@allow(AGENT_ROLES)
async def history_page(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    assert viewer is not None
    zone = ZoneInfo(request.app[keys.SETTINGS].timezone)
    async with request.app[keys.DB].session() as session:
        rows = await history.agent_sessions(session=session, agent_user_id=viewer.user_id)
    sessions = [
        {
            **shown(r, zone),
            "recordings": [
                file_url(recording_id, index)
                for recording_id, files in r.recordings
                for index in range(files)
            ],
        }
        for r in rows
    ]
    return page(request, "history.html", sessions=sessions)


@routes.get("/api/sessions/{session_id}/earlier")
@allow(AGENT_ROLES)
async def earlier_sessions(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    assert viewer is not None
    session_id = request.match_info["session_id"]
    caller, refusal = _checked_pass(request, session_id)
    async with request.app[keys.DB].session() as session:
        await audit.record(
            session=session,
            actor=viewer.username,
            actor_user_id=viewer.user_id,
            action=HISTORY_READ_DENIED if refusal else HISTORY_READ,
            target=f"session:{session_id}"[:200],
            detail={"reason": refusal} if refusal else {},
        )
        if refusal is not None:
            return web.json_response(
                {
                    "error": "Only the agent this call is offered to may see the caller's "
                    "earlier calls.",
                    "status": 403,
                },
                status=403,
            )
        rows = await history.earlier_from_caller(session=session, caller=caller, before=session_id)
    zone = ZoneInfo(request.app[keys.SETTINGS].timezone)
    return web.json_response({"session_id": session_id, "sessions": [shown(r, zone) for r in rows]})


def _checked_pass(request: web.Request, session_id: str) -> tuple[str, str | None]:
    """(the pass's number key, ``None``) or ("", why the viewer may not see the earlier
    sessions of ``session_id``'s caller)."""
    viewer = viewer_of(request)
    assert viewer is not None
    if not 0 < len(session_id) <= SESSION_ID_MAX:
        return "", "bad session id"
    try:
        claims = request.app[keys.TOKENS].verify(
            request.headers.get(HISTORY_HEADER, ""), aud=HISTORY_AUDIENCE, now=time.time()
        )
    except TokenError as exc:
        return "", f"pass: {exc}"[:200]
    passed_session, _, caller = claims.scope.partition(" ")
    if passed_session != session_id or not caller:
        return "", "pass for another session"
    if claims.sub != viewer.username:
        return "", "pass for another agent"
    return caller, None
