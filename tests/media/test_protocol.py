"""Every media.* message is a closed schema; bad input is an `invalid` error, not a traceback."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from media_server import MediaError, MediaNode
from media_server.ice import announce_public_ip, ice_servers, turn_credentials
from media_server.protocol import Joined, Reconnect, ServerAnswer, ServerOffer, Sources, parse_client_message


@pytest.mark.parametrize(
    "message",
    [
        {"type": "media.join"},
        {"type": "media.join", "quality": "low"},
        {"type": "media.join", "resume": "a" * 64},
        {"type": "media.offer", "pc": "publish", "sdp": "v=0", "tracks": [{"mid": "0", "source": "camera"}]},
        {"type": "media.answer", "pc": "subscribe", "sdp": "v=0"},
        {"type": "media.candidate", "pc": "publish", "candidate": "", "sdp_mid": "0"},
        {"type": "media.quality", "quality": "audio"},
        {"type": "media.restart", "pc": "subscribe"},
        {"type": "media.leave"},
        {"type": "media.tiles", "small": ["12", "57"]},
        {"type": "media.tiles", "small": []},
    ],
)
def test_valid_client_messages_parse(message: dict[str, Any]) -> None:
    assert parse_client_message(message).type == message["type"]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "media.nope"},
        {"type": "media.join", "quality": "ultra"},
        {"type": "media.join", "extra": 1},
        {"type": "media.join", "resume": ""},
        {"type": "media.join", "resume": "a" * 65},
        {"type": "media.join", "resume": 7},
        {"type": "media.offer", "pc": "subscribe", "sdp": "v=0", "tracks": []},
        {"type": "media.offer", "pc": "publish", "sdp": "v=0", "tracks": [{"mid": "0", "source": "webcam"}]},
        {"type": "media.answer", "pc": "subscribe", "sdp": ""},
        {"type": "media.tiles"},
        {"type": "media.tiles", "small": "12"},
        {"type": "media.tiles", "small": [12]},
        {"type": "media.tiles", "small": [""]},
        {"type": "media.tiles", "small": ["x" * 65]},
        {"type": "media.tiles", "small": [str(n) for n in range(65)]},
    ],
)
@pytest.mark.asyncio
async def test_invalid_messages_raise_invalid(message: dict[str, Any]) -> None:
    sent: list[Any] = []

    async def send(room: str, peer: str, msg: dict[str, Any]) -> None:
        sent.append(msg)

    node = MediaNode(send)
    with pytest.raises(MediaError) as error:
        await node.handle("r", "p", message)
    assert error.value.code == "invalid"
    assert sent == []
    await node.close_room("r")


@pytest.mark.asyncio
async def test_answer_without_offer_is_a_conflict() -> None:
    async def send(room: str, peer: str, msg: dict[str, Any]) -> None:
        pass

    node = MediaNode(send)
    with pytest.raises(MediaError) as error:
        await node.handle("r", "p", {"type": "media.answer", "pc": "subscribe", "sdp": "v=0"})
    assert error.value.code == "conflict"
    await node.close_room("r")


def test_server_messages_dump_to_their_documented_shape() -> None:
    assert Joined(ice_servers=[]).model_dump() == {
        "type": "media.joined",
        "ice_servers": [],
        "resume": None,
        "resumed": False,
    }
    assert ServerOffer(sdp="v=0").model_dump() == {
        "type": "media.offer",
        "pc": "subscribe",
        "sdp": "v=0",
        "restart": False,
    }
    assert ServerAnswer(sdp="v=0").model_dump()["pc"] == "publish"
    assert Sources(slots=[]).model_dump() == {"type": "media.sources", "slots": []}
    assert Reconnect(reason="node_closing").model_dump() == {"type": "media.reconnect", "reason": "node_closing"}


def test_turn_credentials_follow_the_rest_api() -> None:
    username, credential = turn_credentials("s3cret", "alice", 600, now=1000)
    assert username == "1600:alice"
    # base64(HMAC-SHA1("s3cret", "1600:alice"))
    assert credential == base64.b64encode(hmac.new(b"s3cret", b"1600:alice", hashlib.sha1).digest()).decode()


def test_ice_servers_carry_the_turn_credentials() -> None:
    (server,) = ice_servers("alice", "turn:turn.example.org:3478?transport=udp", "s3cret")
    assert server.urls == ["turn:turn.example.org:3478?transport=udp"]
    assert server.username is not None and server.username.endswith(":alice")
    assert server.credential
    assert ice_servers("alice", None, None) == []


def test_public_ip_is_announced_next_to_host_candidates() -> None:
    sdp = "v=0\r\na=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\na=end-of-candidates\r\n"
    out = announce_public_ip(sdp, "203.0.113.7")
    assert "a=candidate:P1 1 udp 2130706430 203.0.113.7 40000 typ host" in out
    assert "10.0.0.5 40000" in out
    assert announce_public_ip(sdp, None) == sdp


@pytest.mark.asyncio
async def test_an_unusable_publish_offer_is_invalid_and_leaves_no_connection() -> None:
    async def send(room: str, peer: str, msg: dict[str, Any]) -> None:
        pass

    node = MediaNode(send)
    offer = {"type": "media.offer", "pc": "publish", "sdp": "v=0\r\nm=video x\r\n", "tracks": []}
    with pytest.raises(MediaError) as error:
        await node.handle("r", "p", offer)
    assert error.value.code == "invalid"
    assert node.stats()["publishers"] == 0
    await node.close_room("r")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("sdp", "says"),
    [
        ("v=0\r\nthis is not sdp\r\n", "no media section"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n", "mid 0"),
    ],
)
async def test_an_offer_without_the_declared_tracks_media_sections_is_invalid(sdp: str, says: str) -> None:
    async def send(room: str, peer: str, msg: dict[str, Any]) -> None:
        pass

    node = MediaNode(send)
    tracks = [{"mid": "0", "source": "camera", "layer": "normal"}]
    offer = {"type": "media.offer", "pc": "publish", "sdp": sdp, "tracks": tracks}
    with pytest.raises(MediaError) as error:
        await node.handle("r", "p", offer)
    assert error.value.code == "invalid" and says in error.value.message
    assert node.stats()["publishers"] == 0
    await node.close_room("r")
