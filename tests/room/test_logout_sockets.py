"""Logging out closes the user's room sockets, in every room (issue 14, point 5)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from tests.room.conftest import ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)


async def test_logging_out_closes_every_room_socket_of_the_user_with_4401(open_socket, lesson, teacher, student):
    browser = await sync_to_async(Client)()
    await sync_to_async(browser.force_login)(student, backend="accounts.backends.LDIFBackend")
    cookie = browser.cookies["sessionid"].value
    first = await open_socket(None, lesson, cookie=cookie, origin=ORIGIN)
    await first.expect("state")
    second = await open_socket(student, lesson)  # another tab, another session of the same user
    await second.expect("state")
    teacher_socket = await open_socket(teacher, lesson)
    await teacher_socket.expect("state")

    await sync_to_async(browser.post)("/accounts/logout/")

    assert await first.closed() == 4401
    assert await second.closed() == 4401
    assert (await teacher_socket.request("ping"))["type"] == "ok"
    await teacher_socket.expect("participant.left", id=str(student.pk))


async def test_a_logged_out_session_cannot_open_a_socket(open_socket, lesson, student):
    browser = await sync_to_async(Client)()
    await sync_to_async(browser.force_login)(student, backend="accounts.backends.LDIFBackend")
    cookie = browser.cookies["sessionid"].value
    await sync_to_async(browser.post)("/accounts/logout/")
    socket = await open_socket(None, lesson, cookie=cookie)
    assert await socket.closed() == 4401
