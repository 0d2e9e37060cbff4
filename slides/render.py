"""Open and render PDFs with PDFium; runnable as a child process that the worker watches.

This module imports no Django, so that `python -m slides.render` starts fast and a
pathological page only ever hangs or crashes that child, never the Celery worker.

Child protocol: one JSON object per line on stdout, `{"pages": n}` first, then
`{"page": i}` after each page is written, or `{"error": code, ...}` and exit status 2.
The child caps its own address space and each page's processor time (the kernel kills it with
SIGXCPU past that); slides.watchdog turns such deaths into a reason.
"""

from __future__ import annotations

import argparse
import json
import math
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
# The largest bitmap a page is rendered to, whatever its declared size (a 200-inch page is
# scaled down like any other): 1600 x 3200 px, 20 MiB in RGBA.
MAX_PAGE_PIXELS = SIZES[0][1] * int(SIZES[0][1] * MAX_ASPECT)
# Past this aspect ratio a page would be less than a pixel wide or tall: not a slide.
MIN_SIDE_PX = 1


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


def page_scale(width: float, height: float, page: int) -> float:
    """Return the scale that fits a page of this size (in points) into the large size.

    Computed from the page's declared size before anything is drawn, so that no page gets a
    bitmap over MAX_PAGE_PIXELS; a page too thin to show at that scale is refused.
    """
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise PdfProblem("corrupt", page=page)
    large = SIZES[0][1]
    scale = min(large / width, large * MAX_ASPECT / height)
    columns, rows = round(width * scale), round(height * scale)
    if min(columns, rows) < MIN_SIDE_PX or columns * rows > MAX_PAGE_PIXELS:
        raise PdfProblem("page_size", page=page)
    return scale


def render_page(pdf: pdfium.PdfDocument, index: int, outdir: Path) -> None:
    """Render page `index` (from 0) in every size into outdir."""
    page = pdf[index]
    try:
        width, height = page.get_size()
        scale = page_scale(width, height, index + 1)
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
    parser.add_argument("--page-cpu-limit", type=int, default=0, help="processor seconds for each page")
    args = parser.parse_args(argv)
    if args.memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory_limit, args.memory_limit))
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    index = 0
    try:
        pdf = open_pdf(args.pdf)
        pages = check_page_count(len(pdf), args.max_pages)
        _emit({"pages": pages})
        if args.page_cpu_limit:
            # a hard limit for the whole deck, which the process cannot raise again
            hard = _cpu_used() + (pages + 1) * args.page_cpu_limit
            resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
        for index in range(pages):
            if args.page_cpu_limit:
                _limit_cpu(args.page_cpu_limit)
            render_page(pdf, index, outdir)
            _emit({"page": index + 1})
    except PdfProblem as problem:
        _emit({"error": problem.code, **problem.detail})
        return 2
    except pdfium.PdfiumError:
        _emit({"error": "corrupt"})
        return 2
    except MemoryError:
        _emit({"error": "page_memory", "page": index + 1})
        return 2
    return 0


def _cpu_used() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return int(usage.ru_utime + usage.ru_stime) + 1


def _limit_cpu(seconds: int) -> None:
    """Let the next page use `seconds` more of processor time: SIGXCPU (death) past that."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (min(_cpu_used() + seconds, hard), hard))


if __name__ == "__main__":
    raise SystemExit(main())
