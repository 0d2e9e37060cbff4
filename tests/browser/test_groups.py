"""Breakout groups in real browsers (issue 17): students move into their groups and back with media."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from .conftest import PageFactory
from .test_media_browser import MEDIA_TIMEOUT, enter, start_lesson, turn_on, video_of, wait_playing

pytestmark = pytest.mark.browser

# The page's RTCPeerConnections now, to compare with SAME_CONNECTIONS after moves between rooms.
KEEP_CONNECTIONS = """() => {
  window.__connectionsBefore = { ...window.classroomMedia.pcs, made: window.classroomMedia.connectionsMade };
}"""
SAME_CONNECTIONS = """() => {
  const before = window.__connectionsBefore, media = window.classroomMedia, now = media.pcs;
  return Boolean(now.subscribe) && now.subscribe === before.subscribe && now.publish === before.publish
    && media.connectionsMade === before.made;
}"""


def lesson_without_groups(teacher: Page) -> str:
    """Start (or rejoin) 6A's lesson and close the groups an earlier test left open; return its URL."""
    url = start_lesson(teacher, "6a")
    teacher.wait_for_function("() => window.classroomRoom.state.you")
    teacher.evaluate('() => window.classroomRoom.send({ type: "groups.close" }).catch(() => null)')
    return url


@pytest.fixture(autouse=True)
def no_groups_left(logged_in_page: PageFactory) -> Iterator[None]:
    """Close the groups a test leaves open: the next tests (other files too) start 6A's lesson."""
    yield
    lesson_without_groups(logged_in_page("marie.curie"))


def test_groups_split_the_class_and_bring_it_back(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    lesson_url = lesson_without_groups(teacher)
    turn_on(teacher, "camera")
    lea = logged_in_page("lea.martin")
    lea_id = enter(lea, lesson_url)
    turn_on(lea, "camera")
    zoe = logged_in_page("zoe.bernard")
    zoe_id = enter(zoe, lesson_url)
    turn_on(zoe, "camera")
    wait_playing(lea, zoe_id)
    wait_playing(zoe, lea_id)
    for page in (teacher, lea, zoe):
        page.evaluate(KEEP_CONNECTIONS)

    # the teacher opens two groups by hand from the dialog, by keyboard-usable selects
    teacher.click('[data-action="groups"]')
    teacher.select_option(f'[data-assign="{lea_id}"]', "1")
    teacher.select_option(f'[data-assign="{zoe_id}"]', "2")
    teacher.click('#groups-dialog button[type="submit"]')

    # each student's page moves into its own group by itself, camera still on
    for page in (lea, zoe):
        expect(page.locator("#group-banner")).to_be_visible(timeout=MEDIA_TIMEOUT)
        assert page.url != lesson_url
    expect(video_of(lea, zoe_id)).to_have_count(0, timeout=MEDIA_TIMEOUT)
    expect(video_of(zoe, lea_id)).to_have_count(0, timeout=MEDIA_TIMEOUT)

    # the overview shows both groups, and a call for help
    expect(teacher.locator("[data-group]")).to_have_count(2, timeout=MEDIA_TIMEOUT)
    zoe.click('[data-action="help"]')
    expect(teacher.locator("[data-group] [data-help-call]")).to_have_count(1, timeout=MEDIA_TIMEOUT)

    # a broadcast reaches both groups
    teacher.fill("#groups-broadcast-text", "Encore cinq minutes")
    teacher.click('[data-action="groups-broadcast"]')
    for page in (lea, zoe):
        expect(page.locator(".group-broadcast")).to_contain_text("Encore cinq minutes", timeout=MEDIA_TIMEOUT)

    # the teacher drops into Léa's group and is seen there
    teacher_id = str(teacher.evaluate("window.classroomRoom.youId"))
    lea_room = str(lea.evaluate("window.classroomRoom.config.roomId"))
    teacher.click(f'[data-group="{lea_room}"] [data-action="group-join"]')
    wait_playing(lea, teacher_id)
    # the pages moved with the connections they had in the lesson: no new ones (media.join resume)
    for page in (teacher, lea, zoe):
        assert page.evaluate(SAME_CONNECTIONS)

    # closing brings everyone back into the lesson, where media plays again
    teacher.evaluate('() => window.classroomRoom.send({ type: "groups.close" })')
    for page in (lea, zoe, teacher):
        expect(page.locator("#group-banner")).to_be_hidden(timeout=MEDIA_TIMEOUT)
    assert lea.url == lesson_url and zoe.url == lesson_url
    wait_playing(lea, zoe_id)
    wait_playing(zoe, lea_id)
    wait_playing(zoe, teacher_id)
    for page in (teacher, lea, zoe):
        assert page.evaluate(SAME_CONNECTIONS)


def test_students_choose_their_group(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    lesson_url = lesson_without_groups(teacher)
    lea = logged_in_page("lea.martin")
    lea_id = enter(lea, lesson_url)
    turn_on(lea, "camera")
    zoe = logged_in_page("zoe.bernard")
    zoe_id = enter(zoe, lesson_url)
    wait_playing(zoe, lea_id)

    # the teacher lets the students choose among two named groups
    teacher.click('[data-action="groups"]')
    teacher.select_option("#groups-mode", "choose")
    teacher.fill('[data-group-name="1"]', "Rouge")
    teacher.fill('[data-group-name="2"]', "Bleu")
    teacher.click('#groups-dialog button[type="submit"]')

    # each student sees the choice and picks, Léa with the mouse, Zoé by keyboard
    for page in (lea, zoe):
        expect(page.locator("#group-choice [data-join-group]")).to_have_count(2, timeout=MEDIA_TIMEOUT)
    lea.locator("#group-choice button", has_text="Rouge").click()
    zoe.locator("#group-choice button", has_text="Bleu").focus()
    zoe.keyboard.press("Enter")
    expect(lea.locator("#group-banner")).to_contain_text("Rouge", timeout=MEDIA_TIMEOUT)
    expect(zoe.locator("#group-banner")).to_contain_text("Bleu", timeout=MEDIA_TIMEOUT)
    expect(lea.locator("#group-choice")).to_be_hidden()
    expect(video_of(zoe, lea_id)).to_have_count(0, timeout=MEDIA_TIMEOUT)

    # the overview puts each in the group they chose, present
    for student_id, name in ((lea_id, "Rouge"), (zoe_id, "Bleu")):
        card = teacher.locator("[data-group]", has_text=name)
        expect(card.locator(f'[data-member="{student_id}"][data-present="true"]')).to_have_count(
            1, timeout=MEDIA_TIMEOUT
        )


def test_the_teacher_assigns_groups_by_drag_and_drop_or_keyboard(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    lesson_url = lesson_without_groups(teacher)
    lea_id = enter(logged_in_page("lea.martin"), lesson_url)
    zoe_id = enter(logged_in_page("zoe.bernard"), lesson_url)
    expect(teacher.locator(f'li.participant[data-participant="{zoe_id}"]')).to_be_attached(timeout=MEDIA_TIMEOUT)

    teacher.click('[data-action="groups"]')
    teacher.fill('[data-group-name="1"]', "Rouge")
    teacher.fill('[data-group-name="2"]', "Bleu")
    teacher.fill("#groups-count", "2")  # drawn again: the boxes take the names typed
    expect(teacher.locator('[data-drop-group="1"] h3')).to_have_text("Rouge")
    first, second = teacher.locator('[data-drop-group="1"]'), teacher.locator('[data-drop-group="2"]')
    expect(first.locator(f'[data-student="{lea_id}"]')).to_have_count(1)
    expect(second.locator(f'[data-student="{zoe_id}"]')).to_have_count(1)
    # Zoé dragged into the first box joins Léa there; her select follows
    teacher.locator(f'[data-student="{zoe_id}"] span').drag_to(first.locator("h3"))
    expect(first.locator(f'[data-student="{zoe_id}"]')).to_have_count(1)
    expect(teacher.locator(f'[data-assign="{zoe_id}"]')).to_have_value("1")
    # Léa moved to the second box by keyboard, with her select
    teacher.locator(f'[data-assign="{lea_id}"]').focus()
    teacher.keyboard.press("ArrowDown")
    expect(second.locator(f'[data-student="{lea_id}"]')).to_have_count(1)
    teacher.click('#groups-dialog button[type="submit"]')

    red = teacher.locator("[data-group]", has_text="Rouge")
    blue = teacher.locator("[data-group]", has_text="Bleu")
    expect(red.locator(f'[data-member="{zoe_id}"]')).to_have_count(1, timeout=MEDIA_TIMEOUT)
    expect(blue.locator(f'[data-member="{lea_id}"]')).to_have_count(1)


def test_the_teacher_listens_in_silently(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    lesson_url = lesson_without_groups(teacher)
    teacher_id = str(teacher.evaluate("window.classroomRoom.youId"))
    lea = logged_in_page("lea.martin")
    lea_id = enter(lea, lesson_url)
    turn_on(lea, "camera")
    turn_on(lea, "microphone")
    zoe_id = enter(logged_in_page("zoe.bernard"), lesson_url)
    expect(teacher.locator(f'li.participant[data-participant="{zoe_id}"]')).to_be_attached(timeout=MEDIA_TIMEOUT)
    teacher.click('[data-action="groups"]')
    teacher.select_option(f'[data-assign="{lea_id}"]', "1")
    teacher.select_option(f'[data-assign="{zoe_id}"]', "2")
    teacher.click('#groups-dialog button[type="submit"]')
    expect(lea.locator("#group-banner")).to_be_visible(timeout=MEDIA_TIMEOUT)
    lea_room = str(lea.evaluate("window.classroomRoom.config.roomId"))

    teacher.click(f'[data-group="{lea_room}"] [data-action="group-listen"]')
    expect(teacher.locator("#group-banner")).to_contain_text("personne ne vous y voit", timeout=MEDIA_TIMEOUT)
    # the teacher hears Léa, and sees nothing of her: sound only
    expect(teacher.locator(f'audio[data-participant="{lea_id}"]')).to_be_attached(timeout=MEDIA_TIMEOUT)
    expect(video_of(teacher, lea_id)).to_have_count(0)
    # Léa's group does not see the teacher among its people
    expect(lea.locator(f'li.participant[data-participant="{lea_id}"]')).to_be_attached()
    expect(lea.locator(f'li.participant[data-participant="{teacher_id}"]')).to_have_count(0)


def test_the_teacher_speaks_to_every_group_while_holding_the_button(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    lesson_url = lesson_without_groups(teacher)
    teacher_id = str(teacher.evaluate("window.classroomRoom.youId"))
    lea = logged_in_page("lea.martin")
    lea_id = enter(lea, lesson_url)
    zoe = logged_in_page("zoe.bernard")
    zoe_id = enter(zoe, lesson_url)
    expect(teacher.locator(f'li.participant[data-participant="{zoe_id}"]')).to_be_attached(timeout=MEDIA_TIMEOUT)
    teacher.click('[data-action="groups"]')
    teacher.select_option(f'[data-assign="{lea_id}"]', "1")
    teacher.select_option(f'[data-assign="{zoe_id}"]', "2")
    teacher.click('#groups-dialog button[type="submit"]')
    for page in (lea, zoe):
        expect(page.locator("#group-banner")).to_be_visible(timeout=MEDIA_TIMEOUT)
    expect(teacher.locator("[data-group]")).to_have_count(2, timeout=MEDIA_TIMEOUT)

    expect(lea.locator(f'audio[data-participant="{teacher_id}"]')).to_have_count(0)
    # held: both groups get the teacher's microphone; released: it goes
    teacher.locator('[data-action="groups-speak"]').hover()
    teacher.mouse.down()
    for page in (lea, zoe):
        expect(page.locator(f'audio[data-participant="{teacher_id}"]')).to_be_attached(timeout=MEDIA_TIMEOUT)
    teacher.mouse.up()
    for page in (lea, zoe):
        expect(page.locator(f'audio[data-participant="{teacher_id}"]')).to_have_count(0, timeout=MEDIA_TIMEOUT)
