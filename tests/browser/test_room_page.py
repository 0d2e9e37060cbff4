"""The room page in real browsers against the real server (issue 3)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import PageFactory, show_tab

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/rooms/[0-9a-f-]{36}/$")
SCREENSHOTS = os.environ.get("CV_SCREENSHOTS")


def start_lesson(page: Page, slug: str) -> str:
    """Start (or rejoin) the lesson of a class from its class page; return the room URL."""
    page.goto(f"/classes/{slug}/")
    page.click('form[data-action="start-lesson"] button[type=submit]')
    page.wait_for_url(ROOM_URL)
    expect(page.locator("#screen-room")).to_be_visible()
    return page.url


def enter(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#screen-room")).to_be_visible()


def participant_id(page: Page) -> str:
    return str(page.evaluate("window.classroomRoom.youId"))


def test_lesson_with_teacher_and_two_students(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")

    lea = logged_in_page("lea.martin")
    enter(lea, url)
    lea_id = participant_id(lea)
    expect(teacher.locator(f'#participant-list [data-participant="{lea_id}"]')).to_contain_text("Léa Martin")

    # A student of another class waits until the teacher admits them through the page.
    jean = logged_in_page("jeanedouard.petit")
    jean.goto(url)
    expect(jean.locator("#screen-waiting")).to_be_visible()
    expect(jean.locator("#waiting-reason")).to_have_attribute("data-reason", "not_in_class")
    expect(jean.locator("#screen-room")).to_be_hidden()
    waiting = teacher.locator("#waiting-list li", has_text="Jean-Édouard Petit")
    expect(waiting).to_be_visible()
    waiting.locator('[data-act="admit"]').click()
    expect(jean.locator("#screen-room")).to_be_visible()
    expect(teacher.locator("#waiting-panel")).to_be_hidden()
    expect(teacher.locator("#participant-list > li")).to_have_count(3)

    # A raised hand shows in the teacher's queue and on the student's button.
    lea.click('[data-action="raise-hand"]')
    expect(lea.locator('[data-action="raise-hand"]')).to_have_attribute("aria-pressed", "true")
    expect(teacher.locator("#hand-list li .name")).to_have_text(["Léa Martin"])
    expect(teacher.locator(f'#participant-list [data-participant="{lea_id}"] [data-badge="hand"]')).to_be_visible()

    # A poll, from creation to published results that students see as bars with numbers.
    show_tab(teacher, "polls")
    teacher.click("#poll-new")
    expect(teacher.locator("#poll-dialog")).to_be_visible()
    teacher.fill("#poll-question", "Quelle planète est la plus grande ?")
    options = teacher.locator("#poll-options input")
    options.nth(0).fill("Jupiter")
    options.nth(1).fill("Mars")
    teacher.click("#poll-add-option")
    options.nth(2).fill("Vénus")
    teacher.click("#poll-submit")
    expect(teacher.locator("#poll-dialog")).to_be_hidden()

    for student, choice in ((lea, "Jupiter"), (jean, "Mars")):
        poll = student.locator("[data-poll]", has_text="Quelle planète")
        expect(poll.locator("form")).to_be_visible()
        expect(poll.locator(".poll-results")).to_have_count(0)
        poll.get_by_label(choice).check()
        poll.locator("form button[type=submit]").click()
        expect(poll.locator(".poll-thanks")).to_be_visible()

    teacher_poll = teacher.locator("[data-poll]", has_text="Quelle planète")
    expect(teacher_poll.locator('.poll-results li[data-option="0"]')).to_have_attribute("data-count", "1")
    expect(teacher_poll.locator('.poll-results li[data-option="1"]')).to_have_attribute("data-count", "1")
    expect(lea.locator("[data-poll] .poll-results")).to_have_count(0)
    teacher_poll.locator('[data-act="publish-poll"]').click()

    for student in (lea, jean):
        results = student.locator("[data-poll] .poll-results")
        expect(results).to_be_visible()
        expect(results.locator("li")).to_have_count(3)
        expect(results.locator('li[data-option="0"] .option-count')).to_contain_text("1")
        expect(results.locator('li[data-option="2"] .option-count')).to_contain_text("0")
        jupiter_bar = results.locator('li[data-option="0"] .fill').bounding_box()
        assert jupiter_bar is not None and jupiter_bar["width"] > 10

    # Chat text that looks like HTML stays text everywhere (and no dialog fires: see new_page).
    attack = "<script>alert(1)</script>"
    for page in (teacher, jean, lea):
        show_tab(page, "chat")
    lea.fill("#chat-input", attack)
    lea.press("#chat-input", "Enter")
    for page in (teacher, jean, lea):
        message = page.locator("#chat-log .chat-text").last
        expect(message).to_have_text(attack)
        assert page.locator("#chat-log script").count() == 0
    expect(lea.locator("#chat-input")).to_have_value("")

    # A student writes privately to the teacher: the other student never sees it.
    jean.select_option("#chat-to", label="Marie Curie")
    jean.fill("#chat-input", "Je n'entends rien")
    jean.press("#chat-input", "Enter")
    expect(teacher.locator("#chat-log .is-private .chat-text")).to_have_text("Je n'entends rien")
    expect(jean.locator("#chat-log .is-private .chat-text")).to_have_text("Je n'entends rien")
    expect(lea.locator("#chat-log li")).to_have_count(1)

    # The teacher deletes a message; it disappears everywhere.
    teacher.locator("#chat-log li", has_text=attack).locator('[data-act="delete"]').click()
    expect(lea.locator("#chat-log li")).to_have_count(0)
    expect(jean.locator("#chat-log li", has_text=attack)).to_have_count(0)


def test_room_fits_a_phone_and_every_control_is_reachable_by_tab(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("louis.pasteur", viewport={"width": 360, "height": 640})
    start_lesson(teacher, "5b")
    student = logged_in_page("jeanedouard.petit", viewport={"width": 360, "height": 640})
    enter(student, teacher.url)
    expect(teacher.locator("#participant-list > li")).to_have_count(2)

    for page, name in ((teacher, "teacher"), (student, "student")):
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{name} page scrolls sideways: {widths}"
        if SCREENSHOTS:
            page.screenshot(path=os.path.join(SCREENSHOTS, f"room-360-{name}.png"), full_page=True)

        # Every visible, enabled control has a name and receives focus from the keyboard alone.
        controls = page.evaluate(
            """() => {
              const selector = 'button, input, select, textarea, summary, a[href], [tabindex]:not([tabindex="-1"])';
              const all = Array.from(document.querySelectorAll(selector)).filter((el) =>
                !el.disabled && el.checkVisibility({ visibilityProperty: true }));
              return all.map((el, i) => {
                el.dataset.tabProbe = String(i);
                const name = el.getAttribute('aria-label') || (el.labels && el.labels.length && el.labels[0].textContent)
                  || el.getAttribute('aria-labelledby') || el.textContent;
                return { probe: String(i), name: (name || '').trim(), html: el.outerHTML.slice(0, 120) };
              });
            }"""
        )
        unnamed = [c["html"] for c in controls if not c["name"]]
        assert not unnamed, f"controls without a name on the {name} page: {unnamed}"
        for action in ("camera", "microphone", "screen", "raise-hand", "leave"):
            assert page.locator(f'[data-action="{action}"]').count() == 1

        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.locator("body").focus()
        reached = set()
        for _ in range(len(controls) * 2 + 10):
            page.keyboard.press("Tab")
            probe = page.evaluate("document.activeElement && document.activeElement.dataset.tabProbe")
            if probe is not None:
                reached.add(probe)
            if len(reached) == len(controls):
                break
        missing = [c["html"] for c in controls if c["probe"] not in reached]
        assert not missing, f"not reachable by Tab on the {name} page: {missing}"


def test_page_reconnects_after_a_dropped_socket_and_gets_the_state_back(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")
    student = logged_in_page("zoe.bernard")
    enter(student, url)
    student.click('[data-action="raise-hand"]')
    expect(teacher.locator("#hand-list li .name")).to_contain_text(["Zoé Bernard"])

    student.evaluate("window.classroomRoom.client.socket.close()")
    expect(student.locator("#connection-banner")).to_have_attribute("data-state", "lost")
    expect(student.locator("#connection-banner")).to_have_attribute("data-state", "back", timeout=15_000)
    expect(student.locator(f'#participant-list [data-participant="{participant_id(teacher)}"]')).to_be_visible()
    expect(student.locator('[data-action="raise-hand"]')).to_have_attribute("aria-pressed", "true")


def test_ending_the_lesson_shows_a_final_message_and_stops_reconnecting(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("louis.pasteur")
    url = start_lesson(teacher, "5b")
    student = logged_in_page("jeanedouard.petit", locale="en-US")
    enter(student, url)

    teacher.click('[data-action="leave"]')  # a moderator's End menu
    teacher.click("#end-room")
    expect(teacher.locator("#confirm-dialog")).to_be_visible()
    teacher.keyboard.press("Escape")
    expect(teacher.locator("#confirm-dialog")).to_be_hidden()
    expect(teacher.locator("#end-room")).to_be_focused()
    teacher.click("#end-room")
    teacher.click("#confirm-ok")

    expect(student.locator("#screen-final")).to_be_visible()
    expect(student.locator("#final-message")).to_have_attribute("data-reason", "ended_ended")
    expect(student.locator("#final-message")).to_have_text("The room has ended.")
    student.wait_for_timeout(1500)  # the point: longer than the first reconnection delay (0.75-1.25 s)
    expect(student.locator("#connection-banner")).to_have_attribute("data-state", "ok")
    assert student.evaluate("window.classroomRoom.client.socket") is None


def test_a_media_module_can_plug_into_the_page(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    start_lesson(teacher, "6a")
    you = participant_id(teacher)
    placed = teacher.evaluate(
        """async (you) => {
          const { room } = await import("/static/js/room/main.js");
          const seen = [];
          room.on("media.*", (message) => seen.push(message.type));
          room.client.emit({ type: "media.offer", sdp: "" });
          room.client.emit({ type: "chat.deleted", id: "none" });
          room.registerMedia({ setSource: async (kind, on) => on });
          const canvas = document.createElement("canvas");
          const video = document.createElement("video");
          video.srcObject = canvas.captureStream();
          room.stage.attach(you, "camera", video);
          return { seen, sameRoom: room === window.classroomRoom,
                   inSelfView: Boolean(document.querySelector(`#stage-self video[data-self][data-participant="${you}"][data-source="camera"]`)) };
        }""",
        you,
    )
    assert placed == {"seen": ["media.offer"], "sameRoom": True, "inSelfView": True}
    expect(teacher.locator("#stage-empty")).to_be_hidden()
    teacher.click('[data-action="camera"]')
    expect(teacher.locator('[data-action="camera"]')).to_have_attribute("aria-pressed", "true")


def test_slides_panel_shows_the_page_that_the_server_names(logged_in_page: PageFactory) -> None:
    student = logged_in_page("zoe.bernard", viewport={"width": 360, "height": 640})
    teacher = logged_in_page("marie.curie")
    enter(student, start_lesson(teacher, "6a"))
    expect(student.locator("#slides-panel")).to_be_hidden()
    # The events as the server sends them (SPEC section 4), delivered through the page's own dispatcher.
    student.evaluate(
        """() => {
          const client = window.classroomRoom.client;
          client.emit({ type: "decks", decks: [{ id: "7", title: "Optique", pages: 12, status: "ready", progress: 12, error: null }] });
          client.emit({ type: "slides.page", deck: "7", page: 2, pages: 12 });
        }"""
    )
    image = student.locator("img[data-slide-page]")
    expect(student.locator("#slides-panel")).to_be_visible()
    expect(image).to_have_attribute("data-slide-page", "2")
    expect(image).to_have_attribute("data-deck", "7")
    expect(image).to_have_attribute("src", "/slides/7/pages/2.webp?size=small")
    expect(student.locator("#slide-nav")).to_be_hidden()
