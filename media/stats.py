"""Per-participant quality figures from aiortc's ``getStats()``.

From the server's side of a participant's connection:

- what the participant sends us: ``inbound-rtp`` per kind (packets received and lost,
  jitter; aiortc reports jitter in RTP timestamp units, converted here to ms);
- what we send the participant: ``remote-inbound-rtp`` (its receiver reports: loss
  fraction, and the RTT aiortc estimates from them);
- bitrate both ways from the transport's byte counters, between two samples.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

CLOCK_RATES = {"audio": 48000, "video": 90000}


@dataclass
class InboundStats:
    packets_received: int = 0
    packets_lost: int = 0
    jitter_ms: float = 0.0

    @property
    def loss(self) -> float:
        expected = self.packets_received + max(self.packets_lost, 0)
        return max(self.packets_lost, 0) / expected if expected else 0.0


@dataclass
class ParticipantStats:
    participant_id: str
    inbound: dict[str, InboundStats] = field(default_factory=dict)  # what it sends us
    downlink_loss: float | None = None  # fraction lost on what we send it (its reports)
    rtt_ms: float | None = None
    bitrate_in_kbps: float | None = None
    bitrate_out_kbps: float | None = None

    @property
    def uplink_loss(self) -> float:
        received = sum(s.packets_received for s in self.inbound.values())
        lost = sum(max(s.packets_lost, 0) for s in self.inbound.values())
        return lost / (received + lost) if received + lost else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["uplink_loss"] = self.uplink_loss
        return data


@dataclass
class _Sample:
    at: float
    bytes_in: int
    bytes_out: int


class StatsSampler:
    """Turns successive ``RTCStatsReport``s into ``ParticipantStats`` (keeps the last sample)."""

    def __init__(self) -> None:
        self._last: dict[str, _Sample] = {}

    def forget(self, participant_id: str) -> None:
        self._last.pop(participant_id, None)

    def sample(
        self, participant_id: str, report: Any, *, now: float | None = None
    ) -> ParticipantStats:
        now = time.monotonic() if now is None else now
        result = ParticipantStats(participant_id)
        rtts: list[float] = []
        fractions: list[float] = []
        bytes_in = bytes_out = 0
        for stat in report.values():
            kind = getattr(stat, "kind", None)
            if stat.type == "inbound-rtp" and kind in CLOCK_RATES:
                inbound = result.inbound.setdefault(kind, InboundStats())
                inbound.packets_received += stat.packetsReceived
                inbound.packets_lost += stat.packetsLost
                inbound.jitter_ms = max(inbound.jitter_ms, stat.jitter * 1000 / CLOCK_RATES[kind])
            elif stat.type == "remote-inbound-rtp":
                if stat.roundTripTime is not None:
                    rtts.append(stat.roundTripTime * 1000)
                if stat.fractionLost is not None:
                    fractions.append(stat.fractionLost / 256)
            elif stat.type == "transport":
                bytes_in += stat.bytesReceived
                bytes_out += stat.bytesSent
        if rtts:
            result.rtt_ms = sum(rtts) / len(rtts)
        if fractions:
            result.downlink_loss = max(fractions)
        last = self._last.get(participant_id)
        if last is not None and now > last.at:
            elapsed = now - last.at
            result.bitrate_in_kbps = (bytes_in - last.bytes_in) * 8 / 1000 / elapsed
            result.bitrate_out_kbps = (bytes_out - last.bytes_out) * 8 / 1000 / elapsed
        self._last[participant_id] = _Sample(now, bytes_in, bytes_out)
        return result
