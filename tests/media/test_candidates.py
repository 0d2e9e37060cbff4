"""The browser's ICE candidates: counted, and never an address the node must not send STUN checks to.

Units for the rules, then the real aiortc stack: a publish connection that learns its
candidates by trickle, with UDP sockets listening where the refused candidates point.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from media_server.ice import OwnAddresses, RemoteCandidates, parse_candidate, refusal
from media_server.protocol import MediaError

from .conftest import ROOM, Classroom, PatternTrack, needs_netns, peer_connection

EPHEMERAL = (32768, 60999)


def candidate(address: str, port: int = 50000, transport: str = "udp", typ: str = "host") -> str:
    return f"candidate:1 1 {transport} 2122260223 {address} {port} typ {typ}"


def refused(address: str, port: int = 50000, own: OwnAddresses | None = None) -> str | None:
    return refusal(parse_candidate(candidate(address, port)), own or OwnAddresses(None), EPHEMERAL)


@pytest.mark.parametrize(
    ("address", "port", "reason"),
    [
        ("127.0.0.1", 50000, "loopback address"),
        ("::1", 50000, "loopback address"),
        ("::ffff:127.0.0.1", 50000, "loopback address"),
        ("224.0.0.251", 50000, "multicast address"),
        ("ff02::1", 50000, "multicast address"),
        ("0.0.0.0", 50000, "unspecified address"),
        ("0.1.2.3", 50000, "unspecified address"),
        ("::", 50000, "unspecified address"),
        ("169.254.169.254", 50000, "link-local address"),
        ("fe80::1", 50000, "link-local address"),
        ("255.255.255.255", 50000, "broadcast or reserved address"),
        ("203.0.113.7", 53, "port 53"),
        ("203.0.113.7", 0, "port 0"),
    ],
)
def test_addresses_no_browser_would_name_are_refused(address: str, port: int, reason: str) -> None:
    assert refused(address, port) == reason


@pytest.mark.parametrize("address", ["203.0.113.7", "192.168.1.20", "10.1.2.3", "2001:db8::7"])
def test_unicast_addresses_at_high_ports_are_accepted(address: str) -> None:
    assert refused(address, 1024) is None


def test_the_announced_public_address_is_refused_at_a_service_port() -> None:
    own = OwnAddresses("198.51.100.4")
    assert refused("198.51.100.4", 3478, own) == "an address of this server"
    # a browser on the same machine binds in the ephemeral range (development, the tests)
    assert refused("198.51.100.4", 40000, own) is None


@pytest.mark.parametrize(
    "text",
    [
        "candidate:1 1 udp",
        "candidate:1 1 udp 2122260223 203.0.113.7 50000 type host",
        "candidate:1 1 udp high 203.0.113.7 50000 typ host",
        "candidate:1 1 udp 2122260223 203.0.113.7 70000 typ host",
        "candidate:1 1 udp 2122260223 203.0.113.7 50000 typ bogus",
        "candidate:1 0 udp 2122260223 203.0.113.7 50000 typ host",
        "candidate:1 1 sctp 2122260223 203.0.113.7 50000 typ host",
        "candidate:1 1 udp 2122260223 203.0.113.7 50000 typ srflx raddr 0.0.0.0 rport x",
        "candidate:1 1 udp 2122260223 evil.example 50000 typ host",
        "[" * 500,
    ],
)
def test_a_malformed_or_unresolvable_candidate_is_invalid(text: str) -> None:
    with pytest.raises(MediaError) as error:
        RemoteCandidates(None).check(text)
    assert error.value.code == "invalid"


def test_mdns_and_tcp_candidates_are_left_out_silently() -> None:
    candidates = RemoteCandidates(None)
    assert candidates.check(candidate("3f1c2e4a-1b2c-4d5e-8f90-a1b2c3d4e5f6.local")) is None
    assert candidates.check(candidate("203.0.113.7", 9, transport="tcp") + " tcptype active") is None


def test_at_most_thirty_distinct_candidates_per_connection() -> None:
    candidates = RemoteCandidates(None)
    for port in range(50000, 50030):
        assert candidates.check(candidate("203.0.113.7", port)) is not None
    assert candidates.check(candidate("203.0.113.7", 50000)) is not None  # the same one again
    with pytest.raises(MediaError, match="more than 30 ICE candidates"):
        candidates.check(candidate("203.0.113.7", 50030))


def test_refused_candidates_are_dropped_from_an_sdp() -> None:
    sdp = "\r\n".join(
        ["v=0", "a=" + candidate("127.0.0.1"), "a=" + candidate("203.0.113.7"), "a=" + candidate("x.local"), ""]
    )
    assert RemoteCandidates(None).filter_sdp(sdp) == "\r\n".join(["v=0", "a=" + candidate("203.0.113.7"), ""])


# --- Through the real forwarder ----------------------------------------------------------


@pytest.fixture
def listeners() -> Iterator[dict[str, socket.socket]]:
    """UDP sockets where refused candidates point, and a canary at an accepted one."""
    opened: dict[str, socket.socket] = {}
    for name, address in {
        "loopback": ("127.0.0.1", 0),
        "own_service_port": ("10.99.0.2", 11211),
        "canary": ("10.99.0.2", 0),
    }.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(address)
        sock.setblocking(False)
        opened[name] = sock
    yield opened
    for sock in opened.values():
        sock.close()


def _line(name: str, sock: socket.socket, priority: int) -> str:
    host, port = sock.getsockname()
    return f"candidate:{name} 1 udp {priority} {host} {port} typ host"


def _received(sock: socket.socket) -> bytes | None:
    try:
        return sock.recv(2048)
    except BlockingIOError:
        return None


@needs_netns
@pytest.mark.asyncio
async def test_the_forwarder_sends_no_stun_check_to_a_refused_candidate(
    classroom: Classroom, listeners: dict[str, socket.socket]
) -> None:
    alice = classroom.browser("alice")
    await classroom.allow("alice")
    pc = alice.publish_pc = peer_connection()
    transceiver = pc.addTransceiver(PatternTrack(320, 180), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    # the offer without its own candidates: the node learns them only by trickle
    offer = "\r\n".join(
        line
        for line in pc.localDescription.sdp.split("\r\n")
        if not line.startswith(("a=candidate", "a=end-of-candidates"))
    )
    await alice.send(
        {
            "type": "media.offer",
            "pc": "publish",
            "sdp": offer,
            "tracks": [{"mid": transceiver.mid, "source": "camera"}],
        }
    )
    await alice.expect("media.answer")  # never applied: alice sends no checks of her own

    # the refused ones first and with the higher priorities: checked first if they were kept
    for name in ("loopback", "own_service_port"):
        with pytest.raises(MediaError) as error:
            await classroom.node.handle(
                ROOM,
                "alice",
                {
                    "type": "media.candidate",
                    "pc": "publish",
                    "candidate": _line(name, listeners[name], 2122260223),
                    "sdp_mid": transceiver.mid,
                },
            )
        assert error.value.code == "invalid"
    await alice.send(
        {
            "type": "media.candidate",
            "pc": "publish",
            "candidate": _line("canary", listeners["canary"], 100),
            "sdp_mid": transceiver.mid,
        }
    )

    loop = asyncio.get_running_loop()
    check = await asyncio.wait_for(loop.sock_recv(listeners["canary"], 2048), 10)
    assert check[:2] == b"\x00\x01"  # a STUN binding request
    assert _received(listeners["loopback"]) is None
    assert _received(listeners["own_service_port"]) is None
    publisher = classroom.node._rooms[ROOM].peers["alice"].publisher
    assert publisher is not None
    remote = publisher.pc.getTransceivers()[0].receiver.transport.transport.getRemoteCandidates()
    assert [(c.ip, c.port) for c in remote] == [listeners["canary"].getsockname()]
