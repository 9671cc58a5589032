"""An SFU room: participants with one peer connection each, forwarding encoded frames.

Each participant's peer connection (max-bundle, VP8 + Opus only, explicit ICE servers)
carries its own camera and microphone up, and one send-only track per other
participant's audio and video down. Frames arrive through the encoded seam
(``EncodedReceiver``) and are pushed, still encoded, to each destination's
``PacketTrack`` that the route matrix allows, and to the recording tap.

Renegotiation is server-initiated: when a participant joins or leaves, every other
participant's connection gains or loses tracks, so the room re-offers to them through
the ``Renegotiate`` callback given at join (the signaling layer sends an ``offer`` and
returns the client's ``answer``). One negotiation at a time per participant; the first
waits until the participant is connected, which proves it applied the join answer.
A reconnect is a new join (aiortc has no ICE restart): the old connection is closed.

Keyframes: a destination's PLI/FIR goes to the source's receiver as a PLI, at most one
per source per ``KEYFRAME_INTERVAL``; the room also asks when a destination starts
receiving a source (join, re-route) and when recording starts. A destination track holds
video back until a keyframe, so nobody gets undecodable deltas after a cut.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from aiortc import (
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack

from media.encoded import (
    EncodedReceiver,
    PacketTrack,
    check_seam,
    on_keyframe_request,
    set_stream_id,
)
from media.errors import (
    DuplicateParticipant,
    NegotiationError,
    RecordingError,
    RoomError,
    RoomFullError,
    UnknownParticipant,
)
from media.ice import rtc_configuration
from media.recording import NullSink, RoomRecording
from media.routes import KINDS, RouteMatrix
from media.sdp import (
    PayloadTypes,
    align_extmap_ids,
    align_payload_types,
    extmap_ids,
    payload_types,
    restrict_codecs,
)
from media.stats import ParticipantStats, StatsSampler
from recordings.model import RecordedParticipant, RecordingSink
from rooms.actions import Action, SetRoute

logger = logging.getLogger(__name__)

Renegotiate = Callable[[str], Awaitable[str]]
"""Send the server's offer SDP to the participant; return its answer SDP."""

Announce = Callable[[str, Sequence[str]], Awaitable[None]]
"""Tell (room id, participant ids) that recording is about to start."""

KEYFRAME_INTERVAL = 0.3  # s: at most one PLI per source this often
NEGOTIATION_TIMEOUT = 15.0  # s for the client to answer a re-offer
CONNECT_TIMEOUT = 30.0  # s from the join answer to a connected peer connection

# What aiortc raises when an SDP cannot be applied; translated to NegotiationError.
AIORTC_ERRORS = (
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
    ValueError,
)


class ParticipantState(enum.IntEnum):
    JOINING = 0  # answered, not connected yet
    CONNECTED = 1
    LEFT = 2


_TRANSITIONS = {
    ParticipantState.JOINING: {ParticipantState.CONNECTED, ParticipantState.LEFT},
    ParticipantState.CONNECTED: {ParticipantState.LEFT},
    ParticipantState.LEFT: set(),
}


def _codec_preferences(kind: str) -> list[Any]:
    wanted = {"video": ("video/vp8", "video/rtx"), "audio": ("audio/opus",)}[kind]
    capabilities = RTCRtpSender.getCapabilities(kind)
    return [c for c in capabilities.codecs if c.mimeType.lower() in wanted]


@dataclass
class Outbound:
    """One source track forwarded to one destination."""

    source: str
    kind: str
    track: PacketTrack
    transceiver: RTCRtpTransceiver
    negotiated: bool = False


@dataclass
class Participant:
    id: str
    pc: RTCPeerConnection
    renegotiate: Renegotiate
    join_no: int = 0  # the room's count of joins when this one came: part of its track ids
    state: ParticipantState = ParticipantState.JOINING
    inbound: dict[str, EncodedReceiver] = field(default_factory=dict)
    outbound: dict[tuple[str, str], Outbound] = field(default_factory=dict)
    fanout: dict[str, list[PacketTrack]] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    negotiation_needed: asyncio.Event = field(default_factory=asyncio.Event)
    negotiations: int = 0
    last_keyframe_request: float = 0.0
    keyframe_requests_sent: int = 0
    deferred_keyframe: asyncio.TimerHandle | None = None
    negotiation_task: asyncio.Task[Any] | None = None
    joined_at: float = field(default_factory=time.monotonic)
    extmap: dict[str, int] = field(default_factory=dict)  # header extension ids in use
    payload_types: PayloadTypes = field(default_factory=dict)  # of the client's sections

    def set_state(self, new: ParticipantState) -> None:
        if new not in _TRANSITIONS[self.state]:
            raise RoomError(f"participant {self.id}: {self.state.name} -> {new.name} is illegal")
        logger.debug("participant %s: %s -> %s", self.id, self.state.name, new.name)
        self.state = new

    @property
    def sends(self) -> set[str]:
        return set(self.inbound)


class Room:
    """One room on this media node. Create through ``RoomManager.create_room``."""

    def __init__(
        self,
        room_id: str,
        *,
        ice_servers: Sequence[RTCIceServer],
        recording_dir: Path,
        recording_sink: RecordingSink | None = None,
        announce: Announce | None = None,
        max_participants: int = 8,
        on_empty: Callable[[Room], None] | None = None,
        on_left: Callable[[Room, str], None] | None = None,
    ) -> None:
        check_seam()
        self.id = room_id
        self.ice_servers = list(ice_servers)
        self.recording_dir = recording_dir
        self.recording_sink: RecordingSink = recording_sink or NullSink()
        self.announce = announce
        self.max_participants = max_participants
        self.participants: dict[str, Participant] = {}
        self.matrix = RouteMatrix()
        self.recording: RoomRecording | None = None
        self.forwarded_packets = 0
        self.closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._joins = itertools.count(1)
        self._stats = StatsSampler()
        self._on_empty = on_empty
        # Told of every participant that leaves, whoever caused it (``leave``, a
        # reconnect, a failed renegotiation, a connect timeout, the room closing).
        self._on_left = on_left

    # -- membership ---------------------------------------------------------------------

    async def join(self, participant_id: str, offer_sdp: str, renegotiate: Renegotiate) -> str:
        """Admit a participant from its SDP offer; return the answer SDP.

        A participant already in the room is replaced (a reconnect): its old peer
        connection is closed first.
        """
        if self.closed:
            raise RoomError(f"room {self.id} is closed")
        offer_sdp = restrict_codecs(offer_sdp)
        if participant_id in self.participants:
            await self.leave(participant_id)
        if len(self.participants) >= self.max_participants:
            raise RoomFullError(f"room {self.id} has {self.max_participants} participants")

        pc = RTCPeerConnection(rtc_configuration(self.ice_servers))
        participant = Participant(
            participant_id,
            pc,
            renegotiate,
            join_no=next(self._joins),
            extmap=extmap_ids(offer_sdp),
            payload_types=payload_types(offer_sdp),
        )

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._on_track(participant, track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            await self._on_connection_state(participant)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            for transceiver in pc.getTransceivers():
                transceiver.setCodecPreferences(_codec_preferences(transceiver.kind))
            await pc.setLocalDescription(await pc.createAnswer())
        except AIORTC_ERRORS as exc:
            await pc.close()
            raise NegotiationError(f"join {participant_id}: {exc}") from exc
        if participant_id in self.participants:
            await pc.close()
            raise DuplicateParticipant(participant_id)

        self.participants[participant_id] = participant
        for other in self.participants.values():
            if other is participant:
                continue
            self._add_outbound(source=other, destination=participant)
            self._add_outbound(source=participant, destination=other)
            other.negotiation_needed.set()
        participant.negotiation_needed.set()
        if self.recording is not None:
            if self.announce is not None:
                await self.announce(self.id, [participant_id])
            self._start_recorder(participant)
        participant.negotiation_task = self._spawn(
            self._negotiation_loop(participant), f"negotiate {participant_id}"
        )
        return pc.localDescription.sdp

    async def leave(self, participant_id: str) -> None:
        """Remove a participant: close its connection, retire its tracks elsewhere."""
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            raise UnknownParticipant(participant_id)
        participant.set_state(ParticipantState.LEFT)
        if participant.deferred_keyframe is not None:
            participant.deferred_keyframe.cancel()
        task = participant.negotiation_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # it may be waiting for an answer that will never come
        for tap in participant.inbound.values():
            tap.clear_listeners()
        for other in self.participants.values():
            removed = False
            for kind in KINDS:
                outbound = other.outbound.pop((participant_id, kind), None)
                if outbound is None:
                    continue
                outbound.track.stop()
                outbound.transceiver.direction = "inactive"
                removed = True
            if removed:
                other.negotiation_needed.set()
        self._rebuild_fanout()
        if self.recording is not None:
            self.recording.close_participant(participant_id)
        self._stats.forget(participant_id)
        await participant.pc.close()
        if self._on_left is not None:
            self._on_left(self, participant_id)
        if not self.participants and self._on_empty is not None:
            self._on_empty(self)

    def _on_track(self, participant: Participant, track: MediaStreamTrack) -> None:
        kind = track.kind
        receiver = next(
            t.receiver for t in participant.pc.getTransceivers() if t.receiver.track is track
        )
        tap = EncodedReceiver.attach(receiver)
        participant.inbound[kind] = tap
        participant.fanout.setdefault(kind, [])
        source_id = participant.id

        def forward(packet: av.Packet[Any]) -> None:
            for destination in participant.fanout[kind]:
                destination.push(packet)
            self.forwarded_packets += len(participant.fanout[kind])
            if self.recording is not None:
                recorder = self.recording.current(source_id)
                if recorder is not None:
                    recorder.write(kind, packet)

        tap.add_listener(forward)
        if kind == "video":

            def hold() -> None:
                # frames were lost for good: receivers wait for the keyframe the
                # receiver's PLI asks for rather than decode deltas without a reference
                for destination in participant.fanout[kind]:
                    destination.hold_until_keyframe()

            tap.on_discontinuity(hold)

    async def _on_connection_state(self, participant: Participant) -> None:
        state = participant.pc.connectionState
        if state == "connected" and participant.state == ParticipantState.JOINING:
            participant.set_state(ParticipantState.CONNECTED)
            participant.connected.set()
            self.request_keyframe(participant.id)
        elif state in ("failed", "closed") and self.participants.get(participant.id) is participant:
            logger.info("participant %s: connection %s, leaving", participant.id, state)
            self._spawn(self.leave(participant.id), f"leave {participant.id}")

    def _add_outbound(self, *, source: Participant, destination: Participant) -> None:
        """Give ``destination`` a send-only track for each kind ``source`` sends.

        The msid is (stream: the source's id, track: ``source.kind.join_no``). A source
        that left keeps its old, now inactive, sections in ``destination``'s session with
        their msid; a rejoin gets a new ``join_no``, so the re-offer never names the same
        msid twice (Chromium refuses that: "Duplicate a=msid lines detected").
        """
        for kind in sorted(source.sends):
            key = (source.id, kind)
            if key in destination.outbound:
                continue
            ask_keyframe = self._keyframe_asker(source.id)
            track = PacketTrack(
                kind, track_id=f"{source.id}.{kind}.{source.join_no}", want_keyframe=ask_keyframe
            )
            transceiver = destination.pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(_codec_preferences(kind))
            set_stream_id(transceiver.sender, source.id)
            if kind == "video":
                on_keyframe_request(transceiver.sender, ask_keyframe)
            destination.outbound[key] = Outbound(source.id, kind, track, transceiver)

    def _keyframe_asker(self, source_id: str) -> Callable[[], None]:
        def ask() -> None:
            self.request_keyframe(source_id)

        return ask

    def _rebuild_fanout(self) -> None:
        """Recompute, for every source, the destination tracks its packets go to.

        Done on join, leave, negotiation and route changes (rooms are small), so the
        per-packet path is one list walk.
        """
        for source in self.participants.values():
            for kind in source.inbound:
                source.fanout[kind] = [
                    outbound.track
                    for dest in self.participants.values()
                    if dest is not source
                    and self.matrix.allows(source.id, dest.id, kind)
                    and (outbound := dest.outbound.get((source.id, kind))) is not None
                    and outbound.negotiated
                ]

    # -- negotiation --------------------------------------------------------------------

    async def _negotiation_loop(self, participant: Participant) -> None:
        """Owns a participant's renegotiations; a participant that cannot be served leaves."""
        try:
            await asyncio.wait_for(participant.connected.wait(), CONNECT_TIMEOUT)
        except TimeoutError:
            logger.warning(
                "participant %s: not connected after %ss", participant.id, CONNECT_TIMEOUT
            )
            if self.participants.get(participant.id) is participant:
                await self.leave(participant.id)
            return
        while participant.state != ParticipantState.LEFT:
            await participant.negotiation_needed.wait()
            participant.negotiation_needed.clear()
            if self.closed or self.participants.get(participant.id) is not participant:
                return
            try:
                await self._negotiate(participant)
            except (NegotiationError, TimeoutError, ConnectionError, *AIORTC_ERRORS) as exc:
                logger.warning("participant %s: renegotiation failed: %r", participant.id, exc)
                if self.participants.get(participant.id) is participant:
                    await self.leave(participant.id)
                return
            except Exception:
                # the renegotiate callback belongs to the signaling layer and may raise
                # anything; this loop owns the participant, so it must not die silently
                logger.exception("participant %s: renegotiation failed", participant.id)
                if self.participants.get(participant.id) is participant:
                    await self.leave(participant.id)
                return

    async def _negotiate(self, participant: Participant) -> None:
        pc = participant.pc
        pending = [o for o in participant.outbound.values() if not o.negotiated]
        await pc.setLocalDescription(await pc.createOffer())
        offer_sdp = align_payload_types(pc.localDescription.sdp, participant.payload_types)
        offer_sdp = align_extmap_ids(offer_sdp, participant.extmap)
        answer = await asyncio.wait_for(participant.renegotiate(offer_sdp), NEGOTIATION_TIMEOUT)
        if self.participants.get(participant.id) is not participant:
            return
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        participant.extmap.update(extmap_ids(answer))
        participant.negotiations += 1
        for outbound in pending:
            outbound.negotiated = True
            outbound.track.hold_until_keyframe()
        self._rebuild_fanout()
        for source in {o.source for o in pending if o.kind == "video"}:
            self.request_keyframe(source)

    # -- routing and keyframes ----------------------------------------------------------

    def set_route(self, source: str, destination: str, *, audio: bool, video: bool) -> None:
        """Let ``destination`` hear/see ``source`` or not; takes effect on the next packet."""
        for pid in (source, destination):
            if pid not in self.participants:
                raise UnknownParticipant(pid)
        was_video = self.matrix.allows(source, destination, "video")
        if not self.matrix.set(source, destination, audio=audio, video=video):
            return
        if video and not was_video:
            outbound = self.participants[destination].outbound.get((source, "video"))
            if outbound is not None:
                outbound.track.hold_until_keyframe()
            self._rebuild_fanout()
            self.request_keyframe(source, force=True)
        else:
            self._rebuild_fanout()

    def apply_routes(self, actions: Iterable[Action]) -> None:
        """Carry out the ``SetRoute`` cells of what ``rooms`` decided (the rest is not media's).

        A pair naming someone media has already let go is skipped: its leave is on its way
        to the policy.
        """
        for action in actions:
            if not isinstance(action, SetRoute):
                continue
            if action.source in self.participants and action.destination in self.participants:
                self.set_route(
                    action.source, action.destination, audio=action.audio, video=action.video
                )

    def set_muted(self, source: str, kind: str, *, muted: bool) -> None:
        """Mute or unmute ``source``'s audio or video for everyone, enforced by the server.

        Unlike a client-side mute, a muted source's packets reach no other participant,
        whatever the client does. The recording tap still gets them: a recording keeps
        what each participant sent (decide in recordings/ whether that is wanted).
        """
        if source not in self.participants:
            raise UnknownParticipant(source)
        if not self.matrix.set_muted(source, kind, muted):
            return
        if kind == "video" and not muted:
            for participant in self.participants.values():
                outbound = participant.outbound.get((source, "video"))
                if outbound is not None:
                    outbound.track.hold_until_keyframe()
            self._rebuild_fanout()
            self.request_keyframe(source, force=True)
        else:
            self._rebuild_fanout()

    def request_keyframe(self, source: str, *, force: bool = False) -> bool:
        """Ask ``source`` for a video keyframe.

        Requests closer together than ``KEYFRAME_INTERVAL`` are coalesced into one sent
        when the interval ends (unless ``force``), so a burst of PLIs from several
        receivers costs the source one keyframe, and none is lost.
        """
        participant = self.participants.get(source)
        if participant is None or "video" not in participant.inbound:
            return False
        now = time.monotonic()
        wait = participant.last_keyframe_request + KEYFRAME_INTERVAL - now
        if not force and wait > 0:
            if participant.deferred_keyframe is None:
                participant.deferred_keyframe = asyncio.get_running_loop().call_later(
                    wait, self._deferred_keyframe, participant
                )
            return False
        if participant.inbound["video"].request_keyframe():
            participant.last_keyframe_request = now
            participant.keyframe_requests_sent += 1
            return True
        return False

    def _deferred_keyframe(self, participant: Participant) -> None:
        participant.deferred_keyframe = None
        if self.participants.get(participant.id) is participant:
            self.request_keyframe(participant.id, force=True)

    # -- recording ----------------------------------------------------------------------

    async def start_recording(self, *, session_id: str | None = None) -> str:
        """Announce, then record every participant; returns the recording id.

        ``session_id`` links the recording to its hotline session (a call's room).
        """
        if self.recording is not None:
            raise RecordingError(f"room {self.id} is already recording")
        if self.announce is not None:
            await self.announce(self.id, list(self.participants))
        recording = RoomRecording(
            self.id, self.recording_dir, self.recording_sink, session_id=session_id
        )
        self.recording = recording
        for participant in self.participants.values():
            self._start_recorder(participant)
        return recording.recording_id

    def _start_recorder(self, participant: Participant) -> None:
        assert self.recording is not None
        self.recording.add(participant.id, kinds=participant.sends)
        self.request_keyframe(participant.id, force=True)

    async def stop_recording(self) -> list[RecordedParticipant]:
        """Finish the files and manifest, report them to the sink, return them."""
        recording = self.recording
        if recording is None:
            raise RecordingError(f"room {self.id} is not recording")
        self.recording = None
        return await recording.stop()

    # -- stats and lifecycle ------------------------------------------------------------

    async def stats(self) -> dict[str, ParticipantStats]:
        """Loss, jitter, RTT and bitrate per participant, from aiortc's getStats."""
        result = {}
        for participant in list(self.participants.values()):
            report = await participant.pc.getStats()
            result[participant.id] = self._stats.sample(participant.id, report)
        return result

    def describe(self) -> dict[str, Any]:
        return {
            "room": self.id,
            "participants": {
                p.id: {
                    "state": p.state.name.lower(),
                    "sends": sorted(p.sends),
                    "muted": self.matrix.muted(p.id),
                    "frames_in": {kind: tap.frames for kind, tap in p.inbound.items()},
                    "receives": sorted(
                        f"{s}.{k}" for (s, k), o in p.outbound.items() if o.negotiated
                    ),
                }
                for p in self.participants.values()
            },
            "routes": self.matrix.as_dict(),
            "recording": self.recording.recording_id if self.recording else None,
        }

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"room {self.id}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> list[RecordedParticipant]:
        """Stop recording (if any), close every connection, cancel the room's tasks."""
        self.closed = True
        results: list[RecordedParticipant] = []
        try:
            if self.recording is not None:
                results = await self.stop_recording()
        finally:  # a sink that fails (database down) must not leave connections open
            for participant_id in list(self.participants):
                await self.leave(participant_id)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return results
