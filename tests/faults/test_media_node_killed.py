"""A media node killed with -9 during a lesson: its rooms move to the other node (about 4 s); a page
that joins while no node is registered gets its media once one is."""

from __future__ import annotations

import signal
import time

import pytest
import redis

from media_server import bus
from tests.browser.conftest import login
from tests.browser.test_media_browser import enter, frames_stop, wait_playing
from tests.production.conftest import PageFactory
from tests.production.stack import MEDIA_NODES, Stack

from .lesson import lesson_on_camera
from .parts import redis_of

pytestmark = pytest.mark.browser

BOUND_S = 15.0
TEACHER, STUDENT = "marie.curie", "lea.martin"


def test_the_rooms_of_a_killed_media_node_move_to_the_other(stack: Stack, new_page: PageFactory) -> None:
    _teacher, url, teacher_id = lesson_on_camera(new_page, TEACHER)
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


def test_a_page_that_joins_while_no_media_node_is_registered_gets_its_media_when_one_is(
    stack: Stack, new_page: PageFactory
) -> None:
    """The first second after Redis restarts, no node has beaten yet: a media.join then meets
    `unavailable`, and the page asks again until one answers (it used to give up until reloaded)."""
    _teacher, url, teacher_id = lesson_on_camera(new_page, TEACHER)
    student = new_page()
    login(student, STUDENT)
    refused: list[str] = []
    student.on("console", lambda m: refused.append(m.text) if "media.join refused" in m.text else None)
    nodes = [stack.processes[f"media@{n}"].proc for n in MEDIA_NODES]
    client = redis.Redis.from_url(redis_of(stack).url)
    try:
        # What Redis holds right after a restart: no node registered, no heartbeat (paused, they write none).
        for node in nodes:
            node.send_signal(signal.SIGSTOP)
        ids = [stack.commands[f"media@{n}"].env["MEDIA_NODE_ID"] for n in MEDIA_NODES]
        client.delete(bus.NODES, *(bus.node_key(i) for i in ids))
        enter(student, url)
        deadline = time.monotonic() + 10
        while not refused and time.monotonic() < deadline:
            student.wait_for_timeout(100)
        assert refused, "the page's media.join was not refused while no node was registered"
    finally:
        for node in nodes:
            node.send_signal(signal.SIGCONT)
        client.close()
    back = time.monotonic()
    wait_playing(student, teacher_id, timeout_ms=int(BOUND_S * 1000))
    print(f"\nthe student's page plays the teacher's camera {time.monotonic() - back:.1f} s after the nodes beat again")
