"""Rendering decks: both sizes, pages that differ, LibreOffice conversion, and a page that never ends."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from slides.actions import do_render
from slides.models import Deck
from tests.conftest import login

from .conftest import JSON, upload
from .pdfs import ODP_MIMETYPE, deck_odp, office_zip, slow_page_pdf

pytestmark = pytest.mark.django_db


def _page(deck: Deck, page: int, size: str) -> Image.Image:
    image = Image.open(deck.pages_directory / f"{page}-{size}.webp")
    image.load()
    return image


def test_pages_come_in_a_phone_size_and_a_large_screen_size(ready_deck):
    assert _page(ready_deck, 1, "small").width == 800
    assert _page(ready_deck, 1, "large").width == 1600
    assert _page(ready_deck, 1, "large").height == 1200  # a 4:3 page keeps its shape


def test_each_page_shows_its_own_content(ready_deck):
    # The test deck paints page 1 red and page 2 blue, near the top-left corner.
    red = _page(ready_deck, 1, "small").convert("RGB").getpixel((20, 20))
    blue = _page(ready_deck, 2, "small").convert("RGB").getpixel((20, 20))
    assert red[0] > 150 and red[2] < 100
    assert blue[2] > 150 and blue[0] < 100


def test_an_odp_is_converted_then_rendered(class_6a, teacher, requires_soffice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(login(teacher), "6a", deck_odp(2), "Géométrie.odp", **JSON)
    assert response.status_code == 201
    deck = Deck.objects.get(pk=response.json()["deck"]["id"])
    assert (deck.source_kind, deck.status, deck.pages) == ("odp", "ready", 2)
    assert deck.pdf_path.exists()
    assert _page(deck, 2, "large").width == 1600


def test_a_page_that_takes_too_long_fails_the_deck_with_its_page(class_6a, teacher, settings, media_root):
    settings.SLIDES_PAGE_TIMEOUT_SECONDS = 1
    deck = Deck.objects.create(
        school_class=class_6a, title="Piège", original_name="piege.pdf", source_kind="pdf", uploaded_by=teacher
    )
    deck.directory.mkdir(parents=True)
    deck.source_path.write_bytes(slow_page_pdf())
    started = time.monotonic()
    do_render(deck.pk)
    assert time.monotonic() - started < 10
    deck.refresh_from_db()
    assert (deck.status, deck.error, deck.error_page) == ("failed", "page_timeout", 1)
    assert deck.error_message == "Une page a pris trop de temps à préparer. (page 1)"
    assert not deck.pages_directory.exists()


def test_a_deck_that_cannot_be_converted_fails_with_a_reason(class_6a, teacher, requires_soffice, media_root):
    deck = Deck.objects.create(
        school_class=class_6a, title="Cassé", original_name="casse.odp", source_kind="odp", uploaded_by=teacher
    )
    deck.directory.mkdir(parents=True)
    # a sound zip (a truncated one is refused before LibreOffice: tests/slides/test_limits.py)
    deck.source_path.write_bytes(office_zip({"mimetype": ODP_MIMETYPE, "content.xml": "<<<< not xml"}))
    do_render(deck.pk)
    deck.refresh_from_db()
    assert (deck.status, deck.error) == ("failed", "conversion_failed")


def test_a_failed_deck_shows_its_reason_on_the_class_page(class_6a, teacher, settings):
    Deck.objects.create(
        school_class=class_6a,
        title="Piège",
        original_name="piege.pdf",
        source_kind="pdf",
        status="failed",
        error="page_timeout",
        error_page=4,
    )
    page = login(teacher).get("/classes/6a/", headers={"Accept-Language": "en"}).content.decode()
    assert "A page took too long to render. (page 4)" in page
