"""A media node killed with -9 during a lesson: its rooms move to the other node (about 4 s)."""

from __future__ import annotations

import time

import pytest
import redis

from media_server import bus
from tests.browser.conftest import login
from tests.browser.test_media_browser import enter, frames_stop, start_lesson, turn_on, wait_playing
from tests.production.conftest import PageFactory
from tests.production.stack import MEDIA_NODES, Stack

from .parts import redis_of

pytestmark = pytest.mark.browser

BOUND_S = 15.0
TEACHER, STUDENT = "marie.curie", "lea.martin"


def test_the_rooms_of_a_killed_media_node_move_to_the_other(stack: Stack, new_page: PageFactory) -> None:
    teacher = new_page()
    login(teacher, TEACHER)
    url = start_lesson(teacher, "6a")
    teacher_id = str(teacher.evaluate("window.classroomRoom.youId"))
    turn_on(teacher, "camera")
    student = new_page()
    login(student, STUDENT)
    enter(student, url)
    wait_playing(student, teacher_id)

    room = url.rstrip("/").rsplit("/", 1)[1]
    client = redis.Redis.from_url(redis_of(stack).url)
    try:
        placed = client.hget(bus.ROOMS, room)
        assert placed is not None
        node = next(n for n in MEDIA_NODES if stack.commands[f"media@{n}"].env["MEDIA_NODE_ID"] == placed.decode())
        stack.processes[f"media@{node}"].proc.kill()
        killed = time.monotonic()
        frames_stop(student, teacher_id)
        wait_playing(student, teacher_id, timeout_ms=int(BOUND_S * 1000))
        moved = time.monotonic() - killed
        now = client.hget(bus.ROOMS, room)
    finally:
        client.close()
    print(f"\nthe student's page plays the teacher's camera again {moved:.1f} s after its media node was killed")
    assert now is not None and now != placed
