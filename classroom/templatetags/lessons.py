from __future__ import annotations

from typing import Any

from django import template

from classroom import permissions
from classroom.attendance import past_lessons
from classroom.models import SchoolClass

register = template.Library()


@register.inclusion_tag("classroom/_past_lessons.html", takes_context=True)
def past_lessons_of(context: template.Context, school_class: SchoolClass) -> dict[str, Any]:
    """The class page's past lessons with their attendance, for the lessons' moderators only."""
    user = context["request"].user
    # The teachers of the class and admins: the moderators of its lessons.
    allowed = permissions.can_start_lesson(user, school_class)
    return {"allowed": allowed, "lessons": past_lessons(school_class) if allowed else []}
