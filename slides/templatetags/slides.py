from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from classroom import permissions
from classroom.models import SchoolClass

register = template.Library()


@register.inclusion_tag("slides/class_decks.html", takes_context=True)
def class_decks(context: template.Context, school_class: SchoolClass) -> dict[str, Any]:
    """The class page's decks section, with the upload form for the class's teachers."""
    user = context["request"].user
    return {
        "school_class": school_class,
        "decks": list(school_class.decks.all()),
        "can_upload": permissions.can_upload_deck(user, school_class),
        "can_see": permissions.can_see_decks(user, school_class),
        "max_mb": settings.SLIDES_MAX_BYTES // (1024 * 1024),
        "max_pages": settings.SLIDES_MAX_PAGES,
        "csrf_token": context.get("csrf_token"),
    }
