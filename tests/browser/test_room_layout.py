"""The room as one screen on a laptop and on a phone: stage, self view, toolbar, panel, keyboard (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import PageFactory, show_tab, upload_deck

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/rooms/[0-9a-f-]{36}/$")
MEDIA_TIMEOUT = 20_000
# "zoomed": the 1366x768 laptop at 200 % zoom, in CSS pixels.
SIZES = {
    "laptop": {"width": 1366, "height": 768},
    "phone": {"width": 360, "height": 740},
    "zoomed": {"width": 683, "height": 384},
}
TOOLBAR = ("microphone", "camera", "screen", "raise-hand", "leave")


def participant_id(page: Page) -> str:
    return str(page.evaluate("window.classroomRoom.youId"))


def turn_on_camera(page: Page) -> None:
    page.click('[data-action="camera"]')
    expect(page.locator('[data-action="camera"]')).to_have_attribute("aria-pressed", "true", timeout=MEDIA_TIMEOUT)


def lesson_with_cameras_and_slides(
    logged_in_page: PageFactory, tmp_path: Path, viewport: dict[str, int], title: str
) -> tuple[Page, Page]:
    """Marie Curie and Léa Martin in the 6A lesson, both cameras on, the teacher showing a deck."""
    teacher = logged_in_page("marie.curie", viewport=viewport)
    teacher.goto("/classes/6a/")
    upload_deck(teacher, tmp_path, title, 2)
    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)
    expect(teacher.locator("#screen-room")).to_be_visible()
    student = logged_in_page("lea.martin", viewport=viewport)
    student.goto(teacher.url)
    expect(student.locator("#screen-room")).to_be_visible()

    turn_on_camera(teacher)
    turn_on_camera(student)
    show_tab(teacher, "more")
    teacher.select_option("#deck-select", label=title)
    teacher.click("#deck-picker button[type=submit]")
    for page, other in ((teacher, participant_id(student)), (student, participant_id(teacher))):
        expect(page.locator("img[data-slide-page]")).to_have_attribute("data-slide-page", "1")
        page.wait_for_function(
            "() => { const i = document.querySelector('img[data-slide-page]'); return i.complete && i.naturalWidth > 0; }"
        )
        expect(page.locator(f'video[data-participant="{other}"][data-source="camera"]')).to_have_count(
            1, timeout=MEDIA_TIMEOUT
        )
    return teacher, student


def end_lesson(teacher: Page) -> None:
    """End the lesson through the End menu, so that the next test starts a fresh one."""
    teacher.click('[data-action="leave"]')
    teacher.click("#end-room")
    teacher.click("#confirm-ok")
    expect(teacher.locator("#screen-final")).to_be_visible()


def assert_one_screen(page: Page) -> None:
    """No page scroll either way, the whole toolbar and the slide page in view."""
    height, inner_height, width, inner_width = page.evaluate(
        "[document.scrollingElement.scrollHeight, innerHeight, document.scrollingElement.scrollWidth, innerWidth]"
    )
    assert height <= inner_height, f"the page scrolls down: {height} > {inner_height}"
    assert width <= inner_width, f"the page scrolls sideways: {width} > {inner_width}"
    for action in TOOLBAR:
        expect(page.locator(f'[data-action="{action}"]')).to_be_in_viewport(ratio=1)
    expect(page.locator("img[data-slide-page]")).to_be_in_viewport(ratio=1)


@pytest.mark.parametrize("size", SIZES)
def test_room_with_cameras_and_slides_fits_one_screen(logged_in_page: PageFactory, tmp_path: Path, size: str) -> None:
    teacher, student = lesson_with_cameras_and_slides(logged_in_page, tmp_path, SIZES[size], f"Mise en page {size}")

    for page in (teacher, student):
        assert_one_screen(page)
        # One's own camera is a small self view; the slide page has the stage.
        own = page.locator("video[data-self]")
        expect(own).to_be_visible()
        own_box = own.bounding_box()
        stage_box = page.locator("#stage-main").bounding_box()
        assert own_box is not None and stage_box is not None
        assert own_box["width"] * own_box["height"] < 0.15 * stage_box["width"] * stage_box["height"]
        expect(page.locator("#stage-main video")).to_have_count(0)

    # A new poll shows at once, in view, on the student's screen, and is announced.
    show_tab(teacher, "polls")
    teacher.click("#poll-new")
    teacher.fill("#poll-question", "Quel volcan est en France ?")
    options = teacher.locator("#poll-options input")
    options.nth(0).fill("Le Puy de Dôme")
    options.nth(1).fill("L'Etna")
    teacher.click("#poll-submit")
    option = student.locator("[data-poll-option]").first
    expect(option).to_be_in_viewport(ratio=1)
    expect(student.locator("#room-announcer")).to_contain_text("Quel volcan est en France ?")
    assert student.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    end_lesson(teacher)


def test_focus_stays_on_the_camera_toggle(logged_in_page: PageFactory, tmp_path: Path) -> None:
    teacher, _ = lesson_with_cameras_and_slides(logged_in_page, tmp_path, SIZES["laptop"], "Focus")
    camera = teacher.locator('[data-action="camera"]')
    camera.focus()
    teacher.keyboard.press("Enter")
    expect(camera).to_have_attribute("aria-pressed", "false")
    expect(teacher.locator("video[data-self]")).to_have_count(0)
    expect(camera).to_be_focused()
    teacher.keyboard.press("Enter")
    expect(camera).to_have_attribute("aria-pressed", "true", timeout=MEDIA_TIMEOUT)
    expect(camera).to_be_focused()
    end_lesson(teacher)


def test_end_menu_asks_before_ending_and_leaving_tells_the_students(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("louis.pasteur", viewport=SIZES["laptop"])
    teacher.goto("/classes/5b/")
    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)
    student = logged_in_page("jeanedouard.petit", viewport=SIZES["phone"])
    student.goto(teacher.url)
    expect(student.locator("#screen-room")).to_be_visible()

    leave = teacher.locator('[data-action="leave"]')
    leave.click()
    expect(teacher.locator("#end-dialog")).to_be_visible()
    teacher.click("#end-room")
    expect(teacher.locator("#confirm-dialog")).to_be_visible()
    teacher.click("#confirm-cancel")
    expect(teacher.locator("#confirm-dialog")).to_be_hidden()
    expect(teacher.locator("#end-room")).to_be_focused()
    teacher.keyboard.press("Escape")
    expect(teacher.locator("#end-dialog")).to_be_hidden()
    expect(leave).to_be_focused()
    expect(student.locator("#screen-room")).to_be_visible()

    leave.click()
    teacher.click("#leave-only")
    teacher.wait_for_url(lambda url: "/rooms/" not in url)
    expect(student.locator("#room-notice")).to_contain_text("Le professeur a quitté la salle")
    expect(student.locator("#screen-room")).to_be_visible()


def test_shortcuts_are_listed_and_off_while_typing(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    teacher.goto("/classes/6a/")
    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)
    student = logged_in_page("zoe.bernard", viewport=SIZES["laptop"])
    student.goto(teacher.url)
    expect(student.locator("#screen-room")).to_be_visible()
    hand = student.locator('[data-action="raise-hand"]')
    expect(hand).to_have_attribute("aria-pressed", "false")

    show_tab(student, "chat")
    student.locator("#chat-input").focus()
    student.keyboard.type("hm")
    expect(student.locator("#chat-input")).to_have_value("hm")
    expect(hand).to_have_attribute("aria-pressed", "false")
    expect(student.locator('[data-action="microphone"]')).to_have_attribute("aria-pressed", "false")

    student.evaluate("document.activeElement.blur()")
    student.keyboard.press("h")
    expect(hand).to_have_attribute("aria-pressed", "true")
    expect(hand).to_be_focused()
    student.keyboard.press("h")
    expect(hand).to_have_attribute("aria-pressed", "false")

    student.keyboard.press("?")
    dialog = student.locator("#shortcuts-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("kbd", has_text="M")).to_be_visible()
    student.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # The dialog's "close" comes a task after it closed: focus moved meanwhile (Escape, then C at
    # once) stays where it went instead of jumping back to the opener (a flaky C before).
    student.keyboard.press("?")
    expect(dialog).to_be_visible()
    microphone = student.locator('[data-action="microphone"]')
    student.evaluate("""() => {
        document.querySelector("#shortcuts-dialog").close();
        document.querySelector('[data-action="microphone"]').focus();
    }""")
    student.evaluate("() => new Promise((done) => setTimeout(done, 50))")
    expect(microphone).to_be_focused()

    student.evaluate("document.activeElement.blur()")
    student.keyboard.press("c")
    expect(student.locator("#chat-input")).to_be_focused()
    end_lesson(teacher)


def lesson_for_two(logged_in_page: PageFactory, viewport: dict[str, int], locale: str = "fr-FR") -> tuple[Page, Page]:
    """Marie Curie and Léa Martin in the 6A lesson, nothing turned on."""
    teacher = logged_in_page("marie.curie", viewport=viewport, locale=locale)
    teacher.goto("/classes/6a/")
    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)
    expect(teacher.locator("#screen-room")).to_be_visible()
    student = logged_in_page("lea.martin", viewport=viewport, locale=locale)
    student.goto(teacher.url)
    expect(student.locator("#screen-room")).to_be_visible()
    return teacher, student


def send_chat(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")
    expect(page.locator("#chat-input")).to_have_value("")


def expect_chat_at_newest(page: Page, text: str) -> None:
    """The chat log is scrolled to its end (within a pixel: sizes are fractional) and shows this message."""
    page.wait_for_function(
        "() => { const l = document.querySelector('#chat-log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 1; }"
    )
    expect(page.locator("#chat-log li").last).to_contain_text(text)
    expect(page.locator("#chat-log li").last).to_be_in_viewport(ratio=0.95)


def scroll_chat_to_top(page: Page) -> None:
    """Scroll the chat log up with the mouse wheel, as a reader of older messages would."""
    page.locator("#chat-log").hover()
    page.mouse.wheel(0, -5000)
    page.wait_for_function("() => document.querySelector('#chat-log').scrollTop === 0")


def test_chat_shows_the_newest_message_unless_the_reader_scrolled_up(logged_in_page: PageFactory) -> None:
    teacher, student = lesson_for_two(logged_in_page, SIZES["laptop"])
    show_tab(teacher, "chat")
    for n in (1, 2, 3):
        send_chat(teacher, f"Consigne {n} : " + "lisez le chapitre, puis répondez aux questions de la page. " * 6)
    log = student.locator("#chat-log")
    expect(log.locator("li")).to_have_count(3)

    # Messages that came while the tab was closed: opening it shows the newest.
    show_tab(student, "chat")
    assert student.evaluate("(l) => l.scrollHeight > l.clientHeight", log.element_handle())
    expect_chat_at_newest(student, "Consigne 3")

    # One's own message always comes into view, even from older messages.
    scroll_chat_to_top(student)
    send_chat(student, "J'ai fini la consigne 1.")
    expect_chat_at_newest(student, "J'ai fini la consigne 1.")

    # At the bottom, an answer scrolls into view.
    send_chat(teacher, "Très bien, continue.")
    expect_chat_at_newest(student, "Très bien, continue.")

    # Scrolled up to read, the reader stays where she is when a message comes.
    scroll_chat_to_top(student)
    send_chat(teacher, "Encore cinq minutes.")
    expect(log.locator("li")).to_have_count(6)
    expect(log.locator("li").first).to_be_in_viewport(ratio=1)
    expect(log.locator("li").last).not_to_be_in_viewport()
    end_lesson(teacher)


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_full_screen_button_leaves_the_stage_pin_clickable(logged_in_page: PageFactory, size: str) -> None:
    teacher, student = lesson_for_two(logged_in_page, SIZES[size])
    turn_on_camera(teacher)
    pin = student.locator(f'#stage-main [data-tile="{participant_id(teacher)}:camera"] .tile-pin')
    expect(pin).to_be_visible(timeout=MEDIA_TIMEOUT)
    full_screen = student.locator("#stage-fullscreen")
    expect(full_screen).to_be_visible()

    pin_box, full_screen_box = pin.bounding_box(), full_screen.bounding_box()
    assert pin_box is not None and full_screen_box is not None
    apart = (
        pin_box["x"] + pin_box["width"] <= full_screen_box["x"]
        or full_screen_box["x"] + full_screen_box["width"] <= pin_box["x"]
        or pin_box["y"] + pin_box["height"] <= full_screen_box["y"]
        or full_screen_box["y"] + full_screen_box["height"] <= pin_box["y"]
    )
    assert apart, f"the full screen button {full_screen_box} overlaps the pin {pin_box}"
    hit = student.evaluate(
        "([x, y]) => Boolean(document.elementFromPoint(x, y)?.closest('.tile-pin'))",
        [pin_box["x"] + pin_box["width"] / 2, pin_box["y"] + pin_box["height"] / 2],
    )
    assert hit, "the pin's centre is covered"
    pin.click()
    expect(pin).to_have_attribute("aria-pressed", "true")
    end_lesson(teacher)


def test_the_panels_close_button_stays_on_a_phone_screen(logged_in_page: PageFactory) -> None:
    teacher, student = lesson_for_two(logged_in_page, SIZES["phone"])
    for page in (teacher, student):
        page.click("#panel-toggle")
        close = page.locator("#panel-close")
        expect(close).to_be_in_viewport(ratio=1)
        box = close.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= SIZES["phone"]["width"]
        # The tabs scroll on their own: the last is reached by keyboard and comes into view.
        page.keyboard.press("End")
        expect(page.locator("#tab-more")).to_be_focused()
        expect(page.locator("#tab-more")).to_be_in_viewport(ratio=0.95)  # fractional widths, whole pixel scrolls
        expect(close).to_be_in_viewport(ratio=1)
        close.click()
        expect(page.locator("#side-panel")).to_be_hidden()
        expect(page.locator("#panel-toggle")).to_be_focused()
    end_lesson(teacher)


@pytest.mark.parametrize("locale", ["fr-FR", "en-US"])
def test_teachers_toolbar_labels_fit_a_phone(logged_in_page: PageFactory, locale: str) -> None:
    teacher, _ = lesson_for_two(logged_in_page, SIZES["phone"], locale)
    expect(teacher.locator('[data-action="groups"]')).to_be_visible()
    buttons = teacher.evaluate(
        """() => Array.from(document.querySelectorAll('.room-controls button'))
          .filter((button) => button.checkVisibility())
          .map((button) => {
            const label = button.querySelector('.label');
            const box = button.getBoundingClientRect();
            return { label: label.textContent, left: box.left, right: box.right, height: box.height,
                     clipped: label.scrollWidth > label.clientWidth || label.scrollHeight > label.clientHeight };
          })"""
    )
    assert len(buttons) == 7, buttons
    for button in buttons:
        assert not button["clipped"], f"{button['label']!r} is clipped: {buttons}"
        assert button["height"] >= 44 and button["left"] >= 0 and button["right"] <= SIZES["phone"]["width"], button
    end_lesson(teacher)


def test_a_refused_button_is_reached_by_tab_and_says_why(logged_in_page: PageFactory) -> None:
    teacher, student = lesson_for_two(logged_in_page, SIZES["laptop"])
    screen = student.locator('[data-action="screen"]')
    student.locator('[data-action="camera"]').focus()
    student.keyboard.press("Tab")
    expect(screen).to_be_focused()
    expect(screen).to_have_attribute("aria-disabled", "true")
    expect(screen).to_have_accessible_description("Pas autorisé pour le moment")
    student.keyboard.press("Enter")
    expect(student.locator("#room-announcer")).to_have_text("Pas autorisé pour le moment")
    expect(screen).to_have_attribute("aria-pressed", "false")

    # The shortcut of a refused source says why too: the camera refused by the teacher, V
    show_tab(teacher, "more")
    teacher.locator("#set-video").uncheck()
    camera = student.locator('[data-action="camera"]')
    expect(camera).to_have_attribute("aria-disabled", "true")
    student.locator("#room-announcer").evaluate("(node) => { node.textContent = ''; }")
    student.locator("body").focus()
    student.keyboard.press("v")
    expect(student.locator("#room-announcer")).to_have_text("Pas autorisé pour le moment")
    expect(camera).to_have_attribute("aria-pressed", "false")
    teacher.locator("#set-video").check()

    # Allowed by the teacher: the same button works.
    teacher.locator("#set-screen").check()
    expect(screen).not_to_have_attribute("aria-disabled", "true")
    expect(screen).to_have_accessible_description("")
    end_lesson(teacher)
