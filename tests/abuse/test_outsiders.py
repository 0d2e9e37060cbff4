# ruff: noqa: F811 - fixtures imported from tests/room and tests/slides, where their conftest defines them
"""An outsider reads the class's decks only while admitted and present; odd room paths are 404 (issue 14, point 7)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import login
from tests.room.conftest import enter, lesson, open_socket  # noqa: F401 - the room's socket fixtures
from tests.slides.conftest import class_6a, media_root, ready_deck  # noqa: F401 - a rendered deck of 6A

pytestmark = pytest.mark.django_db(transaction=True)


def _page_status(user, deck) -> int:  # type: ignore[no-untyped-def]
    return int(login(user).get(f"/slides/{deck.pk}/pages/1.webp").status_code)


async def test_an_admitted_outsider_reads_the_decks_only_while_in_the_lesson(
    enter, lesson, ready_deck, teacher, other_class_student
):
    teacher_socket = await enter(teacher, lesson)
    guest = await enter(other_class_student, lesson, until="waiting")
    assert await sync_to_async(_page_status)(other_class_student, ready_deck) == 403
    await teacher_socket.request("waiting.admit", id=str(other_class_student.pk))
    await guest.expect("state")
    assert await sync_to_async(_page_status)(other_class_student, ready_deck) == 200
    await guest.leave()
    await teacher_socket.expect("participant.left", id=str(other_class_student.pk))
    assert await sync_to_async(_page_status)(other_class_student, ready_deck) == 403


async def test_a_socket_path_that_is_no_room_id_closes_with_4404(open_socket, student):
    socket = await open_socket(student, "not-a-uuid")
    assert await socket.closed() == 4404


@pytest.mark.parametrize("path", ["/rooms/not-a-uuid/", "/rooms/1234/attendance.csv", "/rooms/%2e%2e/log/"])
def test_a_room_page_path_that_is_no_room_id_is_404(student, path: str) -> None:
    assert login(student).get(path).status_code == 404
