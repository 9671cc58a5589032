"""Signaling: the WebSocket endpoint, its protocol, and the driver of the routing engine.

How the pieces fit (one process or many)::

    browser ──ws──► node.Node ──append(record)──► backplane log ──► driver.Leader
       ▲                                                               │ router.Router
       └──── Connection.outbox ◄── receiver(key, payload) ◄── commit ──┘ routing.Engine

* ``protocol`` / ``schema`` — message dataclasses, ``parse`` / ``serialize`` (v1).
* ``identity`` — who a peer is, as the injected ``authenticate`` callable says.
* ``node``     — this process's sockets: validation, roles, hello/resume, outboxes.
* ``router``   — the leader's Sans-I/O state machine: records → engine → effects.
* ``driver``   — the asyncio leader: lease, replay, timers, outcome writer.
* ``backplane``— the ordered log, the lease and delivery: in memory, or Redis.
* ``tokens``   — resume tokens and phone masking; ``errors`` — the exception tree.
* ``web``      — ``setup_signaling(app, ...)``, mounted by the composition root.
* ``rooms`` and friends — media room messages, carried to the media service.
"""
