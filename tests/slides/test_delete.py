"""Deleting a deck: the class's teachers only, the row and its files go, a room showing it is cleared."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from slides.actions import do_open_deck, slides_state
from slides.models import Deck, RoomSlides
from tests.conftest import login

from .conftest import EN, JSON


def _delete(client, deck_id: int, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(f"/slides/{deck_id}/delete/", headers=headers)


@pytest.mark.django_db
def test_teacher_deletes_a_deck_with_its_files(teacher, ready_deck, django_capture_on_commit_callbacks):
    directory = ready_deck.directory
    assert ready_deck.source_path.exists() and any(ready_deck.pages_directory.iterdir())
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete(login(teacher), ready_deck.pk, **JSON)
    assert response.status_code == 200
    assert response.json() == {"deleted": str(ready_deck.pk)}
    assert not Deck.objects.filter(pk=ready_deck.pk).exists()
    assert not directory.exists()


@pytest.mark.django_db
def test_the_form_redirects_to_the_class_page_with_a_message(teacher, ready_deck, django_capture_on_commit_callbacks):
    client = login(teacher)
    page = client.get("/classes/6a/", headers=EN).content.decode()
    assert f'action="/slides/{ready_deck.pk}/delete/"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete(client, ready_deck.pk, **EN)
    assert response.status_code == 302 and response["Location"] == "/classes/6a/"
    page = client.get("/classes/6a/", headers=EN).content.decode()
    assert "“lecture” was deleted." in page
    assert "/delete/" not in page


@pytest.mark.django_db
def test_the_delete_button_speaks_french_by_default(teacher, ready_deck):
    page = login(teacher).get("/classes/6a/").content.decode()
    assert "Supprimer définitivement « lecture »" in page


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["student", "other_teacher", "supervisor", "other_class_student"])
def test_only_the_class_teachers_may_delete(persona, ready_deck, request):
    response = _delete(login(request.getfixturevalue(persona)), ready_deck.pk, **JSON)
    assert response.status_code == 403
    assert Deck.objects.filter(pk=ready_deck.pk).exists()
    assert ready_deck.source_path.exists()


@pytest.mark.django_db
def test_students_see_no_delete_button(student, ready_deck):
    page = login(student).get("/classes/6a/").content.decode()
    assert "/delete/" not in page


@pytest.mark.django_db
def test_an_unknown_deck_is_not_found(teacher, class_6a):
    assert _delete(login(teacher), 999999, **JSON).status_code == 404


@pytest.mark.django_db
def test_delete_is_post_only(teacher, ready_deck):
    assert login(teacher).get(f"/slides/{ready_deck.pk}/delete/").status_code == 405
    assert Deck.objects.filter(pk=ready_deck.pk).exists()


@pytest.mark.django_db
def test_deleting_the_shown_deck_clears_the_room(lesson, teacher, ready_deck, django_capture_on_commit_callbacks):
    do_open_deck(lesson, teacher, ready_deck.pk)
    assert RoomSlides.objects.filter(room=lesson).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert _delete(login(teacher), ready_deck.pk, **JSON).status_code == 200
    assert not RoomSlides.objects.filter(room=lesson).exists()
    assert slides_state(lesson) is None


@pytest.mark.django_db(transaction=True)
async def test_the_room_gets_decks_without_the_deleted_deck(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    await student_socket.expect("slides.page", page=1)

    def delete_now() -> int:
        return int(_delete(login(teacher), ready_deck.pk, **JSON).status_code)

    assert await sync_to_async(delete_now)() == 200
    event = await student_socket.expect("decks")
    assert event["decks"] == []
    late = await enter(student, lesson)
    assert late.seen[-1]["slides"] is None and late.seen[-1]["decks"] == []
