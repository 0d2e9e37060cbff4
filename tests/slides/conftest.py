"""Slide fixtures: uploads kept in a temporary MEDIA_ROOT, the class 6A, and an upload helper."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from classroom.models import SchoolClass
from slides import files
from slides.models import Deck
from tests.room.conftest import enter, lesson, open_socket  # noqa: F401 - the room's socket fixtures

from .pdfs import deck_pdf


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT  # type: ignore[no-any-return]


@pytest.fixture
def class_6a(directory) -> SchoolClass:  # type: ignore[no-untyped-def]
    return SchoolClass.objects.get(slug="6a")


@pytest.fixture
def requires_soffice() -> None:
    """Skip without LibreOffice, except under CI where scripts/install-system-deps installs it."""
    if files.soffice_path():
        return
    message = "LibreOffice (soffice) is not installed: apt-get install libreoffice-impress-nogui"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def upload(client: Client, slug: str, content: bytes, name: str = "cours.pdf", **headers: str):  # type: ignore[no-untyped-def]
    """POST a file to the class's upload URL, as the class page's form does."""
    return client.post(
        f"/classes/{slug}/slides/",
        {"file": SimpleUploadedFile(name, content), "title": ""},
        headers=headers,
    )


JSON = {"Accept": "application/json"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def ready_deck(class_6a, teacher, django_capture_on_commit_callbacks) -> Deck:  # type: ignore[no-untyped-def]
    """A three-page deck of 6A, rendered."""
    from tests.conftest import login

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(login(teacher), "6a", deck_pdf(3), "lecture.pdf", **JSON)
    deck = Deck.objects.get(pk=response.json()["deck"]["id"])
    assert deck.status == Deck.Status.READY
    return deck
