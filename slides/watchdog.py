"""Run the page renderer in a child process and kill it when a page takes too long."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .render import PdfProblem

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A pathological page may also try to allocate without bound: cap the child's address space.
CHILD_MEMORY_BYTES = 4 * 1024**3


def render_pdf(
    pdf: Path,
    outdir: Path,
    *,
    max_pages: int,
    page_timeout: float,
    on_pages: Callable[[int], None],
    on_page: Callable[[int], None],
) -> int:
    """Render every page into outdir; return the page count or raise PdfProblem.

    The child reports each finished page; going `page_timeout` seconds without a report
    (opening the file counts as one page) kills it with the page it was on.
    """
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "slides.render",
                str(pdf),
                str(outdir),
                f"--max-pages={max_pages}",
                f"--memory-limit={CHILD_MEMORY_BYTES}",
            ],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            return _follow(process, page_timeout, on_pages, on_page)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            assert process.stdout is not None
            process.stdout.close()


def _follow(
    process: subprocess.Popen[bytes],
    page_timeout: float,
    on_pages: Callable[[int], None],
    on_page: Callable[[int], None],
) -> int:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    buffer = b""
    pages = 0
    done = 0
    deadline = time.monotonic() + page_timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PdfProblem("page_timeout", page=done + 1)
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if "error" in message:
                    detail = {k: int(v) for k, v in message.items() if k != "error"}
                    raise PdfProblem(str(message["error"]), **detail)
                if "pages" in message:
                    pages = int(message["pages"])
                    on_pages(pages)
                elif "page" in message:
                    done = int(message["page"])
                    on_page(done)
                deadline = time.monotonic() + page_timeout
    finally:
        selector.close()
    process.wait()
    if process.returncode != 0 or pages == 0 or done != pages:
        # The child died without a verdict (a crash in PDFium, or killed for memory).
        raise PdfProblem("corrupt", page=done + 1)
    return pages
