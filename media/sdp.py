"""SDP checks at the edge: one codec per kind in every room (VP8 video, Opus audio).

Forwarding without transcoding only works if every peer sends and receives the same
codec, so the SFU strips every other codec from an offer before aiortc sees it (aiortc
would otherwise pick the offerer's first common codec, e.g. H264) and refuses an offer
that has none of ours.
"""

from __future__ import annotations

import re
from typing import Any

from aiortc import sdp

from media.errors import NegotiationError

ROOM_CODECS = {"video": "video/vp8", "audio": "audio/opus"}


def restrict_codecs(offer_sdp: str) -> str:
    """``offer_sdp`` with only VP8 (and its RTX) in video and Opus in audio sections."""
    try:
        description = sdp.SessionDescription.parse(offer_sdp)
    except (ValueError, IndexError, KeyError) as exc:
        raise NegotiationError(f"unparseable SDP offer: {exc}") from exc
    if not any(m.kind in ROOM_CODECS and m.port != 0 for m in description.media):
        raise NegotiationError("the offer has no audio or video section")
    for media in description.media:
        wanted = ROOM_CODECS.get(media.kind)
        if wanted is None:
            continue
        if media.port == 0:
            continue
        main = [c for c in media.rtp.codecs if c.mimeType.lower() == wanted]
        if not main:
            raise NegotiationError(f"the {media.kind} section offers no {wanted}")
        keep = {c.payloadType for c in main}
        rtx = [
            c
            for c in media.rtp.codecs
            if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") in keep
        ]
        media.rtp.codecs = main + rtx
        media.fmt = [c.payloadType for c in media.rtp.codecs]
    return str(description)


_EXTMAP = re.compile(r"^a=extmap:(\d+)(/\w+)? (\S+)(.*)$")


def extmap_ids(session_sdp: str) -> dict[str, int]:
    """The RTP header extension id of every URI in an SDP (one id space under BUNDLE)."""
    ids: dict[str, int] = {}
    for line in session_sdp.splitlines():
        match = _EXTMAP.match(line.strip())
        if match:
            ids.setdefault(match.group(3), int(match.group(1)))
    return ids


def align_extmap_ids(offer_sdp: str, ids: dict[str, int]) -> str:
    """Renumber the header extensions of a server re-offer to the ids already in use.

    aiortc numbers extensions from its own table in every offer it creates (mid=1,
    audio-level=2, abs-send-time=3), but in the answer to a browser's offer it used the
    browser's ids. Browsers refuse a re-offer that reassigns an id on a BUNDLE transport
    ("RTP extension ID reassignment not supported"), so the SFU rewrites its re-offers to
    the ids established in the session; the answer then carries them back to aiortc,
    which takes the answer's ids for its senders. URIs not seen yet get free ids (1-14),
    recorded in ``ids``.
    """
    lines = []
    for line in offer_sdp.split("\r\n"):
        match = _EXTMAP.match(line)
        if match:
            uri = match.group(3)
            if uri not in ids:
                used = set(ids.values())
                ids[uri] = next(i for i in range(1, 15) if i not in used)
            line = f"a=extmap:{ids[uri]}{match.group(2) or ''} {uri}{match.group(4)}"
        lines.append(line)
    return "\r\n".join(lines)


CodecKey = tuple[str, int, int | None]  # (mime type lower-case, clock rate, channels)
PayloadTypes = dict[str, dict[CodecKey | tuple[str, CodecKey], int]]


def _key(codec: Any) -> CodecKey:
    return (codec.mimeType.lower(), codec.clockRate, codec.channels)


def payload_types(session_sdp: str) -> PayloadTypes:
    """Per mid, the payload type of each codec, and of each RTX by the codec it repairs."""
    description = sdp.SessionDescription.parse(session_sdp)
    result: PayloadTypes = {}
    for media in description.media:
        if media.kind not in ROOM_CODECS or not media.rtp.muxId:
            continue
        by_pt: dict[Any, Any] = {c.payloadType: c for c in media.rtp.codecs}
        table: dict[CodecKey | tuple[str, CodecKey], int] = {}
        codec: Any
        for codec in media.rtp.codecs:
            if codec.mimeType.lower().endswith("/rtx"):
                target = by_pt.get(codec.parameters.get("apt"))
                if target is not None:
                    table[("rtx", _key(target))] = codec.payloadType
            else:
                table.setdefault(_key(codec), codec.payloadType)
        result[media.rtp.muxId] = table
    return result


def align_payload_types(offer_sdp: str, established: PayloadTypes) -> str:
    """Renumber the codecs of a server re-offer to the payload types already in use.

    Like header extension ids, aiortc numbers codecs from its own table in every offer,
    so a re-offer would move a browser's send section from, say, VP8=96 to VP8=97; the
    browser follows, and aiortc's receiver, whose payload types were fixed when it
    started, then takes the VP8 packets for RTX. Sections the client created keep the
    payload types of the client's offer; codecs with no established type are dropped.
    """
    description = sdp.SessionDescription.parse(offer_sdp)
    for media in description.media:
        table = established.get(media.rtp.muxId or "")
        if table is None:
            continue
        by_pt: dict[Any, Any] = {c.payloadType: c for c in media.rtp.codecs}
        mapping: dict[int, int] = {}
        codec: Any
        for codec in media.rtp.codecs:
            if codec.mimeType.lower().endswith("/rtx"):
                target = by_pt.get(codec.parameters.get("apt"))
                new = table.get(("rtx", _key(target))) if target is not None else None
            else:
                new = table.get(_key(codec))
            if new is not None:
                mapping[codec.payloadType] = new
        kept = []
        for codec in media.rtp.codecs:
            if codec.payloadType not in mapping:
                continue
            apt = codec.parameters.get("apt")
            if apt is not None:
                if apt not in mapping:
                    continue
                codec.parameters["apt"] = mapping[apt]
            codec.payloadType = mapping[codec.payloadType]
            kept.append(codec)
        media.rtp.codecs = kept
        media.fmt = [c.payloadType for c in kept]
    return str(description)
