"""The rooms of one media node (one process), and its capacity and load.

A room never spans processes. One process is one event loop and the forwarding work is
on that loop (issue 4: the prototype did ~88 % of its work on one thread), so capacity
is counted in recorded three-party rooms per process, measured by ``bench/media.py``;
more rooms means more media-node processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiortc import RTCIceServer

from media.errors import RoomError, RoomFullError
from media.room import Announce, Room
from recordings.model import RecordingSink

DEFAULT_ROOM_CAPACITY = 8


@dataclass(frozen=True)
class NodeLoad:
    """What /metrics and room placement need to know about this media node."""

    node_id: str
    rooms: int
    participants: int
    capacity_rooms: int
    load: float  # rooms / capacity, 0..1+
    cpu_percent: float | None  # of one core, since the previous sample
    forwarded_packets: int

    @property
    def has_capacity(self) -> bool:
        return self.rooms < self.capacity_rooms


class RoomManager:
    """Creates, finds and closes the rooms of this process."""

    def __init__(
        self,
        *,
        ice_servers: Sequence[RTCIceServer],
        recording_dir: Path,
        recording_sink: RecordingSink | None = None,
        announce: Announce | None = None,
        capacity_rooms: int = DEFAULT_ROOM_CAPACITY,
        node_id: str | None = None,
        on_left: Callable[[Room, str], None] | None = None,
    ) -> None:
        if ice_servers is None:  # aiortc would fall back to a public STUN server
            raise ValueError("ice_servers must be given explicitly (may be empty)")
        self.ice_servers = list(ice_servers)
        self.recording_dir = recording_dir
        self.recording_sink = recording_sink
        self.announce = announce
        self.capacity_rooms = capacity_rooms
        self.node_id = node_id or f"{os.uname().nodename}:{os.getpid()}"
        self.on_left = on_left  # (room, participant id) after any participant leaves
        self.rooms: dict[str, Room] = {}
        self._cpu_mark = (time.monotonic(), time.process_time())
        self._forwarded_closed = 0

    def create_room(self, room_id: str, *, max_participants: int = 8) -> Room:
        if room_id in self.rooms:
            raise RoomError(f"room {room_id} exists")
        if len(self.rooms) >= self.capacity_rooms:
            raise RoomFullError(f"media node {self.node_id} is at capacity")
        room = Room(
            room_id,
            ice_servers=self.ice_servers,
            recording_dir=self.recording_dir,
            recording_sink=self.recording_sink,
            announce=self.announce,
            max_participants=max_participants,
            on_left=self.on_left,
        )
        self.rooms[room_id] = room
        return room

    def get(self, room_id: str) -> Room:
        try:
            return self.rooms[room_id]
        except KeyError:
            raise RoomError(f"no room {room_id} on this node") from None

    def get_or_create(self, room_id: str) -> Room:
        return self.rooms.get(room_id) or self.create_room(room_id)

    async def close_room(self, room_id: str) -> None:
        room = self.rooms.pop(room_id, None)
        if room is not None:
            await room.close()
            self._forwarded_closed += room.forwarded_packets

    async def close(self) -> None:
        for room_id in list(self.rooms):
            await self.close_room(room_id)

    def load(self, *, sample_cpu: bool = True) -> NodeLoad:
        """This node's figures; ``sample_cpu=False`` leaves the CPU mark for /metrics alone."""
        cpu_percent = None
        if sample_cpu:
            now, cpu = time.monotonic(), time.process_time()
            then, cpu_then = self._cpu_mark
            self._cpu_mark = (now, cpu)
            cpu_percent = (cpu - cpu_then) / (now - then) * 100 if now > then else None
        return NodeLoad(
            node_id=self.node_id,
            rooms=len(self.rooms),
            participants=sum(len(r.participants) for r in self.rooms.values()),
            capacity_rooms=self.capacity_rooms,
            load=len(self.rooms) / self.capacity_rooms if self.capacity_rooms else 1.0,
            cpu_percent=cpu_percent,
            forwarded_packets=self._forwarded_closed
            + sum(r.forwarded_packets for r in self.rooms.values()),
        )
