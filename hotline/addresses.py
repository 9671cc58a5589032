"""The client's address as the platform counts it: abuse limits, sign-in throttling, logs.

One function, so that every limit counts the same address: ``request.remote``, which
``hotline.proxies.forwarded_middleware`` has already set to the client named by
``X-Forwarded-For`` when the request came through a trusted proxy
(``HOTLINE_TRUSTED_PROXIES``).
"""

from __future__ import annotations

from aiohttp import web


def client_address(request: web.Request) -> str:
    """The address the request came from (``unknown`` if the transport does not say)."""
    return request.remote or "unknown"
