"""Slides in a breakout group's room (issue 17): the class's decks and a presenter of the group's own."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from classroom.models import SchoolClass
from slides.models import Deck
from tests.conftest import login

from .conftest import JSON, upload
from .pdfs import deck_pdf

pytestmark = pytest.mark.django_db(transaction=True)


async def open_groups(teacher_socket, first, second):
    """Two groups, `first` in the first and `second` in the second; return their group objects."""
    reply = await teacher_socket.request("groups.open", groups=[[str(first.pk)], [str(second.pk)]])
    assert reply["type"] == "ok", reply
    return reply["groups"]


async def test_a_group_room_offers_the_class_decks(enter, lesson, ready_deck, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = await open_groups(teacher_socket, student, student2)
    lea = await enter(student, red["room"])
    state = lea.seen[-1]
    assert [deck["id"] for deck in state["decks"]] == [str(ready_deck.pk)]
    assert state["slides"] is None


async def test_a_group_shows_its_own_deck_and_the_lesson_does_not_follow(
    enter, lesson, ready_deck, teacher, student, student2
):
    teacher_socket = await enter(teacher, lesson)
    red, blue = await open_groups(teacher_socket, student, student2)
    lea = await enter(student, red["room"])
    zoe = await enter(student2, blue["room"])
    in_red = await enter(teacher, red["room"])
    reply = await in_red.request("slides.open", deck=str(ready_deck.pk))
    assert reply["slides"] == {"deck": str(ready_deck.pk), "page": 1, "pages": 3}
    await lea.expect("slides.page", deck=str(ready_deck.pk), page=1)
    await zoe.quiet("slides.page")
    await teacher_socket.quiet("slides.page")
    assert (await enter(teacher, lesson)).seen[-1]["slides"] is None
    assert (await enter(student2, blue["room"])).seen[-1]["slides"] is None


async def test_a_group_has_a_presenter_of_its_own(enter, lesson, ready_deck, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = await open_groups(teacher_socket, student, student2)
    lea = await enter(student, red["room"])
    in_red = await enter(teacher, red["room"])
    await in_red.request("slides.open", deck=str(ready_deck.pk))
    assert (await lea.request("slides.goto", page=2))["code"] == "forbidden"
    assert (await in_red.request("presenter.set", id=str(student.pk), presenter=True))["type"] == "ok"
    assert (await lea.request("slides.goto", page=3))["type"] == "ok"
    await in_red.expect("slides.page", page=3)
    # the group's presenter presents nothing in the lesson
    assert (await teacher_socket.request("slides.open", deck=str(ready_deck.pk)))["type"] == "ok"
    back = await enter(student, lesson)
    assert back.seen[-1]["you"]["presenter"] is False
    assert (await back.request("slides.goto", page=2))["code"] == "forbidden"


async def test_a_deck_uploaded_while_groups_run_reaches_the_groups(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = await open_groups(teacher_socket, student, student2)
    lea = await enter(student, red["room"])

    def upload_now() -> int:
        response = upload(login(teacher), "6a", deck_pdf(2), "Fractions.pdf", **JSON)
        return int(response.json()["deck"]["id"])

    deck_id = await sync_to_async(upload_now)()
    added = await lea.expect("decks")
    assert added["decks"][0]["id"] == str(deck_id)


async def test_a_group_cannot_open_another_class_deck(enter, lesson, teacher, student, student2):
    other_class = await sync_to_async(SchoolClass.objects.get)(slug="5b")
    other = await sync_to_async(Deck.objects.create)(
        school_class=other_class, title="5B", original_name="x.pdf", source_kind="pdf", status="ready", pages=1
    )
    teacher_socket = await enter(teacher, lesson)
    red, _blue = await open_groups(teacher_socket, student, student2)
    in_red = await enter(teacher, red["room"])
    assert (await in_red.request("slides.open", deck=str(other.pk)))["code"] == "not_found"
