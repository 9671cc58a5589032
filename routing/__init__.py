"""The ACD: queues, skills, tiers, presence, offers, escalation, priority, callbacks.

Pure and deterministic (standard library only, no clock, no I/O), in the Sans-I/O
style of python-websockets' protocol core::

    from routing import Engine, RoutingConfig, events as ev

    engine = Engine(RoutingConfig())                 # or RoutingConfig.from_dict(...)
    actions = engine.handle(ev.SessionQueued(now=t, session=SessionId("s1"),
                                             queue=QueueId("labour_wages")))

* ``routing.events``  — what the driver feeds in; each carries ``now`` (epoch seconds).
* ``routing.actions`` — what comes out: offers, timers (``StartTimer(key, at)``, fed back
  as ``TimerFired(now=at, key)``), positions, callbacks, tickets, presence changes and
  exactly one ``SessionRecorded`` per session.
* ``routing.model``   — configuration: queues, tiers, priority classes, agent profiles.
* ``routing.presence``— agent presence enum and its transition table.
* ``routing.errors``  — ``RoutingError`` and its subclasses; an event that raises has
  changed nothing.
* Events and actions have ``to_dict()`` / ``from_dict()`` (JSON, tagged by ``kind``);
  ``Engine.snapshot()`` / ``Engine.restore()`` give a JSON-able state, so the driver can
  rebuild from a snapshot plus the tail of its event stream.
* ``routing.erlang`` (Erlang C) and ``routing.simulate`` (a discrete-event simulator
  that drives the real engine) are for sizing rotas and checking the engine;
  ``routing.cli`` has the argparse helpers behind ``hotline erlang`` / ``simulate``.

docs/routing.md has the driver contract and the routing rules in full.
"""

from __future__ import annotations

from routing.engine import Engine
from routing.errors import RoutingError
from routing.model import AgentProfile, QueueConfig, RoutingConfig
from routing.presence import Presence

__all__ = ["AgentProfile", "Engine", "Presence", "QueueConfig", "RoutingConfig", "RoutingError"]
