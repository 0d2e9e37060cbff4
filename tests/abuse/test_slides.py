# ruff: noqa: F811 - fixtures imported from tests/room and tests/slides, where their conftest defines them
"""A teacher's account uploading hostile files: the worker is never hurt, the deck says why."""

from __future__ import annotations

import logging
import re

import pytest

from slides.models import Deck
from tests.conftest import login
from tests.slides.conftest import EN, JSON, class_6a, media_root, upload  # noqa: F401 - fixtures
from tests.slides.pdfs import page_of_size_pdf, pptx_bomb, soft_mask_bomb_pdf

pytestmark = pytest.mark.django_db


def test_a_pptx_zip_bomb_never_reaches_libreoffice(class_6a, teacher):  # type: ignore[no-untyped-def]
    response = upload(login(teacher), "6a", pptx_bomb(), "bombe.pptx", **JSON, **EN)
    assert (response.status_code, response.json()["error"]) == (400, "unpacked_too_large")
    assert not Deck.objects.exists()


def test_a_pdf_of_soft_mask_bombs_renders_within_the_memory_cap(  # type: ignore[no-untyped-def]
    class_6a, teacher, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.INFO, logger="slides.watchdog")
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(login(teacher), "6a", soft_mask_bomb_pdf(36_000, pages=3), "bombe.pdf", **JSON)
    deck = Deck.objects.get(pk=response.json()["deck"]["id"])
    assert (deck.status, deck.pages) == ("ready", 3)
    (peak,) = [int(m) for m in re.findall(r"peak RSS (\d+) MiB", caplog.text)]
    assert peak < 1024


def test_a_page_too_thin_shows_its_reason_on_the_class_page(  # type: ignore[no-untyped-def]
    class_6a, teacher, django_capture_on_commit_callbacks
):
    client = login(teacher)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "6a", page_of_size_pdf(200 * 72, 1), "ruban.pdf", **JSON)
    page = client.get("/classes/6a/", headers=EN).content.decode()
    assert "A page is too long or too thin to be shown. (page 1)" in page
