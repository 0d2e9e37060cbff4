"""Annotations on the page shown, the pen given to students, and the whiteboard (docs/protocol.md).

check_* validates, do_* changes state and emits events after commit; the consumer only parses and
calls these through the dispatch table (`SlidesConfig.ready`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils.translation import gettext as _

from accounts.models import User
from classroom import events
from classroom import protocol as p
from classroom.actions.common import Handler, broadcast_participant, target
from classroom.actions.dispatch import LiveHandler
from classroom.actions.serialize import Present
from classroom.models import Participant, Room
from classroom.permissions import Actor, Refused, check_may_act_on_other, check_may_draw, check_may_send, may_draw

from . import annotated_pdf, live
from . import annotation_protocol as a
from .geometry import Budget, EraserPath, bounds, outline
from .models import Deck, Pen, RoomSlides, Stroke
from .protocol import SlidesPage

logger = logging.getLogger(__name__)

MAX_STROKES_PER_PAGE = 5000
# Rows kept per page, erased strokes and erasers included (they stay so that undo brings them back):
# repeated erasing cannot grow a page without bound; `annotation.clear` empties it.
MAX_ROWS_PER_PAGE = 2 * MAX_STROKES_PER_PAGE
MAX_BOARD_PAGES = 100

# --- Who draws ---------------------------------------------------------------------------


def has_pen(room: Room, user: User) -> bool:
    return Pen.objects.filter(room=room, user=user).exists()


def draw_part(participants: list[tuple[Participant | Present, bool]]) -> dict[int, dict[str, Any]]:
    """`draw` for participant objects: whether each may draw now (one query for all of them)."""
    others = [item for item, moderator in participants if not (moderator or item.presenter)]
    pens: set[int] = set()
    if others:
        pens = set(
            Pen.objects.filter(room_id=others[0].room_id, user_id__in=[item.user_id for item in others]).values_list(
                "user_id", flat=True
            )
        )
    return {
        item.user_id: {"draw": may_draw(moderator, item.presenter, item.user_id in pens)}
        for item, moderator in participants
    }


def _check_drawer(actor: Actor, message_type: str) -> None:
    check_may_send(actor, message_type)
    if not (actor.moderator or actor.presenter):
        check_may_draw(actor, has_pen(actor.room, actor.user))


@transaction.atomic
def do_draw_set(actor: Actor, message: a.DrawSet) -> None:
    """Give a participant the pen, or take it back: `participant.updated` with `draw` to all."""
    check_may_send(actor, message.type)
    participant = target(actor.room, message.id)
    if message.draw:
        Pen.objects.get_or_create(room=actor.room, user=participant.user)
    else:
        Pen.objects.filter(room=actor.room, user=participant.user).delete()
    broadcast_participant(actor.room, participant, p.ParticipantUpdated)


# --- Strokes -------------------------------------------------------------------------------


def stroke_object(stroke: Stroke) -> p.StrokeObject:
    return p.StrokeObject(
        id=str(stroke.pk),
        by=str(stroke.author_id),
        key=stroke.key,
        tool=stroke.tool,  # type: ignore[arg-type]
        color=stroke.color,
        width=stroke.width,
        points=[(x, y) for x, y in stroke.points],
        text=stroke.text or None,
        final=stroke.final,
    )


def _visible(room: Room | str, deck_id: int | None, page: int) -> Any:
    """The strokes one sees on a page: not erased, and no finished eraser (it only removed others)."""
    room_id = room.pk if isinstance(room, Room) else room
    return (
        Stroke.objects.filter(room_id=room_id, deck=deck_id, page=page, erased_by__isnull=True)
        .exclude(tool=Stroke.Tool.ERASER, final=True)
        .order_by("pk")
    )


def page_annotations(room: Room, deck_id: int | None, page: int) -> list[p.StrokeObject]:
    """The strokes of a page, oldest first, for `state.slides.annotations` and `slides.page`.

    A stroke being drawn through this process has its points so far (its row has only its first).
    """
    strokes = list(_visible(room, deck_id, page))
    for stroke in strokes:
        drawn = None if stroke.final else live.points_of(stroke.pk)
        if drawn is not None:
            stroke.points = drawn
    return [stroke_object(stroke) for stroke in strokes]


def room_strokes(room: Room, deck_id: int | None) -> dict[int, list[annotated_pdf.StrokeData]]:
    """The strokes one sees on every page of a deck (or of the whiteboard) in a room, by page, oldest first."""
    by_page: dict[int, list[annotated_pdf.StrokeData]] = {}
    rows = (
        Stroke.objects.filter(room=room, deck=deck_id, erased_by__isnull=True)
        .exclude(tool=Stroke.Tool.ERASER)
        .order_by("page", "pk")
        .values_list("page", "tool", "color", "width", "points", "text")
    )
    for page, tool, color, width, points, text in rows:
        by_page.setdefault(page, []).append(annotated_pdf.StrokeData(tool, color, width, points, text))
    return by_page


def _shown(room: Room, page: int) -> RoomSlides:
    """What the room shows, if `page` is the page shown; else `conflict`."""
    shown = RoomSlides.objects.select_related("deck").filter(room=room).first()
    if shown is None or (not shown.board and (shown.deck is None or shown.deck.status != Deck.Status.READY)):
        raise Refused("conflict", _("Nothing is shown to draw on."))
    if shown.page != page:
        raise Refused("conflict", _("This page is no longer shown."))
    return shown


def _deck_id(shown: RoomSlides) -> int | None:
    return None if shown.board else shown.deck_id


def _send(room: Room | UUID, event: p.Event) -> None:
    events.send_event_on_commit(events.room_group(room.pk if isinstance(room, Room) else room), event)


@transaction.atomic
def do_annotation_add(actor: Actor, message: a.AnnotationAdd) -> a.StrokeAdded:
    """Keep a stroke on the page shown and draw it for everyone (`annotation.added`)."""
    _check_drawer(actor, message.type)
    shown = _shown(actor.room, message.page)
    deck_id = _deck_id(shown)
    rows = Stroke.objects.filter(room=actor.room, deck=deck_id, page=message.page)
    counts = rows.aggregate(
        rows=Count("pk"),
        visible=Count("pk", filter=Q(erased_by__isnull=True) & ~Q(tool=Stroke.Tool.ERASER, final=True)),
    )
    if counts["visible"] >= MAX_STROKES_PER_PAGE:
        raise Refused(
            "conflict", _("This page holds %(max)d strokes: undo or clear some first.") % {"max": MAX_STROKES_PER_PAGE}
        )
    if counts["rows"] >= MAX_ROWS_PER_PAGE:
        raise Refused("conflict", _("This page has been drawn on and erased too much: clear it first."))
    key = message.key or uuid.uuid4().hex[:16]
    if Stroke.objects.filter(room=actor.room, author=actor.user, key=key).exists():
        raise Refused("conflict", _("You already drew a stroke with this key."))
    points = [list(point) for point in message.stroke.points]
    min_x, min_y, max_x, max_y = bounds(points)
    stroke = Stroke.objects.create(
        room=actor.room,
        deck_id=deck_id,
        page=message.page,
        author=actor.user,
        key=key,
        tool=message.stroke.tool,
        color=message.stroke.color.lower(),
        width=float(message.stroke.width),
        points=points,
        text=message.stroke.text or "",
        final=message.final,
        min_x=min_x,
        min_y=min_y,
        max_x=max_x,
        max_y=max_y,
    )
    _send(actor.room, a.AnnotationAdded(deck=_str(deck_id), page=stroke.page, stroke=stroke_object(stroke)))
    if stroke.final and stroke.tool == Stroke.Tool.ERASER:
        _erase(stroke)
    if not stroke.final:
        live.keep_on_commit(
            live.LiveStroke(
                id=stroke.pk,
                room_id=str(actor.room.pk),
                user_id=actor.user.pk,
                key=key,
                deck_id=deck_id,
                page=stroke.page,
                tool=stroke.tool,
                points=list(points),
            )
        )
    return a.StrokeAdded(id=str(stroke.pk))


async def do_annotation_extend_live(actor: Actor, message: a.AnnotationExtend) -> p.Ok | None:
    """Relay a batch of a stroke drawn through this process, with no database turn; write it at `final`.

    `actor` is the socket's own (admission only, no database read): the stroke's `annotation.add`
    asked the whole permission table, and losing the pen ends the stroke (`end_user_strokes`).
    None: the stroke is not drawn here, and `do_annotation_extend` answers.
    """
    stroke = live.get(str(actor.room.pk), actor.user.pk, message.key)
    if stroke is None:
        return None
    check_may_send(actor, message.type)
    if not live.allows(stroke.room_id, stroke.user_id):
        raise Refused("rate_limited", _("Too many messages; slow down."))
    if stroke.page != message.page:
        raise Refused("invalid", _("This stroke is on page %(page)d.") % {"page": stroke.page})
    if len(stroke.points) + len(message.points) > a.MAX_POINTS:
        raise Refused("invalid", _("A stroke has at most %(max)d points.") % {"max": a.MAX_POINTS})
    added = [list(point) for point in message.points]
    stroke.append(added)
    if message.final:
        live.take(stroke)
        await database_sync_to_async(_store)(stroke, added)
    else:
        event = a.AnnotationExtended(
            deck=_str(stroke.deck_id),
            page=stroke.page,
            id=str(stroke.id),
            points=[(x, y) for x, y in added],
            final=False,
        )
        await events.send_text(events.room_group(stroke.room_id), event)
    return p.Ok()


@transaction.atomic
def _store(stroke: live.LiveStroke, added: list[list[float]]) -> None:
    """Write a finished live stroke's row once, and tell everyone it is finished (with its last points).

    A row undone or cleared while it was drawn stays gone.
    """
    min_x, min_y, max_x, max_y = stroke.box
    row = Stroke.objects.select_for_update(of=("self",)).filter(pk=stroke.id, erased_by__isnull=True).first()
    if row is None:
        return
    row.points, row.final = stroke.points, True
    row.min_x, row.min_y, row.max_x, row.max_y = min_x, min_y, max_x, max_y
    row.save(update_fields=["points", "final", "min_x", "min_y", "max_x", "max_y"])
    _send(
        row.room_id,
        a.AnnotationExtended(
            deck=_str(row.deck_id), page=row.page, id=str(row.pk), points=[(x, y) for x, y in added], final=True
        ),
    )
    if row.tool == Stroke.Tool.ERASER:
        _erase(row)


async def end_user_strokes(room_id: str, user_id: int) -> None:
    """Store as drawn, finished, the strokes a user is drawing through this process (their socket closed)."""
    live.forget_user(room_id, user_id)
    for stroke in live.of_user(room_id, user_id):
        live.take(stroke)
        await database_sync_to_async(_store)(stroke, [])


async def own_participant_updated(room_id: str, user_id: int, participant: dict[str, Any]) -> None:
    """A drawer's socket heard that they may no longer draw (pen taken, no longer presenter): end their strokes."""
    if participant.get("draw") is False and live.drawing(room_id, user_id):
        await end_user_strokes(room_id, user_id)


@transaction.atomic
def do_annotation_extend(actor: Actor, message: a.AnnotationExtend) -> None:
    """Append points to one's stroke being drawn (`annotation.extended`); `final` when the pen lifts."""
    _check_drawer(actor, message.type)
    stroke = (
        Stroke.objects.select_for_update(of=("self",))
        .filter(room=actor.room, author=actor.user, key=message.key, erased_by__isnull=True)
        .first()
    )
    if stroke is None:
        raise Refused("not_found", _("No stroke of yours has this key."))
    if stroke.final:
        raise Refused("conflict", _("This stroke is finished."))
    if stroke.page != message.page:
        raise Refused("invalid", _("This stroke is on page %(page)d.") % {"page": stroke.page})
    if len(stroke.points) + len(message.points) > a.MAX_POINTS:
        raise Refused("invalid", _("A stroke has at most %(max)d points.") % {"max": a.MAX_POINTS})
    added = [list(point) for point in message.points]
    if added:
        stroke.points = [*stroke.points, *added]
        min_x, min_y, max_x, max_y = bounds(added)
        stroke.min_x, stroke.min_y = min(stroke.min_x, min_x), min(stroke.min_y, min_y)
        stroke.max_x, stroke.max_y = max(stroke.max_x, max_x), max(stroke.max_y, max_y)
    stroke.final = message.final
    stroke.save(update_fields=["points", "final", "min_x", "min_y", "max_x", "max_y"])
    _send(
        actor.room,
        a.AnnotationExtended(
            deck=_str(stroke.deck_id),
            page=stroke.page,
            id=str(stroke.pk),
            points=[(x, y) for x, y in added],
            final=stroke.final,
        ),
    )
    if stroke.final and stroke.tool == Stroke.Tool.ERASER:
        _erase(stroke)


@transaction.atomic
def do_annotation_undo(actor: Actor, message: a.AnnotationUndo) -> None:
    """Take back one's last stroke on the page (moderators: the page's last stroke by anyone, or any
    stroke by `id`); an undone eraser brings back what it erased."""
    _check_drawer(actor, message.type)
    shown = _shown(actor.room, message.page)
    strokes = Stroke.objects.select_for_update(of=("self",)).filter(
        room=actor.room, deck=_deck_id(shown), page=message.page, erased_by__isnull=True
    )
    if message.id is not None:
        stroke = strokes.filter(pk=int(message.id)).first()
        if stroke is not None:
            check_may_act_on_other(actor, stroke.author_id)
    else:
        # SPEC 8: drawers undo their own last stroke, moderators any (the page's last, whoever drew it)
        stroke = (strokes if actor.moderator else strokes.filter(author=actor.user)).order_by("-pk").first()
    if stroke is None:
        raise Refused("not_found", _("There is no stroke to undo."))
    restored = list(stroke.erased.order_by("pk")) if stroke.tool == Stroke.Tool.ERASER else []
    deck, stroke_id = _str(stroke.deck_id), str(stroke.pk)
    stroke.delete()  # SET_NULL gives back what it erased
    if not (stroke.tool == Stroke.Tool.ERASER and stroke.final):
        _send(actor.room, a.AnnotationRemoved(deck=deck, page=message.page, id=stroke_id))
    for item in restored:
        item.erased_by = None
        _send(actor.room, a.AnnotationAdded(deck=deck, page=message.page, stroke=stroke_object(item)))


@transaction.atomic
def do_annotation_clear(actor: Actor, message: a.AnnotationClear) -> None:
    """Remove every stroke of the page shown (`annotation.cleared`)."""
    check_may_send(actor, message.type)
    shown = _shown(actor.room, message.page)
    deck_id = _deck_id(shown)
    Stroke.objects.filter(room=actor.room, deck=deck_id, page=message.page).delete()
    _send(actor.room, a.AnnotationCleared(deck=_str(deck_id), page=message.page))


def _str(deck_id: int | None) -> str | None:
    return None if deck_id is None else str(deck_id)


# --- The eraser ------------------------------------------------------------------------------

# How far outside the eraser's own half-width a stroke still counts as touched (fractions of the page).
ERASER_SLACK = 0.004
# The work one eraser may do (grid cells, points read, segments compared): about a quarter of a second
# of CPU on a busy 2-CPU machine, where a swipe over a page of 5,000 scribbles spends a fraction of it
# (tests/slides/test_eraser_cost.py).
ERASER_BUDGET = 2_000_000
ERASER_CHUNK = 200


def _erase(eraser: Stroke) -> None:
    """Mark erased the finished strokes that the eraser crossed, and tell everyone.

    Bounded: strokes are read a chunk at a time, oldest first, and the work spends one budget
    (`geometry.EraserPath`); an eraser that spends it all erases what it found so far.
    """
    margin = eraser.width / 2 + a.MAX_WIDTH / 2 + ERASER_SLACK
    path = EraserPath(eraser.points, margin, Budget(ERASER_BUDGET))
    candidates = (
        Stroke.objects.select_for_update(of=("self",))
        .filter(room_id=eraser.room_id, deck=eraser.deck_id, page=eraser.page, erased_by__isnull=True, pk__lt=eraser.pk)
        .exclude(tool=Stroke.Tool.ERASER)
        .filter(
            Q(min_x__lte=eraser.max_x + margin)
            & Q(max_x__gte=eraser.min_x - margin)
            & Q(min_y__lte=eraser.max_y + margin)
            & Q(max_y__gte=eraser.min_y - margin)
        )
        .only("pk", "tool", "points", "text", "width")
        .order_by("pk")
    )
    erased: list[int] = []
    for stroke in candidates.iterator(chunk_size=ERASER_CHUNK):
        if path.touches(
            outline(stroke.tool, stroke.points, stroke.text, stroke.width),
            eraser.width / 2 + stroke.width / 2 + ERASER_SLACK,
        ):
            erased.append(stroke.pk)
        if path.exhausted:
            logger.info("an eraser in %s spent its budget: %d strokes erased", eraser.room_id, len(erased))
            break
    Stroke.objects.filter(pk__in=erased).update(erased_by=eraser)
    deck = _str(eraser.deck_id)
    for stroke_id in [*erased, eraser.pk]:
        _send(eraser.room_id, a.AnnotationRemoved(deck=deck, page=eraser.page, id=str(stroke_id)))


# --- The whiteboard ---------------------------------------------------------------------------


def board_object(shown: RoomSlides, annotations: Iterable[p.StrokeObject] | None = None) -> p.SlidesObject:
    return p.SlidesObject(
        deck=None,
        page=shown.page,
        pages=shown.board_pages,
        board=True,
        annotations=None if annotations is None else list(annotations),
    )


def _show_board(room: Room, shown: RoomSlides) -> p.SlidesObject:
    shown.save()
    _send(room, SlidesPage(**board_object(shown, page_annotations(room, None, shown.page)).model_dump()))
    return board_object(shown)


@transaction.atomic
def do_board_open(actor: Actor, message: a.BoardOpen) -> p.SlidesShown:
    """Show the room's whiteboard (its first page, a blank one the first time) to everyone."""
    check_may_send(actor, message.type)
    shown, _created = RoomSlides.objects.select_for_update().get_or_create(
        room=actor.room, defaults={"deck": None, "board": True, "page": 1, "board_pages": 1}
    )
    shown.deck, shown.board, shown.page = None, True, 1
    # the pages drawn on stay, also after the slides were hidden (which forgets `board_pages`)
    drawn = Stroke.objects.filter(room=actor.room, deck__isnull=True).aggregate(last=Max("page"))["last"]
    shown.board_pages = max(shown.board_pages, drawn or 0, 1)
    return p.SlidesShown(slides=_show_board(actor.room, shown))


@transaction.atomic
def do_board_page_add(actor: Actor, message: a.BoardPageAdd) -> p.SlidesShown:
    """Add a blank page after the whiteboard's last one and show it."""
    check_may_send(actor, message.type)
    shown = RoomSlides.objects.select_for_update().filter(room=actor.room, board=True).first()
    if shown is None:
        raise Refused("conflict", _("The whiteboard is not shown."))
    if shown.board_pages >= MAX_BOARD_PAGES:
        raise Refused("conflict", _("The whiteboard has %(max)d pages at most.") % {"max": MAX_BOARD_PAGES})
    shown.board_pages += 1
    shown.page = shown.board_pages
    return p.SlidesShown(slides=_show_board(actor.room, shown))


HANDLERS: dict[str, Handler] = {
    "draw.set": do_draw_set,
    "annotation.add": do_annotation_add,
    "annotation.extend": do_annotation_extend,
    "annotation.undo": do_annotation_undo,
    "annotation.clear": do_annotation_clear,
    "board.open": do_board_open,
    "board.page.add": do_board_page_add,
}
# Answered on the event loop first (no database turn); None sends the message on to HANDLERS.
LIVE_HANDLERS: dict[str, LiveHandler] = {"annotation.extend": do_annotation_extend_live}
