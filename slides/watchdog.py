"""Run the page renderer in a child process under limits, and at most N of them at once.

The child (python -m slides.render) caps its own address space and each page's processor
time; this side kills it when a page goes too long without a report, reads how it ended
(os.wait4 gives its peak memory and processor time) and turns every death into a reason.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .render import PdfProblem

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A pathological page may try to allocate without bound (a 36,000 px soft mask is 1.2 GB):
# past this PDFium leaves out what it cannot allocate, or the child dies for it.
CHILD_MEMORY_BYTES = 1024**3
# Processor seconds each page may use (slides.actions passes SLIDES_PAGE_CPU_SECONDS, by default
# SLIDES_PAGE_TIMEOUT_SECONDS); the wall-clock page timeout usually ends a page first.
PAGE_CPU_SECONDS = 20
# What a child that ran out of address space leaves on stderr: Python's MemoryError, C++'s
# bad_alloc, a library that could not be mapped, libwebp's VP8_ENC_ERROR_OUT_OF_MEMORY.
MEMORY_SIGNS = (b"MemoryError", b"bad_alloc", b"Cannot allocate memory", b"failed to map segment", b"encoding error 1")
# How often a render waiting for a free slot tries again.
SLOT_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ChildUsage:
    """How the render child ended: its peak resident memory, processor time and status."""

    peak_rss_bytes: int
    cpu_seconds: float
    returncode: int


def render_pdf(
    pdf: Path,
    outdir: Path,
    *,
    max_pages: int,
    page_timeout: float,
    on_pages: Callable[[int], None],
    on_page: Callable[[int], None],
    memory_bytes: int = CHILD_MEMORY_BYTES,
    page_cpu_seconds: int = PAGE_CPU_SECONDS,
    on_exit: Callable[[ChildUsage], None] | None = None,
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
                f"--memory-limit={memory_bytes}",
                f"--page-cpu-limit={page_cpu_seconds}",
            ],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        progress = _Progress()
        try:
            pages = _follow(process, page_timeout, on_pages, on_page, progress)
        except BaseException:
            _reap(process, on_exit, grace=0)
            raise
        usage = _reap(process, on_exit, grace=page_timeout)
        if usage.returncode == 0 and pages and progress.done == pages:
            return pages
        # The child died without a verdict: say what killed it.
        stderr.seek(0)
        raise _death_reason(usage.returncode, stderr.read()[-4096:], progress.done + 1)


@dataclass
class _Progress:
    done: int = 0


def _reap(process: subprocess.Popen[bytes], on_exit: Callable[[ChildUsage], None] | None, grace: float) -> ChildUsage:
    """Give the child `grace` seconds to exit, kill it past that, and return its usage."""
    deadline = time.monotonic() + grace
    pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
    while pid == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
    if pid == 0:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        pid, status, rusage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    usage = ChildUsage(rusage.ru_maxrss * 1024, rusage.ru_utime + rusage.ru_stime, process.returncode)
    assert process.stdout is not None
    process.stdout.close()
    logger.info(
        "render child %s: exit %s, peak RSS %.0f MiB, %.1f s of CPU",
        process.pid,
        usage.returncode,
        usage.peak_rss_bytes / 1024**2,
        usage.cpu_seconds,
    )
    if on_exit is not None:
        on_exit(usage)
    return usage


def _death_reason(returncode: int, stderr: bytes, page: int) -> PdfProblem:
    """Name why a child ended without reporting every page."""
    if returncode == -signal.SIGXCPU:
        return PdfProblem("page_cpu", page=page)
    if any(sign in stderr for sign in MEMORY_SIGNS):
        return PdfProblem("page_memory", page=page)
    # A crash in PDFium: under the address-space cap most are failed allocations.
    if returncode in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGTRAP, -signal.SIGKILL):
        return PdfProblem("page_memory", page=page)
    return PdfProblem("corrupt", page=page)


def _follow(
    process: subprocess.Popen[bytes],
    page_timeout: float,
    on_pages: Callable[[int], None],
    on_page: Callable[[int], None],
    progress: _Progress,
) -> int:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    buffer = b""
    pages = 0
    deadline = time.monotonic() + page_timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PdfProblem("page_timeout", page=progress.done + 1)
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
                    progress.done = int(message["page"])
                    on_page(progress.done)
                deadline = time.monotonic() + page_timeout
    finally:
        selector.close()
    return pages


# --- At most N renders at once on a machine ------------------------------------------


@contextlib.contextmanager
def render_slot(directory: Path, slots: int, on_wait: Callable[[], None] | None = None) -> Iterator[int]:
    """Hold one of `slots` render slots of this machine while the block runs; wait for one.

    Each slot is a file in `directory` held with flock: Celery's prefork processes share no
    memory, but the kernel sees their locks, and releases a slot when its holder dies, even
    by SIGKILL. Yields the slot's number.
    """
    directory.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for number in range(max(1, slots)):
            fd = os.open(directory / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                continue
            try:
                yield number
            finally:
                os.close(fd)  # releases the lock
            return
        if not waited:
            waited = True
            logger.info("all %d render slots are busy: waiting for one", slots)
            if on_wait is not None:
                on_wait()
        time.sleep(SLOT_POLL_SECONDS)
