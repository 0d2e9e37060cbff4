"""Behind a TLS proxy: believe its forwarded headers only when the peer is one of TRUSTED_PROXIES.

nginx (deploy/) sends `X-Forwarded-For $remote_addr` and `X-Forwarded-Proto $scheme` to daphne on
127.0.0.1. `ProxyHeadersMiddleware` (ASGI, around the whole application) turns the scheme into the
scope's, so Django sees https requests as secure and sockets as wss; `client_address` is the one
place that says who a request comes from. Daphne's own `--proxy-headers` is not used: it believes
the headers from any peer and takes the left-most address, which the client writes itself when a
proxy appends to the header (`$proxy_add_x_forwarded_for`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip("[]"), strict=False) for entry in entries)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(peer: str) -> bool:
    """Whether this address is one of TRUSTED_PROXIES (addresses or networks)."""
    address = _address(peer)
    if address is None:
        return False
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def forwarded_client(peer: str, forwarded_for: str | None) -> str:
    """The client's address: the right-most X-Forwarded-For entry that is no trusted proxy.

    Only a trusted peer's header counts; what a client wrote into the header itself sits to the
    left of what the proxies appended, so it is never taken while an untrusted entry follows it.
    """
    if not forwarded_for or not is_trusted_proxy(peer):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:
            return peer  # a garbled header: the proxy's own address is the honest answer
        if not is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else peer


def client_address(request: HttpRequest | None) -> str:
    """Who sent this request: the peer, or the address its trusted proxy forwarded."""
    if request is None:
        return ""
    return forwarded_client(str(request.META.get("REMOTE_ADDR") or ""), request.META.get("HTTP_X_FORWARDED_FOR"))


def is_local(request: HttpRequest) -> bool:
    """Whether the request comes from this machine itself (not through the proxy for someone else)."""
    address = _address(client_address(request))
    return address is not None and address.is_loopback


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class ProxyHeadersMiddleware:
    """ASGI: take the scheme from a trusted proxy's X-Forwarded-Proto (https -> secure, wss)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("client"):
            proto = _header(scope.get("headers", ()), b"x-forwarded-proto")
            if proto and is_trusted_proxy(str(scope["client"][0])):
                secure = proto.split(",")[0].strip().lower() in ("https", "wss")
                if scope["type"] == "http":
                    scheme = "https" if secure else "http"
                else:
                    scheme = "wss" if secure else "ws"
                scope = {**scope, "scheme": scheme}
        await self.app(scope, receive, send)


class SecureCookiesMiddleware(MiddlewareMixin):
    """Mark every cookie `Secure` on a secure request, so the http demo keeps working as it is."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if request.is_secure():
            for cookie in response.cookies.values():
                cookie["secure"] = True
        return response
