from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from classroom.models import Room, SchoolClass


class Deck(models.Model):
    """A slide deck of a class: its source file and, once rendered, one image per page and size."""

    class Status(models.TextChoices):
        RENDERING = "rendering", _("Rendering")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    class Error(models.TextChoices):
        NOT_A_PRESENTATION = "not_a_presentation", _("This file is not a PDF, ODP or PPTX presentation.")
        TOO_LARGE = "too_large", _("This file is too large.")
        ENCRYPTED = "encrypted", _("This PDF is protected by a password: upload an unprotected copy.")
        CORRUPT = "corrupt", _("This file is damaged and cannot be read.")
        EMPTY = "empty", _("This presentation has no page.")
        TOO_MANY_PAGES = "too_many_pages", _("This presentation has too many pages.")
        PAGE_TIMEOUT = "page_timeout", _("A page took too long to render.")
        PAGE_CPU = "page_cpu", _("A page needed too much processor time to render.")
        PAGE_MEMORY = "page_memory", _("A page needed more memory than the server allows to render it.")
        PAGE_SIZE = "page_size", _("A page is too long or too thin to be shown.")
        UNPACKED_TOO_LARGE = "unpacked_too_large", _("This presentation is too large once unpacked.")
        NO_CONVERTER = (
            "no_converter",
            _(
                "LibreOffice is not installed on this server, so ODP and PPTX files cannot be converted: "
                "export your presentation as PDF and upload that."
            ),
        )
        CONVERSION_FAILED = "conversion_failed", _("LibreOffice could not convert this presentation to PDF.")
        CONVERSION_TIMEOUT = "conversion_timeout", _("LibreOffice took too long to convert this presentation.")
        INTERNAL = "internal", _("The server failed to render this presentation.")

    school_class = models.ForeignKey(SchoolClass, on_delete=models.CASCADE, related_name="decks")
    title = models.CharField(max_length=200)
    original_name = models.CharField(max_length=255)
    # The detected kind of the uploaded file: pdf, odp or pptx.
    source_kind = models.CharField(max_length=8)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RENDERING)
    pages = models.PositiveIntegerField(default=0)
    # Pages rendered so far.
    progress = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=32, choices=Error.choices, blank=True)
    # The page that failed, when one did.
    error_page = models.PositiveIntegerField(null=True, blank=True)
    image_format = models.CharField(max_length=8, default="webp")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "slides" / str(self.pk)

    @property
    def source_path(self) -> Path:
        return self.directory / f"source.{self.source_kind}"

    @property
    def pdf_path(self) -> Path:
        return self.directory / "source.pdf"

    @property
    def pages_directory(self) -> Path:
        return self.directory / "pages"

    @property
    def error_message(self) -> str:
        if not self.error:
            return ""
        message = str(self.Error(self.error).label)
        if self.error_page:
            message += " " + str(_("(page %(page)d)") % {"page": self.error_page})
        return message


class RoomSlides(models.Model):
    """The deck (or the whiteboard) a room shows now and its page: what a late joiner lands on."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, primary_key=True, related_name="slides")
    # None while the whiteboard is shown.
    deck = models.ForeignKey(Deck, null=True, on_delete=models.CASCADE, related_name="+")
    page = models.PositiveIntegerField(default=1)
    # The whiteboard is shown (`board.open`) and how many blank pages it has; they stay when a deck is shown.
    board = models.BooleanField(default=False)
    board_pages = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "room slides"

    def __str__(self) -> str:
        return f"{self.deck or 'whiteboard'} p. {self.page} in {self.room}"


class Stroke(models.Model):
    """One annotation on a page of a deck (or of the whiteboard, `deck` None) in one room.

    Coordinates are fractions of the page. A stroke being drawn has `final` False and grows by
    `annotation.extend`; a finished eraser stroke marks the strokes it crossed `erased_by` itself,
    so that undoing it brings them back.
    """

    class Tool(models.TextChoices):
        PEN = "pen"
        HIGHLIGHTER = "highlighter"
        LINE = "line"
        ARROW = "arrow"
        RECT = "rect"
        ELLIPSE = "ellipse"
        TEXT = "text"
        ERASER = "eraser"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    deck = models.ForeignKey(Deck, null=True, on_delete=models.CASCADE, related_name="+")
    page = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The drawing client's own name for it, so that it can extend the stroke before the reply comes.
    key = models.CharField(max_length=32)
    tool = models.CharField(max_length=12, choices=Tool.choices)
    color = models.CharField(max_length=7)
    width = models.FloatField()
    points = models.JSONField(default=list)
    text = models.CharField(max_length=500, blank=True)
    final = models.BooleanField(default=True)
    erased_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="erased")
    # The bounding box of the points, so that an eraser reads only the strokes it may cross.
    min_x = models.FloatField(default=0)
    min_y = models.FloatField(default=0)
    max_x = models.FloatField(default=0)
    max_y = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["room", "deck", "page"], name="stroke_page")]
        constraints = [models.UniqueConstraint(fields=["room", "author", "key"], name="one_stroke_per_client_key")]

    def __str__(self) -> str:
        return f"{self.tool} {self.pk} on p. {self.page}"


class Pen(models.Model):
    """A participant who is not a presenter but whom a moderator lets draw in this room (`draw.set`)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="one_pen_per_room_user")]

    def __str__(self) -> str:
        return f"pen of {self.user_id} in {self.room_id}"
