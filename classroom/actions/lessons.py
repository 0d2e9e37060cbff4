from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User

from ..models import Room, SchoolClass


@transaction.atomic
def do_start_lesson(school_class: SchoolClass, teacher: User, title: str = "") -> Room:
    """Start a lesson for the class, or return the one already live."""
    # Lock the class row so two teachers clicking at once get the same room.
    SchoolClass.objects.select_for_update().filter(pk=school_class.pk).first()
    # the class's live lesson, not one of its breakout groups (rooms of the class too)
    live = school_class.lessons.filter(kind=Room.Kind.LESSON, ended_at__isnull=True).first()
    if live is not None:
        return live
    title = title.strip()[:200] or _("Lesson of %(name)s") % {"name": school_class.name}
    return Room.objects.create(kind=Room.Kind.LESSON, school_class=school_class, title=title, created_by=teacher)
