from __future__ import annotations

import csv
import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.models import User

from . import closecodes, permissions
from .actions.lessons import do_start_lesson
from .actions.recess import do_create_recess
from .forms import RecessForm
from .models import Room, RoomLogEntry, SchoolClass
from .permissions import live_rooms_for, visible_classes


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "classroom/dashboard.html",
        {
            "classes": visible_classes(user),
            "rooms": live_rooms_for(user).select_related("school_class"),
        },
    )


@login_required
def class_page(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    school_class = get_object_or_404(SchoolClass, slug=slug)
    if not permissions.can_view_class(user, school_class):
        raise PermissionDenied
    return render(
        request,
        "classroom/class_page.html",
        {
            "school_class": school_class,
            "students": school_class.students.filter(is_active=True),
            "teachers": school_class.teachers.filter(is_active=True),
            "live_lesson": school_class.lessons.filter(kind=Room.Kind.LESSON, ended_at__isnull=True).first(),
            "can_start": permissions.can_start_lesson(user, school_class),
        },
    )


@login_required
@require_POST
def start_lesson(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    school_class = get_object_or_404(SchoolClass, slug=slug)
    if not permissions.can_start_lesson(user, school_class):
        raise PermissionDenied
    room = do_start_lesson(school_class, user, title=request.POST.get("title", ""))
    return redirect("room", room_id=room.id)


@login_required
def room_page(request: HttpRequest, room_id: str) -> HttpResponse:
    user = _user(request)
    room = get_object_or_404(Room, pk=room_id)
    if not permissions.may_knock(user, room):
        raise PermissionDenied
    recess = room.kind == Room.Kind.RECESS
    school_class = room.school_class
    can_upload = school_class is not None and permissions.can_start_lesson(user, school_class)
    return render(
        request,
        "classroom/room.html",
        {
            "room": room,
            "is_moderator": permissions.is_room_moderator(user, room),
            # Teachers of the class upload decks from the room too (the slides app checks again).
            "slides_upload_url": reverse("class-decks", args=[school_class.slug])
            if school_class and can_upload
            else "",
            # Recess pages ping often: the server treats a silent recess socket as gone.
            "ping_seconds": settings.RECESS_PING_SECONDS if recess else 20,
            "close_codes": closecodes.page_table(),
        },
    )


@login_required
def recess_list(request: HttpRequest) -> HttpResponse:
    """Supervisors: the live recesses, recent ones (for their log), and the creation form."""
    user = _user(request)
    if not permissions.can_create_recess(user):
        raise PermissionDenied
    form = RecessForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = do_create_recess(user, form.cleaned_data["title"], form.cleaned_data["classes"], form.slots())
        return redirect("room", room_id=room.id)
    recesses = Room.objects.filter(kind=Room.Kind.RECESS).prefetch_related("classes", "slots")
    return render(
        request,
        "classroom/recess.html",
        {
            "form": form,
            "live": recesses.filter(ended_at__isnull=True),
            "ended": recesses.filter(ended_at__isnull=False)[:20],
        },
    )


def _log_rows(room: Room) -> QuerySet[RoomLogEntry]:
    return RoomLogEntry.objects.filter(room=room).select_related("actor", "target")


def _moderated_room(request: HttpRequest, room_id: str) -> Room:
    room = get_object_or_404(Room, pk=room_id)
    if not permissions.is_room_moderator(_user(request), room):
        raise PermissionDenied
    return room


@login_required
def room_log(request: HttpRequest, room_id: str) -> HttpResponse:
    """The room's log (joins, leaves, mutes, removals, reports, deleted messages), for its moderators."""
    room = _moderated_room(request, room_id)
    return render(request, "classroom/room_log.html", {"room": room, "entries": _log_rows(room)})


@login_required
def room_log_csv(request: HttpRequest, room_id: str) -> HttpResponse:
    """The room's log as CSV: when, what, who did it, to whom, details."""
    room = _moderated_room(request, room_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="log-{room.pk}.csv"'
    writer = csv.writer(response)
    writer.writerow(["at", "kind", "actor_id", "actor", "target_id", "target", "details"])
    for entry in _log_rows(room):
        writer.writerow(
            [
                entry.at.isoformat(),
                entry.kind,
                entry.actor_id or "",
                entry.actor.name if entry.actor else "",
                entry.target_id or "",
                entry.target.name if entry.target else "",
                json.dumps(entry.data, ensure_ascii=False) if entry.data else "",
            ]
        )
    return response
