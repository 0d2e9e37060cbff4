"""Drawing in real browsers: the teacher draws on page 2, a student sees it, the student given the pen
draws back, a late joiner sees both, and on a 360 px phone the overlay lies exactly over the page."""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from playwright.sync_api import Page, expect

from .conftest import PageFactory, show_tab, upload_deck

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/rooms/[0-9a-f-]{36}/$")
SERVER_STROKES = "[data-annotations] [data-stroke]:not([data-stroke^='local-'])"


def _draw(page: Page, path: list[tuple[float, float]]) -> None:
    """Drag the mouse over the overlay through these page fractions."""
    box = page.locator("[data-annotations]").bounding_box()
    assert box and box["width"] > 0
    points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in path]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=5)
    page.mouse.up()


def _overlay_matches_image(page: Page) -> None:
    boxes = page.evaluate(
        """() => [document.querySelector('[data-annotations]'), document.querySelector('img[data-slide-page]')]
             .map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })"""
    )
    overlay, image = boxes
    assert image[2] > 0 and overlay == pytest.approx(image, abs=1.5), boxes


def test_teacher_and_student_draw_and_a_late_joiner_sees_both(logged_in_page: PageFactory, tmp_path: Path) -> None:
    teacher = logged_in_page("marie.curie")
    teacher.goto("/classes/6a/")
    upload_deck(teacher, tmp_path, "Fractions", 3)
    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)

    student = logged_in_page("lea.martin", viewport={"width": 360, "height": 740})
    student.goto(teacher.url)
    expect(student.locator("#screen-room")).to_be_visible()
    show_tab(teacher, "more")
    teacher.select_option("#deck-select", label="Fractions")
    teacher.click("#deck-picker button[type=submit]")
    teacher.click("#slide-next")
    expect(student.locator("img[data-slide-page]")).to_have_attribute("data-slide-page", "2")

    # the teacher draws on page 2 with the mouse
    teacher.click('[data-action="draw"]')
    _draw(teacher, [(0.2, 0.3), (0.4, 0.35), (0.6, 0.5)])
    expect(student.locator(SERVER_STROKES)).to_have_count(1)
    expect(teacher.locator(SERVER_STROKES)).to_have_count(1)
    # a student without the pen has nothing to draw with
    expect(student.locator('[data-action="draw"]')).to_be_hidden()

    # the teacher gives the student the pen from the participants list
    show_tab(teacher, "people")
    row = teacher.locator("li.participant", has_text="Léa")
    row.locator("summary").click()
    row.locator('[data-act="pen"]').click()
    expect(student.locator('[data-action="draw"]')).to_be_visible()
    student.click('[data-action="draw"]')
    _draw(student, [(0.7, 0.7), (0.8, 0.75), (0.9, 0.9)])
    expect(teacher.locator(SERVER_STROKES)).to_have_count(2)
    expect(student.locator(SERVER_STROKES)).to_have_count(2)

    # taking the pen back mid-stroke ends the student's stroke on their page too
    box = student.locator("[data-annotations]").bounding_box()
    assert box
    student.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + 0.8 * box["height"])
    student.mouse.down()
    student.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.85 * box["height"], steps=5)
    expect(teacher.locator(SERVER_STROKES)).to_have_count(3)
    row.locator('[data-act="pen"]').click()
    expect(student.locator('[data-action="draw"]')).to_be_hidden()
    ended = student.locator(SERVER_STROKES).last
    drawn = ended.get_attribute("d")
    student.mouse.move(box["x"] + 0.4 * box["width"], box["y"] + 0.95 * box["height"], steps=5)
    student.mouse.up()
    assert ended.get_attribute("d") == drawn
    expect(teacher.locator(SERVER_STROKES)).to_have_count(3)

    # at 360 px the overlay lies over the page image, and the strokes scale with it
    student.wait_for_function("() => document.querySelector('img[data-slide-page]').naturalWidth > 0")
    _overlay_matches_image(student)

    late = logged_in_page("zoe.bernard")
    late.goto(teacher.url)
    expect(late.locator("img[data-slide-page]")).to_have_attribute("data-slide-page", "2")
    expect(late.locator(SERVER_STROKES)).to_have_count(3)
    late.wait_for_function("() => document.querySelector('img[data-slide-page]').naturalWidth > 0")
    _overlay_matches_image(late)

    # a student takes the deck home with both strokes drawn on page 2
    link = student.locator('[data-link="annotated-pdf"]')
    expect(link).to_be_visible()
    expect(link).to_have_text("Télécharger avec les dessins (PDF)")
    expect(link).to_have_attribute("href", re.compile(r"/decks/\d+/annotated\.pdf$"))
    _serves_a_pdf(student, link.get_attribute("href") or "", pages=3, drawn_on=2)


def _serves_a_pdf(page: Page, href: str, *, pages: int, drawn_on: int) -> None:
    """The link's file, fetched with the page's own session, is a PDF of these pages with paths on one."""
    response = page.request.get(href)
    assert response.ok and response.headers["content-type"] == "application/pdf", (href, response.status)
    pdf = pdfium.PdfDocument(response.body())
    assert len(pdf) == pages
    paths = []
    for n in range(pages):
        page_n = pdf[n]  # held while its raw handle is read
        raw = page_n.raw
        objects = [pdfium_c.FPDFPage_GetObject(raw, i) for i in range(pdfium_c.FPDFPage_CountObjects(raw))]
        paths.append(sum(1 for obj in objects if pdfium_c.FPDFPageObj_GetType(obj) == pdfium_c.FPDF_PAGEOBJ_PATH))
    # the drawn page has more paths than every other page of the same deck
    assert all(paths[drawn_on - 1] > count for n, count in enumerate(paths) if n != drawn_on - 1), paths


def test_text_is_placed_by_keyboard_and_stays_text(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    teacher.goto("/classes/6a/")
    teacher.click('form[data-action="start-lesson"] button[type=submit]')
    teacher.wait_for_url(ROOM_URL)
    expect(teacher.locator("#screen-room")).to_be_visible()
    show_tab(teacher, "more")
    teacher.click('[data-action="board-open"]')
    expect(teacher.locator("img[data-slide-page]")).to_have_attribute("data-slide-page", "1")
    teacher.click('[data-action="draw"]')
    teacher.fill("#draw-text", "<b>x = 2</b>")
    teacher.press("#draw-text", "Enter")
    text = teacher.locator(f"{SERVER_STROKES}[data-tool='text']")
    expect(text).to_have_text("<b>x = 2</b>")
    expect(teacher.locator("[data-annotations] b")).to_have_count(0)
    # the whiteboard goes home too, in English as well
    english = logged_in_page("lea.martin", locale="en-GB")
    english.goto(teacher.url)
    link = english.locator('[data-link="annotated-pdf"]')
    expect(link).to_be_visible()
    expect(link).to_have_text("Download with the drawings (PDF)")
    expect(link).to_have_attribute("href", re.compile(r"/rooms/[0-9a-f-]{36}/board\.pdf$"))
