"""Recordings over HTTP: one route that plays a recorded file back (issue 8: a voice
message heard from its ticket).

- ``GET /api/recordings/{recording_id}/files/{n}``: the recording's ``n``-th file (0 for a
  voice message, which has one), for signed-in staff whom ``recordings.store`` lets read
  it (``open_recording``: supervisors and admins, the session's agent, the case owner,
  back office for a session that left a voicemail ticket). Every attempt is audited
  there (``recording.read`` / ``recording.read_denied``). Callers hold no staff session:
  401, whatever token they carry. A voicemail room's file is ``audio/webm`` (Opus
  alone), any other ``video/webm``; served with ranges (``<audio>`` seeks), never cached,
  and only from inside ``HOTLINE_DATA_DIR/recordings`` (a row pointing elsewhere is 404).

- ``discard_voicemail(app, room)``: signaling's ``discard_recording`` hook: a voice
  message its caller cancelled or gave up is deleted (``recordings.store.discard_room``,
  audited ``recording.discarded``).

Wiring only: who may read is ``recordings.store``'s; this turns its errors into statuses.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from hotline import keys
from hotline.auth import SIGNED_IN, allow
from hotline.web import viewer_of
from recordings.errors import RecordingAccessDenied, RecordingNotFound
from recordings.store import discard_room, open_recording
from rooms import RoomKind, kind_of

log = logging.getLogger("hotline.recordings")
routes = web.RouteTableDef()

ID_MAX = 64
AUDIO = "audio/webm"
VIDEO = "video/webm"


async def discard_voicemail(app: web.Application, room: str) -> None:
    """Delete a voicemail room's recordings (only ever one of those: ``V-<session>``)."""
    if kind_of(room) is not RoomKind.VOICEMAIL:
        raise ValueError(f"{room} is not a voicemail room")
    count = await discard_room(
        app[keys.DB],
        room_id=room,
        recording_dir=app[keys.SETTINGS].data_dir / "recordings",
        actor="caller",
    )
    log.info("voicemail_discarded", extra={"room": room, "recordings": count})


def file_url(recording_id: str, index: int = 0) -> str:
    """Where a page plays a recording's file from."""
    return f"/api/recordings/{recording_id}/files/{index}"


def _servable(path: Path, root: Path) -> Path | None:
    """``path`` resolved, if it is a file inside ``root`` (else None)."""
    path = path.resolve()
    return path if path.is_relative_to(root.resolve()) and path.is_file() else None


@routes.get("/api/recordings/{recording_id}/files/{index}")
@allow(SIGNED_IN)
async def recording_file(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    assert viewer is not None
    recording_id = request.match_info["recording_id"]
    raw_index = request.match_info["index"]
    if not 0 < len(recording_id) <= ID_MAX or not raw_index.isdigit() or len(raw_index) > 4:
        raise web.HTTPNotFound()
    try:
        view = await open_recording(
            request.app[keys.DB],
            recording_id=recording_id,
            viewer_user_id=viewer.user_id,
            viewer_name=viewer.username,
        )
    except RecordingNotFound as exc:
        raise web.HTTPNotFound() from exc
    except RecordingAccessDenied as exc:
        raise web.HTTPForbidden(reason="Not yours to hear.") from exc
    index = int(raw_index)
    if index >= len(view.files):
        raise web.HTTPNotFound()
    root = request.app[keys.SETTINGS].data_dir / "recordings"
    path = await asyncio.to_thread(_servable, Path(view.files[index].path), root)
    if path is None:
        log.warning("recording_file_unavailable", extra={"recording": recording_id})
        raise web.HTTPNotFound()
    kind = AUDIO if kind_of(view.room_id) is RoomKind.VOICEMAIL else VIDEO
    return web.FileResponse(
        path,
        headers={
            "Content-Type": kind,
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
