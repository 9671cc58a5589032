"""Pure parts of media/: TURN credentials, ICE configuration, routes, SDP codec filter."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
from aiortc import RTCBundlePolicy, RTCPeerConnection

from media.errors import NegotiationError
from media.ice import IceSettings, rtc_configuration, turn_credentials
from media.manager import RoomManager
from media.recording import RoomRecording
from media.routes import RouteMatrix
from media.sdp import restrict_codecs
from recordings.model import RecordedParticipant


class TestTurnCredentials:
    def test_coturn_rest_api_form(self) -> None:
        """username = expiry:user, password = base64(HMAC-SHA1(secret, username))."""
        creds = turn_credentials("s3cret", "alice", ttl=600, now=1_000_000)
        assert creds.username == "1000600:alice"
        expected = base64.b64encode(
            hmac.new(b"s3cret", b"1000600:alice", hashlib.sha1).digest()
        ).decode()
        assert creds.password == expected
        assert creds.expires_at == 1_000_600

    def test_refuses_empty_secret_and_colon(self) -> None:
        """No secret, or a ':' in the user, is an error rather than a bad credential."""
        with pytest.raises(ValueError, match="secret"):
            turn_credentials("", "alice")
        with pytest.raises(ValueError, match="':'"):
            turn_credentials("x", "a:b")

    def test_settings_mint_servers(self) -> None:
        """TURN entries carry fresh credentials; no servers configured means none at all."""
        assert IceSettings().servers_for("u") == []
        settings = IceSettings(
            stun_urls=["stun:stun.example:3478"],
            turn_urls=["turn:turn.example:3478?transport=udp"],
            turn_secret="k",
        )
        servers = settings.browser_config("bob", now=0)
        assert servers[0] == {"urls": ["stun:stun.example:3478"]}
        assert servers[1]["username"] == "3600:bob"


class TestIceConfiguration:
    def test_explicit_empty_servers_and_max_bundle(self) -> None:
        """Peer connections get an explicit (empty) server list, never aiortc's default STUN."""
        config = rtc_configuration([])
        assert config.iceServers == []
        assert config.bundlePolicy == RTCBundlePolicy.MAX_BUNDLE

    def test_manager_refuses_unset_servers(self, tmp_path: Path) -> None:
        """A RoomManager cannot be built without an explicit ICE server list."""
        with pytest.raises(ValueError, match="explicitly"):
            RoomManager(ice_servers=None, recording_dir=tmp_path)  # type: ignore[arg-type]


class TestRouteMatrix:
    def test_default_open_and_changes(self) -> None:
        """Everyone hears everyone by default; a rule cuts one direction and kind only."""
        matrix = RouteMatrix()
        assert matrix.allows("a", "b", "audio")
        assert matrix.set("a", "b", audio=False, video=True)
        assert not matrix.allows("a", "b", "audio")
        assert matrix.allows("a", "b", "video")
        assert matrix.allows("b", "a", "audio")
        assert not matrix.set("a", "b", audio=False, video=True)
        assert matrix.as_dict() == {"a": {"b": {"audio": False, "video": True}}}
        assert matrix.set("a", "b", audio=True, video=True)
        assert matrix.as_dict() == {}

    def test_mute_is_per_source_and_kind(self) -> None:
        """A server mute silences one source's kind towards everyone, until unmuted."""
        matrix = RouteMatrix()
        assert matrix.set_muted("a", "audio", True)
        assert not matrix.set_muted("a", "audio", True)
        assert not matrix.allows("a", "b", "audio")
        assert not matrix.allows("a", "c", "audio")
        assert matrix.allows("a", "b", "video")
        assert matrix.allows("b", "a", "audio")
        assert matrix.muted("a") == ["audio"]
        assert matrix.set_muted("a", "audio", False)
        assert matrix.allows("a", "b", "audio")

    def test_never_to_self(self) -> None:
        """A participant is never routed to itself."""
        with pytest.raises(ValueError, match="itself"):
            RouteMatrix().set("a", "a", audio=True, video=True)


class TestSdpCodecs:
    async def test_only_vp8_and_opus_survive(self) -> None:
        """An offer is cut down to VP8 (+RTX) and Opus before aiortc sees it."""
        pc = RTCPeerConnection(rtc_configuration([]))
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        offer = await pc.createOffer()
        await pc.close()
        assert "H264" in offer.sdp
        assert "PCMU" in offer.sdp
        filtered = restrict_codecs(offer.sdp)
        assert "H264" not in filtered
        assert "PCMU" not in filtered
        assert "VP8/90000" in filtered
        assert "opus/48000/2" in filtered

    def test_offer_without_our_codecs_is_refused(self) -> None:
        """An offer with no VP8 video cannot join (it would need transcoding)."""
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
            "m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
            "a=rtpmap:102 H264/90000\r\n"
        )
        with pytest.raises(NegotiationError, match="vp8"):
            restrict_codecs(sdp)

    def test_offer_without_media_is_refused(self) -> None:
        """An offer with no audio or video section would join a participant with nothing."""
        with pytest.raises(NegotiationError, match="no audio or video"):
            restrict_codecs("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")


CHROME_LIKE_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
)


class TestReofferAlignment:
    async def test_reoffer_keeps_the_clients_ids_and_payload_types(self) -> None:
        """A server re-offer keeps the browser's extension ids and payload types per mid."""
        from aiortc import RTCSessionDescription

        from media.sdp import align_extmap_ids, align_payload_types, extmap_ids, payload_types

        pc = RTCPeerConnection(rtc_configuration([]))
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        ours = pc.localDescription.sdp
        await pc.close()
        # pretend the session was set up by CHROME_LIKE_OFFER with mids 0 and 1
        ids = extmap_ids(CHROME_LIKE_OFFER)
        aligned = align_extmap_ids(align_payload_types(ours, payload_types(CHROME_LIKE_OFFER)), ids)
        assert "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid" in aligned
        assert "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level" in aligned
        assert "a=rtpmap:111 opus/48000/2" in aligned
        assert "a=rtpmap:96 VP8/90000" in aligned
        assert "a=fmtp:97 apt=96" in aligned
        RTCSessionDescription(aligned, "offer")  # still a well-formed description


class _FailingSink:
    """A sink whose database is down for one participant."""

    def __init__(self, fail_for: str) -> None:
        self.fail_for = fail_for
        self.reported: list[str] = []

    async def recording_finished(self, recording: RecordedParticipant) -> None:
        self.reported.append(recording.participant_id)
        if recording.participant_id == self.fail_for:
            raise RuntimeError("database down")


def _fake_files(recording: RoomRecording, names: list[str]) -> None:
    for name in names:
        recorder = recording.add(name, kinds={"audio"})
        recorder.path.parent.mkdir(parents=True, exist_ok=True)
        recorder.path.write_bytes(name.encode())


class TestRecordingSinkFailure:
    async def test_every_file_is_reported_before_the_failure_is_raised(
        self, tmp_path: Path
    ) -> None:
        """A sink failing for one participant still gets the others; then the error surfaces."""
        sink = _FailingSink("alice")
        recording = RoomRecording("room-x", tmp_path, sink)
        _fake_files(recording, ["alice", "bob", "carol"])
        with pytest.raises(RuntimeError, match="database down"):
            await recording.stop()
        assert sink.reported == ["alice", "bob", "carol"]
