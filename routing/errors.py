"""Errors raised by the routing engine.

The engine validates an event before it changes anything, so an event that raises
leaves the engine exactly as it was; the driver may log it, tell the client, and go on
(and replaying it later raises again and still changes nothing).

Exception tree::

    RoutingError                    root of every error raised by ``routing``
    ├── ConfigError                 an invalid QueueConfig, RoutingConfig or AgentProfile
    ├── UnknownAgent                an event names an agent that is not signed in
    ├── UnknownSession              an event names a session the engine does not hold
    ├── UnknownQueue                an event names a queue that is not configured
    ├── DuplicateSession            a session id that is already in use was queued again
    ├── IllegalTransition           a presence change the transition table forbids
    ├── StaleOffer                  accept/reject of an offer that is no longer open
    ├── InvalidRequest              an event that makes no sense in the current state
    │   └── NobodyEligible          a transfer or consult nobody signed in could take
    └── SerializationError          ``from_dict`` given an unknown kind or bad fields
"""

from __future__ import annotations


class RoutingError(Exception):
    """Root of every error raised by the routing engine."""


class ConfigError(RoutingError):
    """A configuration or agent profile is invalid."""


class UnknownAgent(RoutingError):
    """The event names an agent that is not signed in."""


class UnknownSession(RoutingError):
    """The event names a session the engine does not hold."""


class UnknownQueue(RoutingError):
    """The event names a queue that is not configured."""


class DuplicateSession(RoutingError):
    """A session id already in use was queued again."""


class IllegalTransition(RoutingError):
    """A presence change that the transition table forbids."""


class StaleOffer(RoutingError):
    """Accept or reject of an offer that has already been withdrawn or timed out."""


class InvalidRequest(RoutingError):
    """An event that makes no sense in the current state (e.g. end a waiting session)."""


class SerializationError(RoutingError):
    """``from_dict`` was given an unknown ``kind`` or malformed fields."""


class NobodyEligible(InvalidRequest):
    """A transfer or consult names a queue or an agent that nobody signed in (and on
    duty, speaking the caller's language) could take: refused, the call goes on."""
