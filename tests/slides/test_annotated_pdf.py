"""The annotated PDF holds the room's strokes as vector paths, read back with PDFium."""

from __future__ import annotations

import ctypes
import io

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from classroom.models import Participant
from slides.models import RoomSlides, Stroke
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _stroke(room, deck, author, page, tool="pen", color="#d62728", points=((0.1, 0.2), (0.5, 0.6)), **fields):  # type: ignore[no-untyped-def]
    return Stroke.objects.create(
        room=room, deck=deck, page=page, author=author, key=f"k{Stroke.objects.count()}", tool=tool, color=color,
        width=0.005, points=[list(point) for point in points], **fields,
    )  # fmt: skip


def _paths(page: pdfium.PdfPage) -> list[tuple[tuple[int, int, int], tuple[float, float, float, float]]]:
    """(stroke colour, bounds) of every path object on the page."""
    found = []
    for index in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, index)
        if pdfium_c.FPDFPageObj_GetType(obj) != pdfium_c.FPDF_PAGEOBJ_PATH:
            continue
        r, g, b, a = (ctypes.c_uint() for _ in range(4))
        pdfium_c.FPDFPageObj_GetStrokeColor(obj, r, g, b, a)
        box = [ctypes.c_float() for _ in range(4)]
        pdfium_c.FPDFPageObj_GetBounds(obj, *box)
        found.append(((r.value, g.value, b.value), tuple(value.value for value in box)))
    return found


def _pdf(response) -> pdfium.PdfDocument:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    return pdfium.PdfDocument(
        io.BytesIO(b"".join(response.streaming_content if response.streaming else [response.content]))
    )


def test_the_annotated_pdf_draws_each_pages_strokes_where_they_were_drawn(lesson, ready_deck, teacher):
    _stroke(lesson, ready_deck, teacher, 2)
    _stroke(lesson, ready_deck, teacher, 3, tool="rect", color="#1f77b4")
    _stroke(lesson, ready_deck, teacher, 3, tool="text", color="#2ca02c", points=((0.3, 0.3),), text="Théorème")
    document = _pdf(login(teacher).get(f"/rooms/{lesson.pk}/decks/{ready_deck.pk}/annotated.pdf"))
    assert len(document) == 3
    assert [paths for paths in _paths(document[0]) if paths[0] == (214, 39, 40)] == []
    [(color, (left, bottom, right, top))] = [item for item in _paths(document[1]) if item[0] == (214, 39, 40)]
    width, height = document[1].get_size()
    # from (0.1, 0.2) to (0.5, 0.6) of the page, y measured down from the top, give or take the pen's round ends
    assert left == pytest.approx(0.1 * width, abs=5) and right == pytest.approx(0.5 * width, abs=5)
    assert top == pytest.approx(0.8 * height, abs=5) and bottom == pytest.approx(0.4 * height, abs=5)
    assert any(color == (31, 119, 180) for color, _ in _paths(document[2]))
    assert "Théorème" in document[2].get_textpage().get_text_range()


def test_erased_strokes_and_erasers_are_left_out(lesson, ready_deck, teacher):
    eraser = _stroke(lesson, ready_deck, teacher, 1, tool="eraser", color="#000000")
    _stroke(lesson, ready_deck, teacher, 1, erased_by=eraser)
    document = _pdf(login(teacher).get(f"/rooms/{lesson.pk}/decks/{ready_deck.pk}/annotated.pdf"))
    assert _paths(document[0]) == []


def test_a_student_of_the_lesson_takes_it_home_and_an_outsider_may_not(
    lesson, ready_deck, teacher, student, other_class_student
):
    _stroke(lesson, ready_deck, teacher, 1)
    Participant.objects.create(room=lesson, user=student, status=Participant.Status.ADMITTED)
    assert len(_pdf(login(student).get(f"/rooms/{lesson.pk}/decks/{ready_deck.pk}/annotated.pdf"))) == 3
    refused = login(other_class_student).get(f"/rooms/{lesson.pk}/decks/{ready_deck.pk}/annotated.pdf")
    assert refused.status_code == 403


def test_the_whiteboard_pdf_has_its_pages_and_strokes(lesson, teacher):
    RoomSlides.objects.create(room=lesson, deck=None, board=True, page=1, board_pages=2)
    _stroke(lesson, None, teacher, 2, tool="arrow", color="#9467bd")
    document = _pdf(login(teacher).get(f"/rooms/{lesson.pk}/board.pdf"))
    assert len(document) == 2
    assert not any(color == (148, 103, 189) for color, _ in _paths(document[0]))
    assert any(color == (148, 103, 189) for color, _ in _paths(document[1]))


def test_a_room_without_a_whiteboard_has_no_whiteboard_pdf(lesson, teacher):
    assert login(teacher).get(f"/rooms/{lesson.pk}/board.pdf").status_code == 404
