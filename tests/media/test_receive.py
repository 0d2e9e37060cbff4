"""The publisher side's socket callback (publisher._receive_srtp): bursts read in one go."""

from __future__ import annotations

import select
import socket
from types import SimpleNamespace
from typing import Any

from media_server import publisher


def test_a_burst_already_queued_is_read_in_the_same_callback_in_order() -> None:
    ice = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ice.bind(("127.0.0.1", 0))
    ice.setblocking(False)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    try:
        got: list[tuple[bytes, Any]] = []
        transport = SimpleNamespace(get_extra_info=lambda name: SimpleNamespace(_sock=ice))
        protocol = SimpleNamespace(transport=transport, datagram_received=lambda d, a: got.append((d, a)))
        # before DTLS-SRTP is up everything goes on to ICE's handler, as STUN and DTLS always do
        dtls = SimpleNamespace(_rx_srtp=None)
        callback = publisher._receive_srtp(dtls, protocol, lambda data, ms: None)  # type: ignore[arg-type]
        total = publisher.DRAIN + 5
        for i in range(1, total):
            peer.sendto(b"frame part %d" % i, ice.getsockname())
        # loopback queues each datagram within sendto: the socket reads as ready, with all of them
        assert select.select([ice], [], [], 5)[0] == [ice]
        # asyncio read the first one and hands it over: the callback takes the queued ones after it
        callback(b"frame part 0", peer.getsockname())
        expected = [b"frame part %d" % i for i in range(publisher.DRAIN + 1)]
        assert [data for data, _ in got] == expected
        assert {addr for _, addr in got} == {peer.getsockname()}
        # at most DRAIN more per callback, so that one busy socket does not hold the loop; the
        # rest waits for asyncio's next read
        assert ice.recvfrom(100)[0] == b"frame part %d" % (publisher.DRAIN + 1)
    finally:
        ice.close()
        peer.close()


def test_without_a_raw_socket_the_callback_reads_nothing_more() -> None:
    got: list[bytes] = []
    protocol = SimpleNamespace(
        transport=SimpleNamespace(get_extra_info=lambda name: None), datagram_received=lambda d, a: got.append(d)
    )
    callback = publisher._receive_srtp(SimpleNamespace(_rx_srtp=None), protocol, lambda d, ms: None)  # type: ignore[arg-type]
    callback(b"stun", ("10.99.0.2", 1))
    assert got == [b"stun"]
