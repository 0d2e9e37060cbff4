"""The annotation and whiteboard messages of the room protocol (docs/protocol.md), closed and typed.

`SlidesConfig.ready` adds the client messages to the room's parser (classroom.protocol.add_client_messages).
The stroke object itself (`StrokeObject`) is in classroom.protocol, with the `state` that holds it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)

from classroom.protocol import ClientMessage, Event, Id, Ok, StrokeObject

MAX_POINTS = 2000
MAX_TEXT = 500
MAX_WIDTH = 0.05

Tool = Literal["pen", "highlighter", "line", "arrow", "rect", "ellipse", "text", "eraser"]
# Fractions of the page; JSON has no integer/float distinction for 0 and 1, booleans are refused.
Fraction = Annotated[StrictFloat | StrictInt, Field(ge=0, le=1, allow_inf_nan=False)]
Point = tuple[Fraction, Fraction]
Points = Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS)]
Color = Annotated[str, StringConstraints(strict=True, pattern=r"^#[0-9a-fA-F]{6}$")]
Width = Annotated[StrictFloat | StrictInt, Field(ge=0.001, le=MAX_WIDTH, allow_inf_nan=False)]
Page = Annotated[StrictInt, Field(ge=1, le=100_000)]
# The drawing client's own name for a stroke: it extends the stroke by it before the reply comes.
Key = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Text = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]


class StrokeIn(BaseModel):
    """A stroke as a client sends it; the server adds `id` and `by`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: Tool
    color: Color
    width: Width
    points: Points
    text: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _ignore_text_of_other_tools(cls, data: Any) -> Any:
        """SPEC 8 asks `text` only of `text` strokes: another tool's `text` is accepted and dropped."""
        if isinstance(data, dict) and data.get("tool") != "text" and "text" in data:
            return {key: value for key, value in data.items() if key != "text"}
        return data

    @model_validator(mode="after")
    def _text_for_text(self) -> StrokeIn:
        if self.tool == "text" and self.text is None:
            raise ValueError("a text stroke has a text")
        return self


class AnnotationAdd(ClientMessage):
    """`final` false (extension): the stroke is being drawn and grows by `annotation.extend`."""

    type: Literal["annotation.add"]
    page: Page
    stroke: StrokeIn
    key: Key | None = None
    final: StrictBool = True


class AnnotationExtend(ClientMessage):
    """Extension: more points of a stroke being drawn, in small batches; `final` when the pen lifts."""

    type: Literal["annotation.extend"]
    page: Page
    key: Key
    points: Annotated[list[Point], Field(min_length=0, max_length=MAX_POINTS)]
    final: StrictBool = False


class AnnotationUndo(ClientMessage):
    """`id` (extension): a given stroke, one's own or (moderators) anyone's; else one's last on the page
    (moderators: the page's last, whoever drew it)."""

    type: Literal["annotation.undo"]
    page: Page
    id: Id | None = None


class AnnotationClear(ClientMessage):
    type: Literal["annotation.clear"]
    page: Page


class DrawSet(ClientMessage):
    type: Literal["draw.set"]
    id: Id
    draw: StrictBool


class BoardOpen(ClientMessage):
    type: Literal["board.open"]


class BoardPageAdd(ClientMessage):
    type: Literal["board.page.add"]


CLIENT_MESSAGES: tuple[type[ClientMessage], ...] = (
    AnnotationAdd,
    AnnotationExtend,
    AnnotationUndo,
    AnnotationClear,
    DrawSet,
    BoardOpen,
    BoardPageAdd,
)


# --- Server events and replies -------------------------------------------------------------


class StrokeAdded(Ok):
    id: str


class AnnotationAdded(Event):
    """A stroke to draw; `deck` (extension) is null on the whiteboard."""

    type: Literal["annotation.added"] = "annotation.added"
    deck: str | None
    page: int
    stroke: StrokeObject


class AnnotationExtended(Event):
    """Extension: points to append to a stroke being drawn; `final` once the pen lifted."""

    type: Literal["annotation.extended"] = "annotation.extended"
    deck: str | None
    page: int
    id: str
    points: list[tuple[float, float]]
    final: bool


class AnnotationRemoved(Event):
    type: Literal["annotation.removed"] = "annotation.removed"
    deck: str | None
    page: int
    id: str


class AnnotationCleared(Event):
    type: Literal["annotation.cleared"] = "annotation.cleared"
    deck: str | None
    page: int
