"""Uploading a deck from the class page or the room: who may, and what a bad file gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from slides.models import Deck
from tests.conftest import login

from .conftest import EN, JSON, upload
from .pdfs import deck_odp, deck_pdf, encrypted_pdf

pytestmark = pytest.mark.django_db


def _leftovers(media_root: Path) -> list[Path]:
    incoming = media_root / "slides" / "incoming"
    return list(incoming.iterdir()) if incoming.exists() else []


def test_teacher_uploads_a_pdf_that_renders_every_page(
    class_6a, teacher, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(login(teacher), "6a", deck_pdf(3), "Les fractions.pdf", **JSON)
    assert response.status_code == 201
    deck = Deck.objects.get(pk=response.json()["deck"]["id"])
    assert (deck.title, deck.original_name, deck.status, deck.pages, deck.progress) == (
        "Les fractions",
        "Les fractions.pdf",
        "ready",
        3,
        3,
    )
    names = sorted(path.name for path in deck.pages_directory.iterdir())
    assert names == [f"{n}-{size}.webp" for n in (1, 2, 3) for size in ("large", "small")]


def test_form_upload_redirects_to_the_class_page_with_a_message(class_6a, teacher, django_capture_on_commit_callbacks):
    client = login(teacher)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, "6a", deck_pdf(2), "cours.pdf", **EN)
    assert response.status_code == 302
    assert response["Location"] == "/classes/6a/"
    page = client.get("/classes/6a/", headers=EN).content.decode()
    assert "“cours” was uploaded." in page


def test_admin_may_upload(class_6a, admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(login(admin), "6a", deck_pdf(1), **JSON)
    assert response.status_code == 201


@pytest.mark.parametrize("persona", ["student", "other_teacher", "supervisor", "other_class_student"])
def test_only_the_class_teachers_may_upload(class_6a, persona, request):
    response = upload(login(request.getfixturevalue(persona)), "6a", deck_pdf(1), **JSON)
    assert response.status_code == 403
    assert not Deck.objects.exists()


def test_anonymous_upload_goes_to_the_login_page(class_6a, client):
    response = upload(client, "6a", deck_pdf(1))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_text_file_named_pdf_is_refused_with_a_clear_message(class_6a, teacher, media_root):
    response = upload(login(teacher), "6a", b"Ceci n'est pas un PDF", "cours.pdf", **JSON, **EN)
    assert response.status_code == 400
    assert response.json()["error"] == "not_a_presentation"
    assert response.json()["message"] == "This file is not a PDF, ODP or PPTX presentation."
    assert not Deck.objects.exists()
    assert _leftovers(media_root) == []


def test_messages_are_in_french_by_default(class_6a, teacher):
    response = upload(login(teacher), "6a", encrypted_pdf(), **JSON)
    assert response.json()["message"] == "Ce PDF est protégé par un mot de passe : envoyez une copie non protégée."


def test_a_file_over_the_size_limit_is_refused(class_6a, teacher, settings, media_root):
    settings.SLIDES_MAX_BYTES = 1024 * 1024
    response = upload(login(teacher), "6a", deck_pdf(1) + b"\0" * (1024 * 1024), **JSON, **EN)
    assert response.status_code == 400
    assert response.json()["error"] == "too_large"
    assert response.json()["message"] == "This file is too large: the limit is 1 MB."
    assert _leftovers(media_root) == []


def test_an_encrypted_pdf_is_refused(class_6a, teacher):
    response = upload(login(teacher), "6a", encrypted_pdf(), **JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "encrypted"
    assert not Deck.objects.exists()


def test_a_corrupt_pdf_is_refused(class_6a, teacher):
    response = upload(login(teacher), "6a", deck_pdf(2)[:300], **JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "corrupt"


def test_a_pdf_with_too_many_pages_is_refused(class_6a, teacher, settings):
    settings.SLIDES_MAX_PAGES = 2
    response = upload(login(teacher), "6a", deck_pdf(3), **JSON, **EN)
    assert response.status_code == 400
    assert response.json()["error"] == "too_many_pages"
    assert response.json()["message"] == "This presentation has 3 pages: the limit is 2."


def test_a_refused_upload_loses_nothing(class_6a, teacher, ready_deck, media_root):
    before = sorted(path.name for path in ready_deck.pages_directory.iterdir())
    response = upload(login(teacher), "6a", encrypted_pdf(), **JSON)
    assert response.status_code == 400
    ready_deck.refresh_from_db()
    assert ready_deck.status == "ready"
    assert sorted(path.name for path in ready_deck.pages_directory.iterdir()) == before
    assert list(Deck.objects.values_list("pk", flat=True)) == [ready_deck.pk]


def test_a_refused_form_upload_shows_the_reason_on_the_class_page(class_6a, teacher):
    client = login(teacher)
    response = upload(client, "6a", b"plain text", "cours.pdf", **EN)
    assert response.status_code == 302
    page = client.get("/classes/6a/", headers=EN).content.decode()
    assert "This file is not a PDF, ODP or PPTX presentation." in page


def test_without_libreoffice_an_odp_is_refused_with_a_clear_message(class_6a, teacher, monkeypatch):
    monkeypatch.setattr("slides.files.soffice_path", lambda: None)
    response = upload(login(teacher), "6a", deck_odp(2), "cours.odp", **JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "no_converter"
    assert "LibreOffice" in response.json()["message"]


def test_class_decks_are_listed_as_json_for_the_class(ready_deck, student):
    response = login(student).get("/classes/6a/slides/")
    assert response.json()["decks"] == [
        {"id": str(ready_deck.pk), "title": "lecture", "pages": 3, "status": "ready", "progress": 3, "error": None}
    ]


def test_another_class_cannot_list_the_decks(ready_deck, other_class_student):
    assert login(other_class_student).get("/classes/6a/slides/").status_code == 403
