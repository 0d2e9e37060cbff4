"""The media.* messages between a browser and the forwarder: closed, typed schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

Quality = Literal["audio", "low", "normal"]
Source = Literal["microphone", "camera", "screen"]
Layer = Literal["normal", "low"]
PcName = Literal["publish", "subscribe"]

SDP_MAX = 60_000


class Message(BaseModel):
    """Base of every media message: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Client -> server


RESUME_MAX = 64


class Join(Message):
    """Start media for this peer: the server answers media.joined then media.offer.

    `resume` (an extension): the token of the previous media.joined of this page. If this node
    still holds that connection pair of the same user (parked after a move between rooms, or
    still in a room), it moves into this room as it is: media.joined with `resumed: true` and no
    offer. Otherwise the join is an ordinary one (`resumed: false`, then media.offer).
    """

    type: Literal["media.join"]
    quality: Quality = "normal"
    resume: str | None = Field(default=None, min_length=1, max_length=RESUME_MAX)


class PublishedTrack(Message):
    """Which source a transceiver of the publish connection carries."""

    mid: str = Field(min_length=1, max_length=32)
    source: Source
    layer: Layer = "normal"


class Offer(Message):
    """An SDP offer of the browser's publish connection."""

    type: Literal["media.offer"]
    pc: Literal["publish"]
    sdp: str = Field(min_length=1, max_length=SDP_MAX)
    tracks: list[PublishedTrack] = Field(max_length=8)


class Answer(Message):
    """The browser's SDP answer to the server's offer for the subscribe connection."""

    type: Literal["media.answer"]
    pc: Literal["subscribe"]
    sdp: str = Field(min_length=1, max_length=SDP_MAX)


class Candidate(Message):
    """A trickled ICE candidate of the browser; an empty candidate ends gathering."""

    type: Literal["media.candidate"]
    pc: PcName
    candidate: str = Field(max_length=1000)
    sdp_mid: str | None = Field(default=None, max_length=32)
    sdp_mline_index: int | None = Field(default=None, ge=0, le=64)


class SetQuality(Message):
    """Change what this peer receives."""

    type: Literal["media.quality"]
    quality: Quality


TILES_MAX = 64


class SetTiles(Message):
    """Which cameras this page shows small (its filmstrip's thumbnails), by peer (as in media.sources).

    The forwarder sends those on their low layer (160x90), whatever this peer's quality allows;
    the others as before. The list replaces the last one; an empty list puts every camera back.
    A camera that every page shows small stops its normal layer after a while (media.camera_layers).
    """

    type: Literal["media.tiles"]
    small: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(max_length=TILES_MAX)


class Restart(Message):
    """Throw away one connection and negotiate a new one (aiortc has no ICE restart)."""

    type: Literal["media.restart"]
    pc: PcName


class Leave(Message):
    """Stop all media of this peer."""

    type: Literal["media.leave"]


ClientMessage = Annotated[
    Join | Offer | Answer | Candidate | SetQuality | SetTiles | Restart | Leave,
    Field(discriminator="type"),
]
_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
CLIENT_TYPES: frozenset[str] = frozenset(
    kind
    for message in get_args(get_args(ClientMessage)[0])
    for kind in get_args(message.model_fields["type"].annotation)
)
"""The media.* types a browser may send."""


def parse_client_message(data: dict[str, Any]) -> ClientMessage:
    """Validate a media.* message from a browser; raise ValidationError if it is not one."""
    return _client_adapter.validate_python(data)


# Server -> client


class IceServer(Message):
    """One entry of RTCConfiguration.iceServers, as a browser takes it."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class Joined(Message):
    """Media accepted: build RTCPeerConnections with these ICE servers.

    `resume` (an extension) is an unguessable token for this media peer, to send with the next
    media.join (after a move to another room, a reconnected socket); `resumed` says whether this
    join kept the page's connections (no media.offer follows) or not.
    """

    type: Literal["media.joined"] = "media.joined"
    ice_servers: list[IceServer]
    resume: str | None = None
    resumed: bool = False


class ServerOffer(Message):
    """The server's offer for the subscribe connection; restart means build a new one."""

    type: Literal["media.offer"] = "media.offer"
    pc: Literal["subscribe"] = "subscribe"
    sdp: str
    restart: bool = False


class ServerAnswer(Message):
    """The server's answer to the browser's publish offer."""

    type: Literal["media.answer"] = "media.answer"
    pc: Literal["publish"] = "publish"
    sdp: str


class SlotSource(Message):
    """What a transceiver (mid) of the subscribe connection carries now."""

    mid: str
    kind: Literal["audio", "video"]
    peer: str | None
    source: Source | None


class Sources(Message):
    """The full map of the subscribe connection's transceivers to participants."""

    type: Literal["media.sources"] = "media.sources"
    slots: list[SlotSource]


class EffectiveQuality(Message):
    """What this browser receives differs from its choice (reason set), or no longer does (null).

    The forwarder lowers a subscriber's cameras to the low layer while its link cannot carry the
    normal ones; it never raises anything above the browser's own choice.
    """

    type: Literal["media.quality"] = "media.quality"
    requested: Quality
    effective: Quality
    reason: Literal["bandwidth"] | None


class CameraLayers(Message):
    """Which camera layers the publishing page should send: the others reach nobody for now.

    Today only the normal layer is ever turned off; the low one keeps flowing, so that the camera
    stays live and starts at once for its next viewer.
    """

    type: Literal["media.camera_layers"] = "media.camera_layers"
    normal: bool
    low: bool


class Reconnect(Message):
    """Drop both connections and send media.join again."""

    type: Literal["media.reconnect"] = "media.reconnect"
    reason: Literal["room_closed", "node_closing", "node_lost", "failed"]


ServerMessage = Joined | ServerOffer | ServerAnswer | Sources | EffectiveQuality | CameraLayers | Reconnect


class MediaError(Exception):
    """A media message that cannot be applied; the caller answers it with an error reply."""

    def __init__(self, code: Literal["invalid", "conflict", "not_found", "unavailable"], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


__all__ = [
    "Answer",
    "Candidate",
    "ClientMessage",
    "EffectiveQuality",
    "IceServer",
    "Join",
    "Joined",
    "Layer",
    "Leave",
    "MediaError",
    "Offer",
    "PublishedTrack",
    "Reconnect",
    "Restart",
    "ServerAnswer",
    "ServerMessage",
    "ServerOffer",
    "SetQuality",
    "SetTiles",
    "SlotSource",
    "Sources",
    "ValidationError",
    "parse_client_message",
]
