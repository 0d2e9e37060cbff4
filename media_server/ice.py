"""ICE behind NAT: TURN REST-API credentials and the announced public address."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from .protocol import IceServer


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
