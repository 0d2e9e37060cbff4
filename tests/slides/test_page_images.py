"""Page images go only to people allowed in the class's rooms, privately cached."""

from __future__ import annotations

import pytest

from classroom.actions.lessons import do_start_lesson
from classroom.models import Participant
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _url(deck, page: int = 1, size: str = "small") -> str:  # type: ignore[no-untyped-def]
    return f"/slides/{deck.pk}/pages/{page}.webp?size={size}"


@pytest.mark.parametrize("persona", ["student", "teacher", "admin"])
def test_class_members_get_a_page_image(ready_deck, persona, request):
    response = login(request.getfixturevalue(persona)).get(_url(ready_deck))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert b"".join(response.streaming_content)[8:12] == b"WEBP"


def test_page_images_are_cached_privately_only(ready_deck, student):
    response = login(student).get(_url(ready_deck))
    assert response["Cache-Control"].startswith("private")
    assert "public" not in response["Cache-Control"]


def test_large_size_is_the_large_screen_image(ready_deck, student):
    small = login(student).get(_url(ready_deck, 2, "small"))
    large = login(student).get(_url(ready_deck, 2, "large"))
    assert len(b"".join(large.streaming_content)) > len(b"".join(small.streaming_content))


@pytest.mark.parametrize("persona", ["other_class_student", "other_teacher", "supervisor"])
def test_people_outside_the_class_get_403(ready_deck, persona, request):
    assert login(request.getfixturevalue(persona)).get(_url(ready_deck)).status_code == 403


def test_a_guest_admitted_into_a_live_lesson_of_the_class_sees_the_pages(
    ready_deck, class_6a, teacher, other_class_student
):
    room = do_start_lesson(class_6a, teacher)
    # In the lesson now: one open socket (an admitted guest who left reads nothing: issue 14).
    Participant.objects.create(room=room, user=other_class_student, status=Participant.Status.ADMITTED, connections=1)
    assert login(other_class_student).get(_url(ready_deck)).status_code == 200


def test_an_admitted_guest_who_left_the_lesson_does_not(ready_deck, class_6a, teacher, other_class_student):
    room = do_start_lesson(class_6a, teacher)
    Participant.objects.create(room=room, user=other_class_student, status=Participant.Status.ADMITTED, connections=0)
    assert login(other_class_student).get(_url(ready_deck)).status_code == 403


def test_a_guest_still_waiting_does_not(ready_deck, class_6a, teacher, other_class_student):
    room = do_start_lesson(class_6a, teacher)
    Participant.objects.create(room=room, user=other_class_student, status=Participant.Status.WAITING)
    assert login(other_class_student).get(_url(ready_deck)).status_code == 403


def test_a_guest_loses_access_once_the_lesson_ended(ready_deck, class_6a, teacher, other_class_student):
    from django.utils import timezone

    room = do_start_lesson(class_6a, teacher)
    Participant.objects.create(room=room, user=other_class_student, status=Participant.Status.ADMITTED)
    room.ended_at = timezone.now()
    room.save()
    assert login(other_class_student).get(_url(ready_deck)).status_code == 403


def test_anonymous_is_sent_to_login(ready_deck, client):
    response = client.get(_url(ready_deck))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "path",
    [
        "/slides/{id}/pages/4.webp",
        "/slides/{id}/pages/0.webp",
        "/slides/{id}/pages/1.png",
        "/slides/999999/pages/1.webp",
    ],
)
def test_missing_pages_are_404(ready_deck, student, path):
    assert login(student).get(path.format(id=ready_deck.pk)).status_code == 404


def test_an_unknown_size_is_400(ready_deck, student):
    assert login(student).get(_url(ready_deck, size="huge")).status_code == 400
