"""The annotated PDF: a deck's pages (or the whiteboard's blank ones) with the room's strokes as vector paths.

PDFium (pypdfium2, already used to render pages) writes the paths and texts into each page's content,
so no other PDF library is needed. PDFium is not thread-safe: one document at a time in this process.
"""

from __future__ import annotations

import ctypes
import io
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .geometry import outline, text_size

_lock = threading.Lock()

# The whiteboard's pages: A4 landscape width at 16:9, the ratio the room's board is drawn at.
BOARD_SIZE = (842.0, 473.625)
GRID_STEP = 0.05  # of the page width
GRID_COLOR = "#d8dee9"
HIGHLIGHTER_ALPHA = 90


@dataclass(frozen=True)
class StrokeData:
    """What the PDF needs of a stroke (slides.models.Stroke, read by the view)."""

    tool: str
    color: str
    width: float
    points: Sequence[Sequence[float]]
    text: str = ""


Mapper = Callable[[float, float], tuple[float, float]]


def _mapper(page: pdfium.PdfPage) -> tuple[Mapper, float, float]:
    """How page fractions (x right, y down, as the page is shown) become PDF user space; the shown size."""
    left, bottom, right, top = page.get_cropbox()
    width, height = right - left, top - bottom
    rotation = page.get_rotation() % 360
    if rotation == 90:
        return (lambda u, v: (left + v * width, bottom + u * height)), height, width
    if rotation == 180:
        return (lambda u, v: (right - u * width, bottom + v * height)), width, height
    if rotation == 270:
        return (lambda u, v: (right - v * width, top - u * height)), height, width
    return (lambda u, v: (left + u * width, top - v * height)), width, height


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _path(
    page: pdfium.PdfPage,
    polylines: Sequence[Sequence[tuple[float, float]]],
    color: str,
    width: float,
    alpha: int = 255,
) -> None:
    first = polylines[0][0]
    path = pdfium_c.FPDFPageObj_CreateNewPath(*first)
    for line in polylines:
        pdfium_c.FPDFPath_MoveTo(path, *line[0])
        for point in line[1:] if len(line) > 1 else line:
            pdfium_c.FPDFPath_LineTo(path, *point)
    pdfium_c.FPDFPageObj_SetStrokeColor(path, *_rgb(color), alpha)
    pdfium_c.FPDFPageObj_SetStrokeWidth(path, ctypes.c_float(width))
    pdfium_c.FPDFPageObj_SetLineCap(path, pdfium_c.FPDF_LINECAP_ROUND)
    pdfium_c.FPDFPageObj_SetLineJoin(path, pdfium_c.FPDF_LINEJOIN_ROUND)
    pdfium_c.FPDFPath_SetDrawMode(path, pdfium_c.FPDF_FILLMODE_NONE, True)
    pdfium_c.FPDFPage_InsertObject(page.raw, path)


def _arrow_head(start: tuple[float, float], end: tuple[float, float], size: float) -> list[tuple[float, float]]:
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    return [
        (end[0] - size * math.cos(angle - 0.45), end[1] - size * math.sin(angle - 0.45)),
        end,
        (end[0] - size * math.cos(angle + 0.45), end[1] - size * math.sin(angle + 0.45)),
    ]


def _text(document: pdfium.PdfDocument, page: pdfium.PdfPage, stroke: StrokeData, at: Mapper, shown_h: float) -> None:
    size = text_size(stroke.width)
    points = size * shown_h
    # the point is the text's top left; PDF places the baseline, about 0.8 of the letters lower
    x, y = at(stroke.points[0][0], stroke.points[0][1] + size * 0.8)
    text = pdfium_c.FPDFPageObj_NewTextObj(document.raw, b"Helvetica", ctypes.c_float(points))
    encoded = (stroke.text + "\0").encode("utf-16-le")
    buffer = ctypes.create_string_buffer(encoded, len(encoded))
    pdfium_c.FPDFText_SetText(text, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
    pdfium_c.FPDFPageObj_SetFillColor(text, *_rgb(stroke.color), 255)
    pdfium_c.FPDFPageObj_Transform(text, 1, 0, 0, 1, x, y)
    pdfium_c.FPDFPage_InsertObject(page.raw, text)


def draw_strokes(document: pdfium.PdfDocument, page: pdfium.PdfPage, strokes: Sequence[StrokeData]) -> None:
    """Draw the strokes onto one page, oldest first, as PDF paths and texts."""
    at, shown_w, shown_h = _mapper(page)
    for stroke in strokes:
        if stroke.tool == "eraser" or not stroke.points:
            continue
        if stroke.tool == "text":
            _text(document, page, stroke, at, shown_h)
            continue
        line = [at(x, y) for x, y in outline(stroke.tool, stroke.points)]
        width = stroke.width * shown_w
        lines = [line]
        if stroke.tool == "arrow":
            lines.append(_arrow_head(line[0], line[-1], max(4 * width, 0.02 * shown_w)))
        alpha = HIGHLIGHTER_ALPHA if stroke.tool == "highlighter" else 255
        _path(page, lines, stroke.color, width * (3 if stroke.tool == "highlighter" else 1), alpha)
    pdfium_c.FPDFPage_GenerateContent(page.raw)


def _grid(page: pdfium.PdfPage) -> None:
    at, _shown_w, _shown_h = _mapper(page)
    ratio = BOARD_SIZE[1] / BOARD_SIZE[0]
    lines = [[at(x * GRID_STEP, 0), at(x * GRID_STEP, 1)] for x in range(1, round(1 / GRID_STEP))]
    rows = math.floor(ratio / GRID_STEP)
    lines += [[at(0, y * GRID_STEP / ratio), at(1, y * GRID_STEP / ratio)] for y in range(1, rows + 1)]
    _path(page, lines, GRID_COLOR, 0.5)


def annotated_deck(pdf_path: Path, strokes: Mapping[int, Sequence[StrokeData]]) -> bytes:
    """The deck's PDF with `strokes` (by page, from 1) drawn on its pages."""
    with _lock:
        document = pdfium.PdfDocument(str(pdf_path))
        try:
            for number, page_strokes in strokes.items():
                if not 1 <= number <= len(document) or not page_strokes:
                    continue
                page = document[number - 1]
                draw_strokes(document, page, page_strokes)
            return _save(document)
        finally:
            document.close()


def annotated_board(pages: int, strokes: Mapping[int, Sequence[StrokeData]]) -> bytes:
    """The whiteboard's pages, blank with a light grid, with `strokes` (by page, from 1) drawn on them."""
    with _lock:
        document = pdfium.PdfDocument.new()
        try:
            for number in range(1, pages + 1):
                page = document.new_page(*BOARD_SIZE)
                _grid(page)
                draw_strokes(document, page, strokes.get(number, ()))
            return _save(document)
        finally:
            document.close()


def _save(document: pdfium.PdfDocument) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
