"""Slides in real browsers: a teacher uploads a deck on the class page, a student sees the pages turn."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.slides.pdfs import deck_pdf

from .conftest import PageFactory, show_tab, upload_deck

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/rooms/[0-9a-f-]{36}/$")


def _image_loaded(page: Page) -> bool:
    return bool(
        page.evaluate(
            "(() => { const i = document.querySelector('img[data-slide-page]'); "
            "return i.complete && i.naturalWidth > 0; })()"
        )
    )


def test_student_sees_the_page_the_teacher_turned_to(logged_in_page: PageFactory, tmp_path: Path) -> None:
    teacher = logged_in_page("marie.curie")
    teacher.goto("/classes/6a/")
    upload_deck(teacher, tmp_path, "Les volcans", 3)

    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)
    student = logged_in_page("lea.martin", viewport={"width": 390, "height": 844})
    student.goto(teacher.url)
    expect(student.locator("#screen-room")).to_be_visible()

    show_tab(teacher, "more")
    teacher.select_option("#deck-select", label="Les volcans")
    teacher.click("#deck-picker button[type=submit]")
    image = student.locator("img[data-slide-page]")
    expect(image).to_have_attribute("data-slide-page", "1")

    teacher.click("#slide-next")
    expect(image).to_have_attribute("data-slide-page", "2")
    teacher.click("#slide-next")
    expect(image).to_have_attribute("data-slide-page", "3")
    expect(image).to_have_attribute("src", re.compile(r"/pages/3\.webp\?size=small$"))
    student.wait_for_function(
        "() => { const i = document.querySelector('img[data-slide-page]'); "
        "return i.complete && i.naturalWidth === 800; }"
    )
    assert _image_loaded(student)

    late = logged_in_page("zoe.bernard")
    late.goto(teacher.url)
    expect(late.locator("img[data-slide-page]")).to_have_attribute("data-slide-page", "3")


def test_teacher_uploads_a_deck_from_the_room_and_shows_it(logged_in_page: PageFactory, tmp_path: Path) -> None:
    teacher = logged_in_page("marie.curie")
    teacher.goto("/classes/6a/")
    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)
    student = logged_in_page("zoe.bernard")
    student.goto(teacher.url)
    expect(student.locator("#screen-room")).to_be_visible()
    expect(student.locator("#slides-upload")).to_have_count(0)

    deck = tmp_path / "Photosynthese.pdf"
    deck.write_bytes(deck_pdf(2))
    show_tab(teacher, "more")
    teacher.set_input_files("#slides-upload-file", str(deck))
    teacher.click("#slides-upload button[type=submit]")
    expect(teacher.locator("#deck-select option", has_text="Photosynthese")).to_have_count(1)
    assert teacher.url.endswith("/")  # still in the room: nothing reloaded
    teacher.select_option("#deck-select", label="Photosynthese")
    teacher.click("#deck-picker button[type=submit]")
    expect(student.locator("img[data-slide-page]")).to_have_attribute("data-slide-page", "1")


def test_the_class_page_follows_a_deck_being_prepared_without_a_reload(
    logged_in_page: PageFactory, tmp_path: Path
) -> None:
    teacher = logged_in_page("marie.curie")
    teacher.goto("/classes/6a/")
    deck = tmp_path / "Les marées.pdf"
    deck.write_bytes(deck_pdf(2))
    form = teacher.locator('form[data-action="upload-slides"]')
    form.locator("input[type=file]").set_input_files(str(deck))
    form.locator("button[type=submit]").click()
    listed = teacher.locator("[data-deck]", has_text="Les marées")
    expect(listed).to_have_attribute("data-status", "ready")

    # The embedded default renders during the upload; a worker takes seconds. Serve the page as it
    # was while the worker ran (this deck still "rendering"): the page must catch up by itself.
    deck_id = listed.get_attribute("data-deck")

    def as_while_rendering(route) -> None:  # type: ignore[no-untyped-def]
        html = route.fetch().text()
        marker = f'data-deck="{deck_id}" data-status="ready"'
        assert marker in html
        route.fulfill(
            body=html.replace(marker, f'data-deck="{deck_id}" data-status="rendering"', 1),
            content_type="text/html; charset=utf-8",
        )

    teacher.route("**/classes/6a/", as_while_rendering)
    teacher.goto("/classes/6a/")
    expect(listed).to_have_attribute("data-status", "rendering")
    teacher.unroute("**/classes/6a/")
    teacher.evaluate("window.notReloaded = true")
    expect(listed).to_have_attribute("data-status", "ready", timeout=8_000)
    expect(listed.locator("a img")).to_be_visible()
    assert teacher.evaluate("window.notReloaded") is True
