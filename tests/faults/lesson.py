"""The lesson the browser fault tests break: a teacher's page with the camera on, in 6A's room."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import login
from tests.browser.test_media_browser import start_lesson, turn_on
from tests.production.conftest import PageFactory


def lesson_on_camera(new_page: PageFactory, teacher: str) -> tuple[Page, str, str]:
    """The teacher logs in, starts 6A's lesson and turns the camera on: their page, the URL, their id."""
    page = new_page()
    login(page, teacher)
    url = start_lesson(page, "6a")
    teacher_id = str(page.evaluate("window.classroomRoom.youId"))
    turn_on(page, "camera")
    return page, url, teacher_id
