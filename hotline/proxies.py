"""The client's address behind trusted reverse proxies (``HOTLINE_TRUSTED_PROXIES``).

``X-Forwarded-For`` is a list that each proxy extends with the address it received the
request from, so only its right end is written by proxies we run; everything to the
left of the first hop we do not trust was written by the client and may be invented.
The client is therefore found from the right: start at the socket's peer and, while
that address is a trusted proxy, step one entry left. Without trusted proxies the
header is ignored and the peer is the client.

aiohttp-remotes was considered: its ``XForwardedStrict`` refuses any request whose
peer is not a trusted proxy (direct health checks and local scrapes included) and
expects a fixed number of hops, and ``XForwardedRelaxed`` trusts a hop count whatever
the addresses; neither is this rule, which is short enough to keep here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

FORWARDING_HEADERS = (hdrs.X_FORWARDED_FOR, hdrs.FORWARDED, "X-Real-IP")
UNKNOWN = "unknown"


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"172.28.0.10, 10.1.0.0/16, ::1"`` → networks; raises ValueError naming the bad item."""
    networks = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from exc
    return tuple(networks)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):  # an IPv6 literal as in a URL
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


def _trusted(address: Address, trusted: Iterable[Network]) -> bool:
    return any(address in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """The address of the client, from the socket's ``peer`` and every X-Forwarded-For
    header (in order), trusting only what ``trusted`` proxies appended."""
    current = _address(peer) if peer else None
    if current is None:
        return peer or UNKNOWN  # a Unix socket, or no peer at all
    hops = [part for header in forwarded_for for part in header.split(",") if part.strip()]
    while hops and _trusted(current, trusted):
        previous = _address(hops.pop())
        if previous is None:
            break  # garbage where a proxy's entry should be: stop at the proxy
        current = previous
    return str(current)


def forwarded_middleware(trusted: Sequence[Network]) -> Middleware:
    """Give every handler ``request.remote`` = the client's address (see module doc)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not trusted:
            return await handler(request)
        forwarded = request.headers.getall(hdrs.X_FORWARDED_FOR, [])
        remote = client_address(request.remote, forwarded, trusted)
        if remote == request.remote:
            return await handler(request)
        return await handler(request.clone(remote=remote))

    return middleware


def is_direct_loopback(request: web.Request) -> bool:
    """The request came straight from this machine, not relayed by any proxy: its
    socket's peer is a loopback address and it names no forwarded client."""
    transport = request.transport
    peername = transport.get_extra_info("peername") if transport is not None else None
    host = peername[0] if isinstance(peername, tuple | list) and peername else None
    address = _address(host) if isinstance(host, str) else None
    if address is None or not address.is_loopback:
        return False
    return not any(name in request.headers for name in FORWARDING_HEADERS)
