"""Open and render PDFs with PDFium; runnable as a child process that the worker watches.

This module imports no Django, so that `python -m slides.render` starts fast and a
pathological page only ever hangs or crashes that child, never the Celery worker.

Child protocol: one JSON object per line on stdout, `{"pages": n}` first, then
`{"page": i}` after each page is written, or `{"error": code, ...}` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

# (name, width in px). The phone size is made by downscaling the large render.
SIZES: tuple[tuple[str, int], ...] = (("large", 1600), ("small", 800))
IMAGE_FORMAT = "webp"
# A page taller than this many widths is shrunk to fit: no bitmap of unbounded height.
MAX_ASPECT = 2.0


class PdfProblem(Exception):
    """A PDF that cannot be shown; `code` names why (encrypted, corrupt, too_many_pages, empty)."""

    def __init__(self, code: str, **detail: int) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def open_pdf(path: str | Path) -> pdfium.PdfDocument:
    """Open a PDF, turning PDFium's load errors into a PdfProblem."""
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        if error.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise PdfProblem("encrypted") from error
        raise PdfProblem("corrupt") from error


def count_pages(path: str | Path, max_pages: int) -> int:
    """Return the page count of a PDF that may be shown, or raise PdfProblem."""
    pdf = open_pdf(path)
    try:
        return check_page_count(len(pdf), max_pages)
    finally:
        pdf.close()


def check_page_count(pages: int, max_pages: int) -> int:
    if pages < 1:
        raise PdfProblem("empty")
    if pages > max_pages:
        raise PdfProblem("too_many_pages", pages=pages, max_pages=max_pages)
    return pages


def page_filename(page: int, size: str, image_format: str = IMAGE_FORMAT) -> str:
    return f"{page}-{size}.{image_format}"


def render_page(pdf: pdfium.PdfDocument, index: int, outdir: Path) -> None:
    """Render page `index` (from 0) in every size into outdir."""
    page = pdf[index]
    try:
        width, height = page.get_size()
        if width <= 0 or height <= 0:
            raise PdfProblem("corrupt", page=index + 1)
        large = SIZES[0][1]
        scale = min(large / width, large * MAX_ASPECT / height)
        image = page.render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
    finally:
        page.close()
    for name, target in SIZES:
        sized = image
        if image.width > target:
            sized = image.resize((target, max(1, round(image.height * target / image.width))), resample=3)
        tmp = outdir / (page_filename(index + 1, name) + ".part")
        sized.save(tmp, format=IMAGE_FORMAT.upper(), quality=85, method=4)
        tmp.replace(outdir / page_filename(index + 1, name))


def _emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render every page of a PDF to images.")
    parser.add_argument("pdf")
    parser.add_argument("outdir")
    parser.add_argument("--max-pages", type=int, required=True)
    parser.add_argument("--memory-limit", type=int, default=0, help="address space cap in bytes")
    args = parser.parse_args(argv)
    if args.memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_limit, args.memory_limit))
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        pdf = open_pdf(args.pdf)
        pages = check_page_count(len(pdf), args.max_pages)
        _emit({"pages": pages})
        for index in range(pages):
            render_page(pdf, index, outdir)
            _emit({"page": index + 1})
    except PdfProblem as problem:
        _emit({"error": problem.code, **problem.detail})
        return 2
    except pdfium.PdfiumError:
        _emit({"error": "corrupt"})
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
