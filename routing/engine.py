"""The routing engine: a deterministic state machine, ``handle(event) -> list[Action]``."""

from __future__ import annotations

from typing import Any

from routing.actions import Action
from routing.events import Event
from routing.model import RoutingConfig


class Engine:
    """The ACD. Feed it events in order; carry out the actions it returns."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config

    def handle(self, event: Event) -> list[Action]:
        """Apply one event and return what the driver must do, in order."""
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict."""
        raise NotImplementedError

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> Engine:
        """An engine in the state captured by :meth:`snapshot`."""
        raise NotImplementedError
