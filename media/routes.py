"""Who hears and sees whom: a room's routing matrix (pure, no I/O).

Every (source, destination) pair has an audio and a video permission; by default
everyone hears and sees everyone else. Back-to-back mediation, supervisor monitor and
whisper are settings of this matrix, not client-side muting: a destination cut off from
a source receives none of its packets.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("audio", "video")


@dataclass(frozen=True)
class Route:
    audio: bool = True
    video: bool = True

    def allows(self, kind: str) -> bool:
        return self.audio if kind == "audio" else self.video


OPEN = Route()


class RouteMatrix:
    """Permissions per (source, destination); unspecified pairs are open."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}
        self._muted: set[tuple[str, str]] = set()  # (source, kind) silenced for everyone

    def set_muted(self, source: str, kind: str, muted: bool) -> bool:
        """Server-enforced mute of one source's kind towards everyone; True if changed."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        key = (source, kind)
        if muted == (key in self._muted):
            return False
        if muted:
            self._muted.add(key)
        else:
            self._muted.discard(key)
        return True

    def muted(self, source: str) -> list[str]:
        return [kind for kind in KINDS if (source, kind) in self._muted]

    def set(self, source: str, destination: str, *, audio: bool, video: bool) -> bool:
        """Set one pair; return True when anything changed."""
        if source == destination:
            raise ValueError("a participant is never routed to itself")
        old = self.get(source, destination)
        new = Route(audio, video)
        if new == OPEN:
            self._routes.pop((source, destination), None)
        else:
            self._routes[(source, destination)] = new
        return old != new

    def get(self, source: str, destination: str) -> Route:
        return self._routes.get((source, destination), OPEN)

    def allows(self, source: str, destination: str, kind: str) -> bool:
        return (
            source != destination
            and (source, kind) not in self._muted
            and self.get(source, destination).allows(kind)
        )

    def forget(self, participant: str) -> None:
        """Drop every rule naming ``participant`` (it left; a rejoin starts open)."""
        for key in [k for k in self._routes if participant in k]:
            del self._routes[key]

    def as_dict(self) -> dict[str, dict[str, dict[str, bool]]]:
        """Only the non-default pairs: {source: {destination: {audio, video}}}."""
        result: dict[str, dict[str, dict[str, bool]]] = {}
        for (source, destination), route in sorted(self._routes.items()):
            result.setdefault(source, {})[destination] = {
                "audio": route.audio,
                "video": route.video,
            }
        return result
