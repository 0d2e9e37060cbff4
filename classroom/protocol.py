"""The room WebSocket protocol (docs/protocol.md): one closed, typed model per message.

Client messages are parsed here and nowhere else; anything that does not fit becomes an
`error` with code `invalid`. Server events are built through their models too, so a
malformed event fails loudly in tests instead of reaching a browser.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_FRAME_BYTES = 64 * 1024

Ref = StrictStr | StrictInt


def _id_to_str(value: Any) -> Any:
    # Ids travel as strings; accept a bare integer from clients that parse them as numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Id = Annotated[str, BeforeValidator(_id_to_str), StringConstraints(pattern=r"^[0-9]{1,18}$")]
Text1000 = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
MediaKind = Literal["audio", "video"]


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    ref: Ref | None = None


class Ping(ClientMessage):
    type: Literal["ping"]


class HandRaise(ClientMessage):
    type: Literal["hand.raise"]
    id: Id | None = None


class HandLower(ClientMessage):
    type: Literal["hand.lower"]
    id: Id | None = None


class ChatSend(ClientMessage):
    type: Literal["chat.send"]
    text: Text1000
    to: Id | None = None


class ChatDelete(ClientMessage):
    type: Literal["chat.delete"]
    id: Id


class StudentsCan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    audio: StrictBool | None = None
    video: StrictBool | None = None
    screen: StrictBool | None = None
    chat: StrictBool | None = None


class RoomUpdate(ClientMessage):
    type: Literal["room.update"]
    locked: StrictBool | None = None
    chat_locked: StrictBool | None = None
    students_can: StudentsCan | None = None


class WaitingAdmit(ClientMessage):
    type: Literal["waiting.admit"]
    id: Id


class WaitingDeny(ClientMessage):
    type: Literal["waiting.deny"]
    id: Id


class WaitingAdmitAll(ClientMessage):
    type: Literal["waiting.admit_all"]


class PresenterSet(ClientMessage):
    type: Literal["presenter.set"]
    id: Id
    presenter: StrictBool


class Mute(ClientMessage):
    type: Literal["mute"]
    id: Id
    kind: MediaKind


class MuteAll(ClientMessage):
    type: Literal["mute.all"]
    kind: MediaKind


class Unmute(ClientMessage):
    """Extension: a participant lifts a moderator's mute on themselves before publishing again."""

    type: Literal["unmute"]
    kind: MediaKind


class ParticipantRemove(ClientMessage):
    type: Literal["participant.remove"]
    id: Id


PollOption = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PollCreate(ClientMessage):
    type: Literal["poll.create"]
    question: Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    options: Annotated[list[PollOption], Field(min_length=2, max_length=10)]
    anonymous: StrictBool = False
    multiple: StrictBool = False


class PollVote(ClientMessage):
    type: Literal["poll.vote"]
    poll: Id
    choices: Annotated[list[Annotated[StrictInt, Field(ge=0, le=9)]], Field(min_length=1, max_length=10)]

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[int]) -> list[int]:
        if len(set(choices)) != len(choices):
            raise ValueError("choices must be distinct")
        return sorted(choices)


class PollClose(ClientMessage):
    type: Literal["poll.close"]
    poll: Id


class PollPublish(ClientMessage):
    type: Literal["poll.publish"]
    poll: Id


class SlidesOpen(ClientMessage):
    type: Literal["slides.open"]
    deck: Annotated[str, BeforeValidator(_id_to_str), StringConstraints(min_length=1, max_length=64)]


class SlidesGoto(ClientMessage):
    type: Literal["slides.goto"]
    page: Annotated[StrictInt, Field(ge=1, le=100_000)]


class SlidesHide(ClientMessage):
    """Extension: stop showing the slides; the stage goes back to the videos."""

    type: Literal["slides.hide"]


class TimerStart(ClientMessage):
    """Extension: a moderator starts the lesson timer, which everyone sees counting down."""

    type: Literal["timer.start"]
    minutes: Annotated[StrictInt, Field(ge=1, le=180)]


class TimerStop(ClientMessage):
    """Extension: a moderator stops the timer (running or run out); nobody sees it any more."""

    type: Literal["timer.stop"]


class ReportSend(ClientMessage):
    type: Literal["report"]
    text: Text1000


class RoomEnd(ClientMessage):
    type: Literal["room.end"]


class RoomLeaveOpen(ClientMessage):
    type: Literal["room.leave_open"]
    minutes: Annotated[StrictInt, Field(ge=1, le=15)]


# --- Breakout groups (docs/protocol.md, "Breakout groups") ---

RoomId = Annotated[
    StrictStr,
    StringConstraints(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]
GroupName = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
MAX_GROUPS = 20


class GroupsOpen(ClientMessage):
    """Either `groups` (lists of user ids), or `count` with `mode` random or choose."""

    type: Literal["groups.open"]
    groups: Annotated[list[Annotated[list[Id], Field(max_length=200)]], Field(max_length=MAX_GROUPS)] | None = None
    count: Annotated[StrictInt, Field(ge=2, le=MAX_GROUPS)] | None = None
    mode: Literal["random", "choose"] | None = None
    minutes: Annotated[StrictInt, Field(ge=1, le=120)] | None = None
    names: Annotated[list[GroupName], Field(max_length=MAX_GROUPS)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> GroupsOpen:
        if (self.groups is None) == (self.count is None):
            raise ValueError("give either groups (lists of user ids) or a count with a mode")
        if self.groups is not None:
            if self.mode is not None:
                raise ValueError("mode goes with count, not with groups")
            if len(self.groups) < 2:
                raise ValueError(f"2 to {MAX_GROUPS} groups")
            seen: set[str] = set()
            for number, members in enumerate(self.groups, 1):
                if not members:
                    raise ValueError(f"group {number} has no one in it")
                for user_id in members:
                    if user_id in seen:
                        raise ValueError(f"user {user_id} is in two groups")
                    seen.add(user_id)
        elif self.mode is None:
            raise ValueError("a count needs a mode: random or choose")
        wanted = len(self.groups) if self.groups is not None else self.count
        if self.names is not None and len(self.names) != wanted:
            raise ValueError(f"{wanted} groups need {wanted} names")
        return self


class GroupsMove(ClientMessage):
    type: Literal["groups.move"]
    id: Id
    group: RoomId


class GroupsBroadcast(ClientMessage):
    type: Literal["groups.broadcast"]
    text: Text1000


class GroupsSpeak(ClientMessage):
    """The teacher's microphone heard in every group while `on` (a button held)."""

    type: Literal["groups.speak"]
    on: StrictBool


class GroupsClose(ClientMessage):
    type: Literal["groups.close"]


class GroupsPrevious(ClientMessage):
    """Extension: the groups of the class's previous lesson, to open them again."""

    type: Literal["groups.previous"]


class GroupJoin(ClientMessage):
    type: Literal["group.join"]
    group: RoomId


class HelpRequest(ClientMessage):
    type: Literal["help.request"]


class HelpClear(ClientMessage):
    type: Literal["help.clear"]
    group: RoomId


CLIENT_MESSAGES: dict[str, type[ClientMessage]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        Ping,
        HandRaise,
        HandLower,
        ChatSend,
        ChatDelete,
        RoomUpdate,
        WaitingAdmit,
        WaitingDeny,
        WaitingAdmitAll,
        PresenterSet,
        Mute,
        MuteAll,
        Unmute,
        ParticipantRemove,
        PollCreate,
        PollVote,
        PollClose,
        PollPublish,
        SlidesOpen,
        SlidesGoto,
        SlidesHide,
        TimerStart,
        TimerStop,
        ReportSend,
        RoomEnd,
        RoomLeaveOpen,
        GroupsOpen,
        GroupsMove,
        GroupsBroadcast,
        GroupsSpeak,
        GroupsClose,
        GroupsPrevious,
        GroupJoin,
        HelpRequest,
        HelpClear,
    )
}


def add_client_messages(*models: type[ClientMessage]) -> None:
    """Add an app's client messages (slides: annotations, whiteboard) at start; a type has one model."""
    for model in models:
        kind = model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
        assert kind not in CLIENT_MESSAGES, f"message type already defined: {kind}"
        CLIENT_MESSAGES[kind] = model


class InvalidMessage(Exception):
    """A client frame that is not a valid message; `ref` is echoed when it could be read."""

    def __init__(self, message: str, ref: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ref = ref


def read_ref(raw: Any) -> str | int | None:
    if isinstance(raw, dict):
        ref = raw.get("ref")
        if isinstance(ref, str | int) and not isinstance(ref, bool):
            return ref
    return None


def parse_client_message(raw: Any) -> ClientMessage:
    """Validate a decoded JSON frame into its message model, or raise InvalidMessage."""
    ref = read_ref(raw)
    if not isinstance(raw, dict):
        raise InvalidMessage("a message is a JSON object", ref)
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise InvalidMessage("a message needs a string type", ref)
    model = CLIENT_MESSAGES.get(kind)
    if model is None:
        raise InvalidMessage(f"unknown message type {kind[:50]!r}", ref)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or kind
        raise InvalidMessage(f"{where}: {first['msg']}", ref) from None


def is_media_message(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("type"), str) and raw["type"].startswith("media.")


# --- Server events -----------------------------------------------------------------------


def _is_none(value: Any) -> bool:
    return value is None


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str


class RoomObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Literal["lesson", "recess", "group"]
    title: str
    locked: bool
    chat_locked: bool
    safe_mode: bool
    students_can: dict[Literal["audio", "video", "screen", "chat"], bool]
    closes_at: str | None
    parent: str | None
    """A group's lesson (SPEC section 7); null for other rooms."""


class ParticipantObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    role: Literal["student", "teacher", "supervisor", "admin"]
    moderator: bool
    presenter: bool
    hand: bool
    audio: bool
    video: bool
    screen: bool
    muted_audio: bool
    muted_video: bool
    # SPEC 8: may draw on the page shown (moderators, presenters, and whom a moderator gave the pen).
    draw: bool = False


class Sender(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str


class ChatObject(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    from_: Sender = Field(alias="from")
    to: str | None
    text: str
    at: str


class NamedVote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    choices: list[int]


class PollObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    options: list[str]
    anonymous: bool
    multiple: bool
    status: Literal["open", "closed", "published"]
    counts: list[int] | None = Field(default=None, exclude_if=_is_none)
    voters: int | None = Field(default=None, exclude_if=_is_none)
    votes: list[NamedVote] | None = Field(default=None, exclude_if=_is_none)
    # Extension: this user's own choices, so a reconnected client shows its vote.
    mine: list[int] | None = None


class WaitingObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    reason: Literal["not_in_class", "locked", "no_supervisor", "closed"]


class Ok(Event):
    """The reply to a message with a `ref`; an action returns one of these, the consumer sets `ref`."""

    type: Literal["ok"] = "ok"
    ref: Ref | None = None


class ChatSent(Ok):
    id: str


class PollCreated(Ok):
    poll: PollObject


class VoteRecorded(Ok):
    poll: str
    choices: list[int]


class MutedAll(Ok):
    muted: list[str]


class AdmittedAll(Ok):
    admitted: list[str]


class LeftOpen(Ok):
    closes_at: str | None


# The codes of docs/protocol.md ("Errors, limits, close codes"), and `unavailable`: no media node
# answers (several-process mode; try again later).
ErrorCode = Literal["invalid", "forbidden", "not_found", "conflict", "locked", "rate_limited", "unavailable"]


class Error(Event):
    type: Literal["error"] = "error"
    ref: Ref | None
    code: ErrorCode
    message: str


class Waiting(Event):
    type: Literal["waiting"] = "waiting"
    reason: Literal["not_in_class", "locked", "no_supervisor", "closed"]


class Admitted(Event):
    type: Literal["admitted"] = "admitted"


class Denied(Event):
    type: Literal["denied"] = "denied"


class DeckObject(BaseModel):
    """A deck of the room's class; `progress` (pages rendered) and `error` extend the object of docs/protocol.md."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    pages: int
    status: Literal["rendering", "ready", "failed"]
    progress: int
    error: str | None


class StrokeObject(BaseModel):
    """One annotation: coordinates are fractions of the page; `final` False while it is being drawn.

    `key` and `final` are extensions (SPEC 8 has `id`, `by` and the stroke's own fields).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    by: str
    key: str
    tool: Literal["pen", "highlighter", "line", "arrow", "rect", "ellipse", "text", "eraser"]
    color: str
    width: float
    points: list[tuple[float, float]]
    text: str | None = Field(default=None, exclude_if=_is_none)
    final: bool = True


def _is_false(value: Any) -> bool:
    return value is False


class SlidesObject(BaseModel):
    """The deck a room shows and its page (from 1); the whiteboard has `deck` None and `board` true.

    `annotations` (the strokes of the page shown, oldest first) is there in `state` only.
    """

    model_config = ConfigDict(extra="forbid")

    deck: str | None
    page: int
    pages: int
    board: bool = Field(default=False, exclude_if=_is_false)
    annotations: list[StrokeObject] | None = Field(default=None, exclude_if=_is_none)


class SlidesShown(Ok):
    slides: SlidesObject


class TimerObject(BaseModel):
    """The lesson timer: when it ends, its length, and the whole seconds left when the event left."""

    model_config = ConfigDict(extra="forbid")

    ends_at: str
    seconds: int
    remaining: int


class TimerShown(Ok):
    timer: TimerObject


class TimerEvent(Event):
    """Extension: the timer started (an object) or stopped (null), to every admitted socket."""

    type: Literal["timer"] = "timer"
    timer: TimerObject | None


class Speaking(Event):
    """Extension: who speaks now, by the forwarder's audio levels (ids, sorted)."""

    type: Literal["speaking"] = "speaking"
    ids: list[str]


class MediaMoved(Event):
    """To the socket that owned the user's media when another socket's media.join takes it."""

    type: Literal["media.moved"] = "media.moved"
    reason: Literal["other_tab"] = "other_tab"


class MediaReleased(Event):
    """To the user's other sockets in the room when the one that owned the media closes."""

    type: Literal["media.released"] = "media.released"
    reason: Literal["owner_left"] = "owner_left"


class GroupObject(BaseModel):
    """A breakout group; its `id` is its room's id."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    room: str


class OpenedGroup(GroupObject):
    members: list[str]


class GroupsOpened(Ok):
    groups: list[OpenedGroup]


class PreviousGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    members: list[str]


class PreviousGroups(Ok):
    """The groups of the class's previous lesson that had some, their members still eligible; [] if none."""

    groups: list[PreviousGroup]


class GroupsObject(BaseModel):
    """Extension: the groups running in a lesson, in its `state` and `groups.updated`.

    `mine`: the group of the user it is sent to (null for moderators and students not in one yet).
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["assigned", "choose"]
    ends_at: str | None
    groups: list[GroupObject]
    mine: str | None = None


class GroupHere(GroupObject):
    """Extension: in a group room's `state`, the group itself, its lesson and when groups end."""

    lesson: str
    ends_at: str | None


class GroupAssigned(Event):
    type: Literal["group.assigned"] = "group.assigned"
    group: GroupObject


class GroupClosed(Event):
    type: Literal["group.closed"] = "group.closed"
    room: str


class GroupBroadcast(Event):
    type: Literal["group.broadcast"] = "group.broadcast"
    text: str
    from_: Sender = Field(alias="from")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class GroupsUpdated(Event):
    """Extension: to the lesson room when groups open or close (null); `mine` is null (sent to all)."""

    type: Literal["groups.updated"] = "groups.updated"
    groups: GroupsObject | None


class OverviewGroup(GroupObject):
    """One group as the lesson's moderators see it; `members` and `help_at` extend docs/protocol.md."""

    participants: list[ParticipantObject]
    hands: list[str]
    speaking: list[str]
    help: bool
    help_at: str | None
    members: list[Sender]


class GroupsOverview(Event):
    type: Literal["groups.overview"] = "groups.overview"
    groups: list[OverviewGroup]
    ends_at: str | None


class State(Event):
    type: Literal["state"] = "state"
    room: RoomObject
    you: ParticipantObject
    participants: list[ParticipantObject]
    hands: list[str]
    polls: list[PollObject]
    chat: list[ChatObject]
    # Filled by the slides app (slides.room); a room without it shows no decks.
    decks: list[DeckObject] = []
    slides: SlidesObject | None = None
    timer: TimerObject | None = None
    waiting: list[WaitingObject] | None = Field(default=None, exclude_if=_is_none)
    # Breakout groups: those running in a lesson, or the group a group room is.
    groups: GroupsObject | None = Field(default=None, exclude_if=_is_none)
    group: GroupHere | None = Field(default=None, exclude_if=_is_none)


class ParticipantJoined(Event):
    type: Literal["participant.joined"] = "participant.joined"
    participant: ParticipantObject


class ParticipantUpdated(Event):
    type: Literal["participant.updated"] = "participant.updated"
    participant: ParticipantObject


class ParticipantLeft(Event):
    type: Literal["participant.left"] = "participant.left"
    id: str


class Hands(Event):
    type: Literal["hands"] = "hands"
    queue: list[str]


class ChatMessageEvent(Event):
    type: Literal["chat.message"] = "chat.message"
    message: ChatObject


class ChatDeleted(Event):
    type: Literal["chat.deleted"] = "chat.deleted"
    id: str


class PollOpened(Event):
    type: Literal["poll.opened"] = "poll.opened"
    poll: PollObject


class PollResults(Event):
    type: Literal["poll.results"] = "poll.results"
    poll: PollObject


class PollClosed(Event):
    type: Literal["poll.closed"] = "poll.closed"
    id: str


class RoomUpdated(Event):
    type: Literal["room.updated"] = "room.updated"
    room: RoomObject


class WaitingUpdated(Event):
    type: Literal["waiting.updated"] = "waiting.updated"
    waiting: list[WaitingObject]


class Muted(Event):
    type: Literal["muted"] = "muted"
    kind: MediaKind
    by: Sender


class ReportEvent(Event):
    type: Literal["report"] = "report"
    from_: Sender = Field(alias="from")
    text: str
    at: str

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RoomEnded(Event):
    type: Literal["room.ended"] = "room.ended"
    reason: Literal["ended", "timeout", "no_supervisor", "groups_closed"]


def dump(event: Event) -> dict[str, Any]:
    """The JSON-ready dict of an event, with aliases (`from`)."""
    return event.model_dump(mode="json", by_alias=True)
