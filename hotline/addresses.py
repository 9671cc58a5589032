"""The client's address as the platform counts it: abuse limits, sign-in throttling, logs.

One function, so that every limit counts the same address. ``request.remote`` for now:
behind a proxy that is the proxy's address, so limits per address then count everyone
together (trusted ``X-Forwarded-For`` handling belongs here when it comes).
"""

from __future__ import annotations

from aiohttp import web


def client_address(request: web.Request) -> str:
    """The address the request came from (``unknown`` if the transport does not say)."""
    return request.remote or "unknown"
