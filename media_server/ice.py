"""ICE: TURN REST-API credentials, the announced public address, and the browser's candidates checked."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path

import ifaddr
from aiortc import RTCIceCandidate

from .protocol import IceServer, MediaError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def turn_credentials(secret: str, peer_id: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """Return a (username, credential) pair that coturn's use-auth-secret accepts until expiry."""
    expiry = int(time.time() if now is None else now) + ttl
    username = f"{expiry}:{peer_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(peer_id: str, turn_url: str | None, turn_secret: str | None, ttl: int = 3600) -> list[IceServer]:
    """Return the ICE servers a browser should use: the TURN server when one is configured."""
    if not turn_url:
        return []
    urls = [url.strip() for url in turn_url.split(",") if url.strip()]
    if not turn_secret:
        return [IceServer(urls=urls)]
    username, credential = turn_credentials(turn_secret, peer_id, ttl)
    return [IceServer(urls=urls, username=username, credential=credential)]


def announce_public_ip(sdp: str, public_ip: str | None) -> str:
    """Add a copy of every host candidate with the public address, for a server behind 1:1 NAT."""
    if not public_ip:
        return sdp
    lines: list[str] = []
    for line in sdp.split("\r\n"):
        lines.append(line)
        if not line.startswith("a=candidate:") or " typ host" not in line:
            continue
        fields = line[len("a=candidate:") :].split(" ")
        if len(fields) < 8 or fields[4] == public_ip or ":" in fields[4]:
            continue
        fields[0] = "P" + fields[0]
        fields[4] = public_ip
        # below the private candidate, so that peers on the same network keep using it
        fields[3] = str(max(int(fields[3]) - 1, 0))
        lines.append("a=candidate:" + " ".join(fields))
    return "\r\n".join(lines)


# --- The browser's candidates ------------------------------------------------------------

MAX_REMOTE_CANDIDATES = 30
"""Distinct candidates a browser may name for one connection: a browser names a handful per
network interface (host, server-reflexive, relayed; UDP and TCP)."""

REFRESH_OWN_ADDRESSES_S = 5.0
"""How long the node's interface addresses are trusted before they are read again."""

CANDIDATE_TYPES = frozenset({"host", "srflx", "prflx", "relay"})
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_DEFAULT_EPHEMERAL = (32768, 60999)


@dataclass(frozen=True)
class RemoteCandidate:
    """One ICE candidate line of a browser, parsed (RFC 8839 section 5.1)."""

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    tcp_type: str | None = None

    def to_rtc(self, mid: str | None, index: int | None) -> RTCIceCandidate:
        return RTCIceCandidate(
            component=self.component,
            foundation=self.foundation,
            ip=self.address,
            port=self.port,
            priority=self.priority,
            protocol=self.transport,
            type=self.type,
            relatedAddress=self.related_address,
            relatedPort=self.related_port,
            sdpMid=mid,
            sdpMLineIndex=index,
            tcpType=self.tcp_type,
        )


def parse_candidate(text: str) -> RemoteCandidate:
    """Parse `[candidate:]foundation component transport priority address port typ type ...`.

    Raise MediaError("invalid") on anything else: aiortc's own parser asserts, and an
    assertion is no reply to give a browser.
    """
    fields = text.removeprefix("a=").removeprefix("candidate:").split()
    try:
        if len(fields) < 8 or fields[6] != "typ":
            raise ValueError("too few fields")
        foundation, component, transport, priority, address, port = fields[:6]
        extensions = dict(zip(fields[8::2], fields[9::2], strict=False))
        candidate = RemoteCandidate(
            foundation=foundation[:32],
            component=int(component),
            transport=transport.lower(),
            priority=int(priority),
            address=address,
            port=int(port),
            type=fields[7],
            related_address=extensions.get("raddr"),
            related_port=int(extensions["rport"]) if "rport" in extensions else None,
            tcp_type=extensions.get("tcptype"),
        )
    except ValueError as exc:
        raise MediaError("invalid", "unreadable ICE candidate") from exc
    if not (
        1 <= candidate.component <= 256
        and 0 <= candidate.priority < 2**32
        and 0 <= candidate.port <= 65535
        and candidate.type in CANDIDATE_TYPES
        and candidate.transport in ("udp", "tcp")
    ):
        raise MediaError("invalid", "unreadable ICE candidate")
    return candidate


class OwnAddresses:
    """The node's own addresses (every interface's, the announced public one) and subnet broadcasts."""

    def __init__(self, public_ip: str | None) -> None:
        self.public_ip = public_ip
        self._read_at = -REFRESH_OWN_ADDRESSES_S
        self._addresses: frozenset[IPAddress] = frozenset()
        self._broadcasts: frozenset[IPAddress] = frozenset()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._read_at < REFRESH_OWN_ADDRESSES_S:
            return
        addresses: set[IPAddress] = set()
        broadcasts: set[IPAddress] = set()
        for adapter in ifaddr.get_adapters():
            for ip in adapter.ips:
                host = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
                try:
                    address = ipaddress.ip_address(host.split("%")[0])
                except ValueError:
                    continue
                addresses.add(address)
                if address.version == 4 and ip.network_prefix < 31:
                    broadcasts.add(ipaddress.ip_network(f"{host}/{ip.network_prefix}", strict=False).broadcast_address)
        if self.public_ip:
            with contextlib.suppress(ValueError):
                addresses.add(ipaddress.ip_address(self.public_ip))
        self._addresses, self._broadcasts = frozenset(addresses), frozenset(broadcasts)
        self._read_at = now

    def own(self, address: IPAddress) -> bool:
        self._refresh()
        return address in self._addresses

    def broadcast(self, address: IPAddress) -> bool:
        self._refresh()
        return address in self._broadcasts


@functools.cache
def own_addresses(public_ip: str | None) -> OwnAddresses:
    """The process's one OwnAddresses for a public IP: read at most once per REFRESH_OWN_ADDRESSES_S, not per connection."""
    return OwnAddresses(public_ip)


def ephemeral_ports() -> tuple[int, int]:
    """The range the kernel picks unbound sockets' ports from: where no service listens."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL


def refusal(candidate: RemoteCandidate, own: OwnAddresses, ephemeral: tuple[int, int]) -> str | None:
    """Why the node must not send STUN checks to this candidate's address, or None.

    Only unicast addresses at ports 1024 and up: never loopback, multicast, broadcast,
    unspecified, link-local (169.254.169.254 is a cloud's metadata service) or reserved. The
    node's own addresses only at ports in the kernel's ephemeral range, where a browser on
    the same machine (development, the tests) binds its sockets and no service listens.
    """
    try:
        address = ipaddress.ip_address(candidate.address)
    except ValueError:
        return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if candidate.port < 1024:
        return f"port {candidate.port}"
    if address.is_loopback:
        return "loopback address"
    if address.is_multicast:
        return "multicast address"
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified address"
    if address.is_link_local:
        return "link-local address"
    if address.is_reserved or own.broadcast(address):
        return "broadcast or reserved address"
    if own.own(address) and not ephemeral[0] <= candidate.port <= ephemeral[1]:
        return "an address of this server"
    return None


class RemoteCandidates:
    """The candidates a browser names for one connection: counted, and checked before ICE sees them.

    A refused or malformed one is MediaError("invalid") (the page gets an error reply, the socket
    lives); an mDNS name (`*.local`) or a TCP candidate is left out silently: browsers send
    them routinely, aioice does no ICE-TCP, and resolving a name by multicast DNS would let any
    machine on the node's network answer with an address of its choosing.
    """

    def __init__(self, public_ip: str | None, limit: int = MAX_REMOTE_CANDIDATES) -> None:
        self.limit = limit
        self._own = own_addresses(public_ip)
        self._ephemeral = ephemeral_ports()
        self._seen: set[tuple[int, str, str, int]] = set()

    def check(self, text: str) -> RemoteCandidate | None:
        """Return the candidate for ICE, None to leave it out, or raise MediaError("invalid")."""
        candidate = parse_candidate(text)
        key = (candidate.component, candidate.transport, candidate.address.lower(), candidate.port)
        if key not in self._seen:
            if len(self._seen) >= self.limit:
                raise MediaError("invalid", f"more than {self.limit} ICE candidates")
            self._seen.add(key)
        if candidate.transport != "udp" or candidate.address.lower().endswith(".local"):
            return None
        reason = refusal(candidate, self._own, self._ephemeral)
        if reason is not None:
            raise MediaError("invalid", f"ICE candidate refused: {reason}")
        return candidate

    def filter_sdp(self, sdp: str) -> str:
        """Drop the candidate lines of a browser's SDP that check() would not hand to ICE."""
        kept = []
        for line in sdp.split("\n"):
            if line.startswith("a=candidate:"):
                try:
                    if self.check(line.rstrip("\r")) is None:
                        continue
                except MediaError:
                    continue
            kept.append(line)
        return "\n".join(kept)
