from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from classroom import permissions
from classroom.models import SchoolClass

from .actions import UploadRefused, deck_object, do_delete_deck, do_upload_deck
from .models import Deck
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
def page_image(request: HttpRequest, deck_id: int, page: int, ext: str) -> HttpResponse:
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
