"""The slide actions: check_* validates, do_* changes state and emits events after commit.

The upload view, the Celery task and the room consumer only parse, authorise and call these.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from classroom import events
from classroom.models import Room, SchoolClass
from classroom.permissions import Refused

from . import files, render, watchdog
from .annotations import board_object, page_annotations
from .models import Deck, RoomSlides
from .protocol import DeckObject, Decks, SlidesHidden, SlidesObject, SlidesPage

logger = logging.getLogger(__name__)

# Progress events go out at most this often while a deck renders.
PROGRESS_EVENT_SECONDS = 1.0


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def max_concurrent_renders() -> int:
    """Renders (conversion and pages) at once on this machine, across worker processes."""
    return _setting("SLIDES_MAX_CONCURRENT_RENDERS", 2)


def max_unpacked_bytes() -> int:
    return _setting("SLIDES_MAX_UNPACKED_BYTES", files.MAX_UNPACKED_BYTES)


def render_slots_directory() -> Path:
    return Path(settings.MEDIA_ROOT) / "slides" / "render-slots"


class UploadRefused(Exception):
    """An upload that cannot become a deck; `code` is a Deck.Error and `message` says why."""

    def __init__(self, code: str, **detail: int) -> None:
        self.code = code
        self.detail = detail
        self.message = error_message(code, **detail)
        super().__init__(self.message)


def error_message(code: str, **detail: int) -> str:
    """A deck error in the reader's language, with its numbers."""
    if code == Deck.Error.TOO_LARGE and "max_bytes" in detail:
        return _("This file is too large: the limit is %(mb)d MB.") % {"mb": detail["max_bytes"] // (1024 * 1024)}
    if code == Deck.Error.UNPACKED_TOO_LARGE and "max_bytes" in detail:
        return _("This presentation is too large once unpacked: the limit is %(mb)d MB.") % {
            "mb": detail["max_bytes"] // (1024 * 1024)
        }
    if code == Deck.Error.UNPACKED_TOO_LARGE and "members" in detail:
        return _("This presentation holds %(members)d files: the limit is %(max)d.") % {
            "members": detail["members"],
            "max": detail["max_members"],
        }
    if code == Deck.Error.TOO_MANY_PAGES and "pages" in detail:
        return _("This presentation has %(pages)d pages: the limit is %(max)d.") % {
            "pages": detail["pages"],
            "max": detail["max_pages"],
        }
    return str(Deck.Error(code).label)


# --- Upload ---------------------------------------------------------------------------


def check_upload(path: Path, size: int) -> str:
    """Return the presentation kind of an uploaded file (pdf, odp, pptx) or raise UploadRefused."""
    if size > settings.SLIDES_MAX_BYTES:
        raise UploadRefused(Deck.Error.TOO_LARGE, max_bytes=settings.SLIDES_MAX_BYTES)
    if files.looks_like_zip(path):
        # the zip's directory only: a bomb is refused here in milliseconds, the task unpacks it
        try:
            files.check_archive(path, max_unpacked_bytes())
        except files.ArchiveProblem as problem:
            raise UploadRefused(problem.code, **problem.detail) from None
    kind = files.sniff_kind(path)
    if kind is None:
        raise UploadRefused(Deck.Error.NOT_A_PRESENTATION)
    if kind == "pdf":
        try:
            render.count_pages(path, settings.SLIDES_MAX_PAGES)
        except render.PdfProblem as problem:
            raise UploadRefused(problem.code, **problem.detail) from None
    elif files.soffice_path() is None:
        raise UploadRefused(Deck.Error.NO_CONVERTER)
    return kind


def _default_title(filename: str) -> str:
    return Path(filename).stem.replace("_", " ").strip()[:200] or _("Presentation")


def do_upload_deck(school_class: SchoolClass, user: User, upload: UploadedFile[bytes], title: str = "") -> Deck:
    """Check an uploaded file, keep it as a new deck of the class and queue its rendering.

    A refused file raises UploadRefused and leaves nothing behind.
    """
    if upload.size is not None and upload.size > settings.SLIDES_MAX_BYTES:
        raise UploadRefused(Deck.Error.TOO_LARGE, max_bytes=settings.SLIDES_MAX_BYTES)
    incoming = Path(settings.MEDIA_ROOT) / "slides" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=incoming, delete=False) as handle:
        temporary = Path(handle.name)
        written = 0
        for chunk in upload.chunks():
            written += len(chunk)
            if written > settings.SLIDES_MAX_BYTES:
                break
            handle.write(chunk)
    try:
        kind = check_upload(temporary, written)
        original_name = Path(upload.name or "").name[:255]
        with transaction.atomic():
            deck = Deck.objects.create(
                school_class=school_class,
                title=title.strip()[:200] or _default_title(original_name),
                original_name=original_name,
                source_kind=kind,
                uploaded_by=user,
            )
            deck.directory.mkdir(parents=True, exist_ok=True)
            temporary.replace(deck.source_path)
            broadcast_decks(school_class)
            transaction.on_commit(lambda: _queue_render(deck.pk))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return deck


def _queue_render(deck_id: int) -> None:
    # Lazy: the tasks are thin wrappers that import this module.
    from .tasks import render_deck

    render_deck.delay(deck_id)


# --- Rendering (the body of the Celery task) -----------------------------------------


def do_render(deck_id: int) -> Deck | None:
    """Convert the deck to PDF if needed, render every page in both sizes, and say so to the rooms."""
    deck = Deck.objects.select_related("school_class").filter(pk=deck_id).first()
    if deck is None or deck.status != Deck.Status.RENDERING:
        return deck
    shutil.rmtree(deck.pages_directory, ignore_errors=True)
    last_event = 0.0

    def on_pages(pages: int) -> None:
        Deck.objects.filter(pk=deck.pk).update(pages=pages)

    def on_page(page: int) -> None:
        nonlocal last_event
        Deck.objects.filter(pk=deck.pk).update(progress=page)
        if time.monotonic() - last_event >= PROGRESS_EVENT_SECONDS:
            last_event = time.monotonic()
            broadcast_decks(deck.school_class)

    memory = _setting("SLIDES_RENDER_MEMORY_BYTES", watchdog.CHILD_MEMORY_BYTES)
    try:
        with watchdog.render_slot(render_slots_directory(), max_concurrent_renders()):
            # a deck may have been failed as stuck, or deleted, while this waited for a slot
            if not Deck.objects.filter(pk=deck.pk, status=Deck.Status.RENDERING).exists():
                return Deck.objects.filter(pk=deck.pk).first()
            if deck.source_kind in files.OFFICE_KINDS:
                files.verify_archive(deck.source_path, max_unpacked_bytes())
                files.convert_to_pdf(
                    deck.source_path,
                    deck.directory,
                    timeout=_setting("SLIDES_CONVERT_TIMEOUT_SECONDS", files.CONVERT_TIMEOUT_SECONDS),
                    memory_bytes=memory,
                )
            pages = watchdog.render_pdf(
                deck.pdf_path,
                deck.pages_directory,
                max_pages=settings.SLIDES_MAX_PAGES,
                page_timeout=float(settings.SLIDES_PAGE_TIMEOUT_SECONDS),
                on_pages=on_pages,
                on_page=on_page,
                memory_bytes=memory,
                # by default as many processor seconds as wall-clock ones: PDFium uses one thread
                page_cpu_seconds=_setting("SLIDES_PAGE_CPU_SECONDS", settings.SLIDES_PAGE_TIMEOUT_SECONDS),
            )
    except (render.PdfProblem, files.ConversionError, files.ArchiveProblem) as problem:
        detail = getattr(problem, "detail", {})
        return _fail(deck, problem.code, detail.get("page"))
    except Exception:
        logger.exception("rendering deck %s failed", deck.pk)
        _fail(deck, Deck.Error.INTERNAL, None)
        raise
    Deck.objects.filter(pk=deck.pk).update(status=Deck.Status.READY, pages=pages, progress=pages)
    broadcast_decks(deck.school_class)
    deck.refresh_from_db()
    return deck


def _fail(deck: Deck, code: str, page: int | None) -> Deck:
    """Mark the deck failed with its reason; keep no half-rendered pages."""
    shutil.rmtree(deck.pages_directory, ignore_errors=True)
    if code not in Deck.Error.values:
        code = Deck.Error.CORRUPT
    Deck.objects.filter(pk=deck.pk).update(status=Deck.Status.FAILED, error=code, error_page=page)
    broadcast_decks(deck.school_class)
    deck.refresh_from_db()
    return deck


# --- Deletion and stuck decks ---------------------------------------------------------


def do_delete_deck(deck: Deck) -> None:
    """Delete a deck and, once the transaction commits, its files (source and pages).

    A live room that shows it stops showing anything (`state.slides` becomes null); every live
    lesson of the class gets `decks` without it.
    """
    school_class = deck.school_class
    directory = deck.directory
    with transaction.atomic():
        RoomSlides.objects.filter(deck=deck).delete()
        deck.delete()
        broadcast_decks(school_class)
        transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


def do_fail_stuck_decks() -> int:
    """Mark failed the decks still rendering after SLIDES_STUCK_MINUTES (a worker killed mid-render)."""
    cutoff = timezone.now() - timedelta(minutes=settings.SLIDES_STUCK_MINUTES)
    failed = 0
    stuck = Deck.objects.select_related("school_class").filter(status=Deck.Status.RENDERING, created_at__lt=cutoff)
    for deck in stuck:
        with transaction.atomic():
            # Only if it is still rendering: a worker may have finished it meanwhile.
            updated = Deck.objects.filter(pk=deck.pk, status=Deck.Status.RENDERING).update(
                status=Deck.Status.FAILED, error=Deck.Error.INTERNAL, error_page=None
            )
            if not updated:
                continue
            logger.warning(
                "deck %s was still rendering after %s minutes: marked failed", deck.pk, settings.SLIDES_STUCK_MINUTES
            )
            shutil.rmtree(deck.pages_directory, ignore_errors=True)
            broadcast_decks(deck.school_class)
            failed += 1
    return failed


# --- The room -------------------------------------------------------------------------


def deck_object(deck: Deck) -> DeckObject:
    return DeckObject(
        id=str(deck.pk),
        title=deck.title,
        pages=deck.pages,
        status=deck.status,  # type: ignore[arg-type]
        progress=deck.progress,
        error=deck.error or None,
    )


def _class_decks(school_class_id: int | None) -> list[DeckObject]:
    if school_class_id is None:
        return []
    return [deck_object(deck) for deck in Deck.objects.filter(school_class_id=school_class_id)]


CLASS_ROOMS = (Room.Kind.LESSON, Room.Kind.GROUP)
"""The rooms that offer their class's decks: a lesson and its breakout groups (each its own presenter)."""


def decks_state(room: Room) -> list[DeckObject]:
    """The decks of a lesson's (or a group's) class for `state.decks`; a recess has none."""
    if room.kind not in CLASS_ROOMS:
        return []
    return _class_decks(room.school_class_id)


def slides_state(room: Room) -> SlidesObject | None:
    """What the room shows now for `state.slides`: null, or the deck (or whiteboard), its page and the
    page's strokes."""
    shown = RoomSlides.objects.select_related("deck").filter(room=room).first()
    if shown is None:
        return None
    if shown.board:
        return board_object(shown, page_annotations(room, None, shown.page))
    if shown.deck is None or shown.deck.status != Deck.Status.READY:
        return None
    strokes = page_annotations(room, shown.deck_id, shown.page)
    return SlidesObject(deck=str(shown.deck_id), page=shown.page, pages=shown.deck.pages, annotations=strokes)


def broadcast_decks(school_class: SchoolClass) -> None:
    """Send `decks` to every live lesson of the class and its groups, once the transaction commits."""
    rooms = Room.objects.filter(kind__in=CLASS_ROOMS, school_class=school_class, ended_at__isnull=True)
    room_ids = list(rooms.values_list("pk", flat=True))
    if not room_ids:
        return
    event = Decks(decks=_class_decks(school_class.pk))
    for room_id in room_ids:
        events.send_event_on_commit(events.room_group(room_id), event)


def _find_deck(room: Room, deck_id: str | int) -> Deck:
    deck = None
    if str(deck_id).isdigit() and room.kind in CLASS_ROOMS:
        deck = Deck.objects.filter(pk=int(deck_id), school_class_id=room.school_class_id).first()
    if deck is None:
        raise Refused("not_found", _("No such deck in this class."))
    return deck


@transaction.atomic
def do_open_deck(room: Room, user: User, deck_id: str | int) -> SlidesObject:
    """Show a ready deck of the room's class from page 1 to everyone (presenters only; the
    consumer asks the permission table)."""
    deck = _find_deck(room, deck_id)
    if deck.status != Deck.Status.READY:
        raise Refused("conflict", _("This deck is not ready."))
    RoomSlides.objects.update_or_create(room=room, defaults={"deck": deck, "page": 1, "board": False})
    shown = SlidesObject(deck=str(deck.pk), page=1, pages=deck.pages)
    strokes = page_annotations(room, deck.pk, 1)
    events.send_event_on_commit(events.room_group(room.pk), SlidesPage(**shown.model_dump(), annotations=strokes))
    return shown


@transaction.atomic
def do_goto_page(room: Room, user: User, page: int) -> SlidesObject:
    """Turn the shown deck (or whiteboard) to a page (from 1) for everyone, with the page's strokes."""
    shown = RoomSlides.objects.select_for_update(of=("self",)).select_related("deck").filter(room=room).first()
    if shown is None or not (shown.board or (shown.deck is not None and shown.deck.status == Deck.Status.READY)):
        raise Refused("conflict", _("No deck is shown."))
    pages = shown.board_pages if shown.board or shown.deck is None else shown.deck.pages
    if not 1 <= page <= pages:
        raise Refused("invalid", _("This deck has %(pages)d pages.") % {"pages": pages})
    shown.page = page
    shown.save(update_fields=["page", "updated_at"])
    deck_id = None if shown.board else shown.deck_id
    result = SlidesObject(deck=None if deck_id is None else str(deck_id), page=page, pages=pages, board=shown.board)
    strokes = page_annotations(room, deck_id, page)
    events.send_event_on_commit(events.room_group(room.pk), SlidesPage(**result.model_dump(), annotations=strokes))
    return result


@transaction.atomic
def do_hide_slides(room: Room, user: User) -> None:
    """Stop showing the slides (`state.slides` becomes null): `slides.hidden` to everyone."""
    deleted = RoomSlides.objects.filter(room=room).delete()[0]
    if not deleted:
        raise Refused("conflict", _("No deck is shown."))
    events.send_event_on_commit(events.room_group(room.pk), SlidesHidden())
