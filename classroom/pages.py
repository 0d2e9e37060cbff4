"""Pages around the rooms: a room's attendance (page and CSV) and the dashboard's live list."""

from __future__ import annotations

import csv
from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts.models import User

from . import permissions
from .attendance import group_headings, summarize
from .models import Attendance, Room

# Read by French Excel without an import dialog: a BOM says UTF-8, and `;` is its list separator.
CSV_BOM = "\ufeff"
CSV_TIME = "%Y-%m-%d %H:%M"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _attendance_room(request: HttpRequest, room_id: str) -> Room:
    room = get_object_or_404(Room.objects.select_related("school_class"), pk=room_id)
    if not permissions.is_room_moderator(_user(request), room):
        raise PermissionDenied
    return room


def _local(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime(CSV_TIME) if moment else ""


@login_required
def attendance_page(request: HttpRequest, room_id: str) -> HttpResponse:
    """Who came, when and for how long; absent students included."""
    room = _attendance_room(request, room_id)
    back = reverse("class", args=[room.school_class.slug]) if room.school_class else reverse("recess")
    summary = summarize(room)
    context = {"room": room, "summary": summary, "groups": group_headings(summary), "back": back}
    return render(request, "classroom/attendance.html", context)


@login_required
def attendance_csv(request: HttpRequest, room_id: str) -> HttpResponse:
    """The attendance for French spreadsheets; `?rows=1`: the raw stays, one row per join and leave."""
    room = _attendance_room(request, room_id)
    if request.GET.get("rows"):
        return _stays_csv(room)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime(room.created_at).strftime("%Y-%m-%d")
    name = room.school_class.slug if room.school_class else "recess"
    response["Content-Disposition"] = f'attachment; filename="attendance-{name}-{stamp}.csv"'
    response.write(CSV_BOM)
    writer = csv.writer(response, delimiter=";", lineterminator="\r\n")
    summary = summarize(room)
    # a lesson with breakout groups: one more column per group, the minutes spent in it
    in_groups = [_("Minutes in %(group)s") % {"group": heading} for heading in group_headings(summary)]
    writer.writerow(
        [_("Name"), _("Role"), _("Status"), _("First arrival"), _("Last departure"), _("Minutes present"), *in_groups]
    )
    for line in summary.lines:
        writer.writerow(
            [
                line.user.name,
                line.user.get_role_display(),
                _("present") if line.present else _("absent"),
                _local(line.first_arrival),
                _local(line.last_departure),
                line.minutes,
                *line.groups,
            ]
        )
    return response


def _stays_csv(room: Room) -> HttpResponse:
    """One row per stay in the room: user id, name, role, joined at, left at (ISO 8601, UTC)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="attendance-rows-{room.pk}.csv"'
    writer = csv.writer(response)
    writer.writerow(["user_id", "name", "role", "joined_at", "left_at"])
    for row in Attendance.objects.filter(room=room).select_related("user"):
        writer.writerow(
            [
                row.user_id,
                row.user.name,
                row.user.role,
                row.joined_at.isoformat(),
                row.left_at.isoformat() if row.left_at else "",
            ]
        )
    return response


@never_cache
@login_required
def live_rooms(request: HttpRequest) -> JsonResponse:
    """The dashboard's live list as JSON, for its page to follow without a reload."""
    rooms = permissions.live_rooms_for(_user(request)).select_related("school_class")
    return JsonResponse(
        {
            "rooms": [
                {
                    "id": str(room.pk),
                    "kind": room.kind,
                    "title": room.title,
                    "url": reverse("room", args=[room.pk]),
                    "label": f"{room.get_kind_display()} · {room.title}",
                }
                for room in rooms
            ]
        }
    )
