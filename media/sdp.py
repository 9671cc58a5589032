"""SDP checks at the edge: one codec per kind in every room (VP8 video, Opus audio).

Forwarding without transcoding only works if every peer sends and receives the same
codec, so the SFU strips every other codec from an offer before aiortc sees it (aiortc
would otherwise pick the offerer's first common codec, e.g. H264) and refuses an offer
that has none of ours.
"""

from __future__ import annotations

from aiortc import sdp

from media.errors import NegotiationError

ROOM_CODECS = {"video": "video/vp8", "audio": "audio/opus"}


def restrict_codecs(offer_sdp: str) -> str:
    """``offer_sdp`` with only VP8 (and its RTX) in video and Opus in audio sections."""
    try:
        description = sdp.SessionDescription.parse(offer_sdp)
    except (ValueError, IndexError, KeyError) as exc:
        raise NegotiationError(f"unparseable SDP offer: {exc}") from exc
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
