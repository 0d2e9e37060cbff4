"""A participant that leaves while its connection is being made keeps nothing on the node.

`MediaNode.handle` looks the peer up, then awaits aiortc (an offer applied, a subscribe offer
made); a leave or a room closing meanwhile drops the peer. The connection made for it after that
would be held by nobody (its sockets, its tasks) until the process ends: it is closed instead, and
the message is answered `conflict`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from media_server import MediaError, MediaNode
from media_server.publisher import Publisher
from media_server.subscriber import Subscriber

OFFER = {
    "type": "media.offer",
    "pc": "publish",
    "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n",
    "tracks": [{"mid": "0", "source": "camera", "layer": "normal"}],
}


async def nothing(room: str, peer: str, message: dict[str, Any]) -> None:
    pass


async def test_a_publisher_made_for_a_peer_that_left_meanwhile_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    node = MediaNode(nothing)
    await node.set_permissions("r", "p", audio=True, video=True, screen=False)
    applying, release = asyncio.Event(), asyncio.Event()
    made: list[Publisher] = []

    async def negotiate(self: Publisher, offer: Any) -> str:
        made.append(self)
        applying.set()
        await release.wait()
        return "v=0\r\n"

    monkeypatch.setattr(Publisher, "negotiate", negotiate)
    offering = asyncio.ensure_future(node.handle("r", "p", OFFER))
    await applying.wait()
    await node.leave("r", "p", park=False)
    release.set()
    with pytest.raises(MediaError) as error:
        await offering
    assert error.value.code == "conflict"
    assert made and made[0].pc.connectionState == "closed"
    assert node.stats()["publishers"] == 0
    await node.close_room("r")


async def test_a_subscriber_made_for_a_peer_that_left_meanwhile_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    node = MediaNode(nothing)
    offering, release = asyncio.Event(), asyncio.Event()
    made: list[Subscriber] = []
    offer = Subscriber.offer

    async def slow_offer(self: Subscriber) -> str:
        made.append(self)
        sdp = await offer(self)
        offering.set()
        await release.wait()
        return sdp

    monkeypatch.setattr(Subscriber, "offer", slow_offer)
    joining = asyncio.ensure_future(node.handle("r", "p", {"type": "media.join", "quality": "normal"}))
    await offering.wait()
    await node.close_room("r")
    release.set()
    with pytest.raises(MediaError) as error:
        await joining
    assert error.value.code == "conflict"
    assert made and made[0].pc.connectionState == "closed"
    assert node.stats()["subscribers"] == 0
