from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SchoolClass(models.Model):
    """A class of the school (`Classe_<name>`), its students and its teaching team (`Equipe_<name>`)."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classes", blank=True)
    teachers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="taught_classes", blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("class")
        verbose_name_plural = _("classes")

    def __str__(self) -> str:
        return self.name


def default_students_can() -> dict[str, bool]:
    return {"audio": True, "video": True, "screen": False, "chat": True}


class Room(models.Model):
    """A live room: a lesson of one class, or a supervised recess of several."""

    class Kind(models.TextChoices):
        LESSON = "lesson", _("Lesson")
        RECESS = "recess", _("Recess")

    class EndReason(models.TextChoices):
        ENDED = "ended", _("Ended")
        TIMEOUT = "timeout", _("Timed out")
        NO_SUPERVISOR = "no_supervisor", _("No supervisor")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=200)
    school_class = models.ForeignKey(
        SchoolClass, null=True, blank=True, on_delete=models.CASCADE, related_name="lessons"
    )
    classes = models.ManyToManyField(SchoolClass, related_name="recesses", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    locked = models.BooleanField(default=False)
    chat_locked = models.BooleanField(default=False)
    safe_mode = models.BooleanField(default=False)
    students_can = models.JSONField(default=default_students_can)
    # A lesson left open by its teacher ends by itself at this time.
    closes_at = models.DateTimeField(null=True, blank=True)
    # A recess without supervisor since this time ends after RECESS_GRACE_SECONDS.
    unsupervised_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["ended_at", "kind"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        return self.ended_at is None
