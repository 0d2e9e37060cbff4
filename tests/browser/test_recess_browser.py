"""Supervised recess in real browsers: a supervisor and two students; the supervisor goes (issue 6)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from .conftest import PageFactory, show_tab
from .test_media_browser import frames_stop, turn_on, wait_playing

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/rooms/[0-9a-f-]{36}/$")


def open_recess(page: Page, title: str) -> str:
    """Open a recess of 6A through the /recess/ form; return the room URL."""
    page.goto("/recess/")
    form = page.locator('form[data-action="create-recess"]')
    form.locator("input[name=title]").fill(title)
    form.locator('input[name=classes][value="6a"]').check()
    form.locator("button[type=submit]").click()
    page.wait_for_url(ROOM_URL)
    expect(page.locator("#screen-room")).to_be_visible()
    return page.url


def enter_from_dashboard(page: Page, url: str) -> None:
    room_id = url.rstrip("/").rsplit("/", 1)[-1]
    page.goto("/")
    page.click(f'a[data-room="{room_id}"]')
    expect(page.locator("#screen-room")).to_be_visible()


def test_students_see_safe_mode_when_the_supervisor_closes_the_tab(logged_in_page: PageFactory) -> None:
    supervisor = logged_in_page("claire.fontaine")
    url = open_recess(supervisor, "Récré des 6e")
    expect(supervisor.locator("#media-area")).to_have_class(re.compile(r"\brecess-grid\b"))

    students = [logged_in_page("lea.martin"), logged_in_page("zoe.bernard")]
    for page in students:
        enter_from_dashboard(page, url)
        expect(page.locator('[data-action="camera"]')).to_be_enabled()
    expect(supervisor.locator("#participant-list > li")).to_have_count(3)

    # The two students see each other's camera.
    ids = [str(page.evaluate("window.classroomRoom.youId")) for page in students]
    for page in students:
        turn_on(page, "camera")
    wait_playing(students[0], ids[1])
    wait_playing(students[1], ids[0])

    # One click reports a problem, privately, to the supervisors.
    students[0].click('[data-action="report"]')
    expect(supervisor.locator("#report-list li")).to_contain_text("Léa Martin")
    expect(students[1].locator("#report-list")).to_have_count(0)

    supervisor.close()
    closed_at = time.monotonic()
    for page in students:
        notice = page.locator("#room-notice")
        expect(notice).to_have_attribute("data-state", "warning", timeout=5_000)
        expect(notice).to_contain_text("Mode protégé")
        expect(page.locator('[data-action="camera"]')).to_be_disabled()
        expect(page.locator('[data-action="microphone"]')).to_be_disabled()
        show_tab(page, "chat")
        expect(page.locator("#chat-closed")).to_be_visible()
    assert time.monotonic() - closed_at < 5
    # No student video reaches another student in safe mode.
    frames_stop(students[0], ids[1])
    frames_stop(students[1], ids[0])
    for page, other in ((students[0], ids[1]), (students[1], ids[0])):
        expect(page.locator(f'video[data-participant="{other}"]')).to_have_count(0)


def test_the_supervisors_panel_stays_closed_when_the_window_goes_narrow_and_wide_again(
    logged_in_page: PageFactory,
) -> None:
    # a wide screen opens the panel, except a recess supervisor's, whose grid starts without it
    supervisor = logged_in_page("claire.fontaine")
    supervisor.set_viewport_size({"width": 1366, "height": 768})
    open_recess(supervisor, "Récré du midi")
    expect(supervisor.locator("#side-panel")).to_be_hidden()
    supervisor.set_viewport_size({"width": 360, "height": 740})
    expect(supervisor.locator("#side-panel")).to_be_hidden()
    supervisor.set_viewport_size({"width": 1366, "height": 768})
    supervisor.wait_for_timeout(300)
    expect(supervisor.locator("#side-panel")).to_be_hidden()  # it had opened by itself here
    # the supervisor still opens it at will
    supervisor.click("#panel-toggle")
    expect(supervisor.locator("#side-panel")).to_be_visible()
