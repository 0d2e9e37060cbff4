"""Stopping the slides (`slides.hide`): the stage goes back to the videos for everyone."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_presenter_hides_the_slides_for_everyone(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    await student_socket.expect("slides.page", page=1)
    assert (await teacher_socket.request("slides.hide"))["type"] == "ok"
    for socket in (teacher_socket, student_socket):
        assert await socket.expect("slides.hidden") == {"type": "slides.hidden"}


async def test_a_late_joiner_sees_no_slides_once_hidden(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    await teacher_socket.request("slides.goto", page=2)
    await teacher_socket.request("slides.hide")
    late = await enter(student, lesson)
    assert late.seen[-1]["slides"] is None
    assert (await teacher_socket.request("slides.goto", page=1))["code"] == "conflict"


async def test_a_student_may_not_hide_the_slides(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    assert (await student_socket.request("slides.hide"))["code"] == "forbidden"
    await teacher_socket.quiet("slides.hidden")
    assert (await enter(student, lesson)).seen[-1]["slides"]["page"] == 1


async def test_a_student_made_presenter_may_hide_the_slides(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    await teacher_socket.request("presenter.set", id=str(student.pk), presenter=True)
    assert (await student_socket.request("slides.hide"))["type"] == "ok"
    await teacher_socket.expect("slides.hidden")


async def test_hiding_when_nothing_is_shown_is_a_conflict(enter, lesson, teacher):
    socket = await enter(teacher, lesson)
    assert (await socket.request("slides.hide"))["code"] == "conflict"


async def test_hide_with_extra_fields_is_invalid(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    await socket.request("slides.open", deck=str(ready_deck.pk))
    assert (await socket.request("slides.hide", deck=str(ready_deck.pk)))["code"] == "invalid"


def test_slides_hidden_is_closed():
    from pydantic import ValidationError

    from slides.protocol import SlidesHidden

    with pytest.raises(ValidationError):
        SlidesHidden(deck="1")  # type: ignore[call-arg]
    assert SlidesHidden().model_dump() == {"type": "slides.hidden"}
