"""The room as a classroom (issue 16): the lesson timer, stopping the slides, help for a refused
camera, the remembered panel tab, and axe on the room page for a teacher and a student."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import CHROMIUM, CHROMIUM_ARGS, PageFactory, login, show_tab
from .test_pages import assert_axe_clean
from .test_room_layout import MEDIA_TIMEOUT, ROOM_URL, SIZES, end_lesson, lesson_with_cameras_and_slides

pytestmark = pytest.mark.browser


def start_lesson(teacher: Page) -> str:
    teacher.goto("/classes/6a/")
    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)
    expect(teacher.locator("#screen-room")).to_be_visible()
    return teacher.url


def enter(page: Page, url: str) -> Page:
    page.goto(url)
    expect(page.locator("#screen-room")).to_be_visible()
    return page


def test_the_teachers_timer_counts_down_for_everyone_and_says_when_time_is_up(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher)
    student = logged_in_page("lea.martin", viewport=SIZES["phone"])
    student.clock.install()
    enter(student, url)

    show_tab(teacher, "more")
    teacher.fill("#timer-minutes", "3")
    teacher.click("#timer-start")
    timer = student.locator("#lesson-timer")
    expect(timer).to_be_visible()
    expect(timer).to_be_in_viewport(ratio=1)
    expect(student.locator("#lesson-timer-clock")).to_have_text(re.compile(r"^[23]:[0-5][0-9]$"))
    expect(student.locator("#room-announcer")).to_contain_text("3 min")
    expect(teacher.locator("#lesson-timer")).to_be_visible()
    expect(teacher.locator("#timer-stop")).to_be_visible()

    student.clock.run_for(181_000)
    expect(timer).to_have_attribute("data-state", "over")
    expect(student.locator("#lesson-timer-clock")).to_have_text("Temps écoulé")
    expect(student.locator("#room-announcer")).to_contain_text("Le minuteur est terminé")

    teacher.click("#timer-stop")
    expect(timer).to_be_hidden()
    expect(teacher.locator("#lesson-timer")).to_be_hidden()
    expect(teacher.locator("#timer-minutes")).to_be_focused()
    # a late joiner finds no timer, and a student has no timer form
    late = enter(logged_in_page("zoe.bernard"), url)
    expect(late.locator("#lesson-timer")).to_be_hidden()
    expect(late.locator("#timer-form")).to_have_count(0)
    end_lesson(teacher)


def test_stop_showing_the_slides_gives_the_stage_back_to_the_videos(
    logged_in_page: PageFactory, tmp_path: Path
) -> None:
    teacher, student = lesson_with_cameras_and_slides(logged_in_page, tmp_path, SIZES["laptop"], "Fin des diapos")
    expect(student.locator("#slide-hide")).to_be_hidden()
    teacher.click("#slide-hide")
    for page in (teacher, student):
        expect(page.locator("#slides-panel")).to_be_hidden()
        expect(page.locator("#media-area")).to_have_attribute("data-stage", "video")
        expect(page.locator("#stage-main video")).to_have_count(1)
    expect(student.locator("#room-announcer")).to_contain_text("ne sont plus affichées")
    expect(teacher.locator("#media-area")).to_be_focused()
    end_lesson(teacher)


@pytest.fixture
def refusing_browser(browser: Browser, live_server_url: str) -> Iterator[Browser]:
    """Chromium with fake devices but no automatic yes: getUserMedia is refused."""
    args = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]
    args.append(f"--unsafely-treat-insecure-origin-as-secure={live_server_url}")
    instance = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=args)
    yield instance
    instance.close()


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_a_refused_camera_says_how_to_allow_it_next_to_the_button(
    logged_in_page: PageFactory, refusing_browser: Browser, live_server_url: str, size: str
) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher)
    context = refusing_browser.new_context(base_url=live_server_url, locale="fr-FR", viewport=SIZES[size])  # type: ignore[arg-type]
    errors: list[str] = []
    try:
        student = context.new_page()
        student.on("pageerror", lambda error: errors.append(str(error)))
        login(student, "lea.martin")
        enter(student, url)
        camera = student.locator('[data-action="camera"]')
        camera.click()
        help_box = student.locator("#permission-help")
        expect(help_box).to_be_visible(timeout=MEDIA_TIMEOUT)
        expect(help_box).to_be_in_viewport(ratio=1)
        expect(help_box).to_be_focused()
        expect(help_box.locator("h2")).to_have_text("La caméra est bloquée")
        for browser_name in ("Chrome", "Firefox", "Safari"):
            expect(help_box).to_contain_text(browser_name)
        # this browser's way comes first
        expect(help_box.locator("li").first).to_have_attribute("data-browser", "chromium")
        expect(camera).to_have_attribute("aria-pressed", "false")
        # next to the button pressed: their boxes are close
        box, button = help_box.bounding_box(), camera.bounding_box()
        assert box is not None and button is not None
        assert (
            abs((box["y"] + box["height"]) - button["y"]) < 40 or abs(box["y"] - (button["y"] + button["height"])) < 40
        )
        student.keyboard.press("Escape")
        expect(help_box).to_be_hidden()
        expect(camera).to_be_focused()

        student.locator('[data-action="microphone"]').click()
        expect(help_box.locator("h2")).to_have_text("Le micro est bloqué")
        student.click("#permission-help-close")
        expect(student.locator('[data-action="microphone"]')).to_be_focused()
    finally:
        context.close()
    assert not errors, errors
    end_lesson(teacher)


def test_the_open_tab_is_remembered_for_this_user(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher)
    student = enter(logged_in_page("lea.martin"), url)
    show_tab(student, "chat")
    student.reload()
    expect(student.locator("#screen-room")).to_be_visible()
    expect(student.locator("#tab-chat")).to_have_attribute("aria-selected", "true")
    expect(student.locator("#tabpanel-chat")).to_be_visible()
    end_lesson(teacher)


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_the_room_page_has_no_serious_axe_violation(logged_in_page: PageFactory, size: str) -> None:
    teacher = logged_in_page("marie.curie", viewport=SIZES[size])
    url = start_lesson(teacher)
    student = enter(logged_in_page("lea.martin", viewport=SIZES[size]), url)
    show_tab(teacher, "more")
    teacher.fill("#timer-minutes", "5")
    teacher.click("#timer-start")
    expect(student.locator("#lesson-timer")).to_be_visible()
    for page in (teacher, student):
        assert_axe_clean(page)
        for tab in ("people", "chat", "polls", "more"):
            show_tab(page, tab)
            assert_axe_clean(page)
    end_lesson(teacher)
