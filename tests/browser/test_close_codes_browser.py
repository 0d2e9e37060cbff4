"""The page ends or reconnects after a close code as the server's table says (classroom/closecodes.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import PageFactory
from .test_room_page import enter, start_lesson

pytestmark = pytest.mark.browser


def test_a_tab_pushed_out_by_newer_ones_stays_closed_and_says_why(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")
    tabs = [logged_in_page("zoe.bernard", locale="en-US") for _ in range(4)]  # ROOM_SOCKETS_PER_USER is 3
    for tab in tabs:
        enter(tab, url)

    oldest = tabs[0]
    expect(oldest.locator("#screen-final")).to_be_visible()
    expect(oldest.locator("#final-message")).to_have_attribute("data-reason", "close_4410")
    expect(oldest.locator("#final-message")).to_contain_text("too many other tabs")
    assert oldest.evaluate("window.classroomRoom.client.stopped") is True
    assert oldest.evaluate("window.classroomRoom.client.socket") is None
    # The page read the server's table: 4410 ends it, 4429 (over the rate) does not.
    final = oldest.evaluate("[...window.classroomRoom.client.finalCodes].sort()")
    assert final == [4400, 4401, 4403, 4404, 4409, 4410]
    for tab in tabs[1:]:
        expect(tab.locator("#screen-room")).to_be_visible()
