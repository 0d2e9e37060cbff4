from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from classroom import permissions
from classroom.models import Room, SchoolClass

from . import annotated_pdf
from .actions import UploadRefused, deck_object, do_delete_deck, do_upload_deck
from .annotations import room_strokes
from .models import Deck, RoomSlides
from .render import page_filename

SIZES = ("small", "large")


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _wants_json(request: HttpRequest) -> bool:
    """A fetch from the room asks for JSON; the class page's form gets a redirect and a message."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


@login_required
@require_http_methods(["GET", "POST"])
def class_decks(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the class's decks as JSON. POST (field `file`, optional `title`): upload a deck."""
    user = _user(request)
    school_class = get_object_or_404(SchoolClass, slug=slug)
    if request.method == "GET":
        if not permissions.can_see_decks(user, school_class):
            raise PermissionDenied
        decks = [deck_object(deck).model_dump() for deck in school_class.decks.all()]
        return JsonResponse({"decks": decks})
    if not permissions.can_upload_deck(user, school_class):
        raise PermissionDenied
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise UploadRefused(Deck.Error.NOT_A_PRESENTATION)
        deck = do_upload_deck(school_class, user, upload, request.POST.get("title", ""))
    except UploadRefused as refused:
        if _wants_json(request):
            return JsonResponse({"error": refused.code, "message": refused.message}, status=400)
        messages.error(request, refused.message)
        return redirect("class", slug=school_class.slug)
    deck.refresh_from_db()
    if _wants_json(request):
        return JsonResponse({"deck": deck_object(deck).model_dump()}, status=201)
    if deck.status == Deck.Status.FAILED:
        messages.error(request, deck.error_message)
    else:
        messages.success(request, _("“%(title)s” was uploaded.") % {"title": deck.title})
    return redirect("class", slug=school_class.slug)


@login_required
@require_POST
def delete_deck(request: HttpRequest, deck_id: int) -> HttpResponse:
    """Delete a deck and its files (the class's teachers and admins)."""
    deck = get_object_or_404(Deck.objects.select_related("school_class"), pk=deck_id)
    school_class = deck.school_class
    if not permissions.can_upload_deck(_user(request), school_class):
        raise PermissionDenied
    title = deck.title
    do_delete_deck(deck)
    if _wants_json(request):
        return JsonResponse({"deleted": str(deck_id)})
    messages.success(request, _("“%(title)s” was deleted.") % {"title": title})
    return redirect("class", slug=school_class.slug)


@login_required
@require_GET
def page_image(request: HttpRequest, deck_id: int, page: int, ext: str) -> HttpResponseBase:
    """One rendered page, `?size=small` (phones) or `large` (default), to those allowed in the class's rooms."""
    deck = get_object_or_404(Deck.objects.select_related("school_class"), pk=deck_id)
    if not permissions.can_see_decks(_user(request), deck.school_class):
        raise PermissionDenied
    size = request.GET.get("size", "large")
    if size not in SIZES:
        return HttpResponseBadRequest("size is small or large")
    if deck.status != Deck.Status.READY or ext != deck.image_format or not 1 <= page <= deck.pages:
        raise Http404
    path = deck.pages_directory / page_filename(page, size, deck.image_format)
    try:
        response = FileResponse(open(path, "rb"), content_type=f"image/{deck.image_format}")
    except FileNotFoundError:
        raise Http404 from None
    # A deck's pages never change under the same URL; only the people allowed may keep a copy.
    response["Cache-Control"] = "private, max-age=86400, immutable"
    response["Vary"] = "Cookie"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _room_for_annotations(request: HttpRequest, room_id: str) -> Room:
    room = get_object_or_404(Room.objects.select_related("school_class"), pk=room_id)
    if not permissions.can_download_annotations(_user(request), room):
        raise PermissionDenied
    return room


@login_required
@require_GET
def annotated_deck(request: HttpRequest, room_id: str, deck_id: int) -> HttpResponse:
    """The deck's PDF with the room's strokes drawn on its pages (the room's participants)."""
    room = _room_for_annotations(request, room_id)
    deck = get_object_or_404(Deck, pk=deck_id, school_class_id=room.school_class_id, status=Deck.Status.READY)
    content = annotated_pdf.annotated_deck(deck.pdf_path, room_strokes(room, deck.pk))
    return _pdf(content, f"{slugify(deck.title) or 'slides'}-annotated.pdf")


@login_required
@require_GET
def annotated_board(request: HttpRequest, room_id: str) -> HttpResponse:
    """The room's whiteboard pages with their strokes (the room's participants)."""
    room = _room_for_annotations(request, room_id)
    strokes = room_strokes(room, None)
    shown = RoomSlides.objects.filter(room=room).first()
    pages = max([shown.board_pages if shown else 0, *strokes.keys()])
    if not pages:
        raise Http404
    return _pdf(annotated_pdf.annotated_board(pages, strokes), "whiteboard.pdf")
