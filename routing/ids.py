"""Identifiers used by the routing engine.

``NewType`` over ``str`` so mypy keeps an agent id from being passed where a session
id is wanted, while at run time (and in JSON) they are plain strings.
"""

from __future__ import annotations

from typing import NewType

AgentId = NewType("AgentId", str)
"""A staff member who takes sessions (duty lawyer, mediator, notary, legal-aid officer)."""

SessionId = NewType("SessionId", str)
"""One live interaction: a hotline call or a video room waiting for an agent."""

QueueId = NewType("QueueId", str)
"""A queue of waiting sessions for one service category (``labour``, ``marriage`` …)."""

Skill = NewType("Skill", str)
"""An area of law or a service an agent is qualified for; a queue requires one."""

Language = NewType("Language", str)
"""A language or dialect tag (``zh``, ``yue``, ``sichuan`` …)."""

CallerKey = NewType("CallerKey", str)
"""What identifies a returning caller: the phone number or web visitor key."""

TimerKey = NewType("TimerKey", str)
"""The key of a timer the engine asked the driver to run (``ring:S1``, ``wrap:A7`` …)."""
