"""Measure slide rendering: seconds per page and peak memory of the worker and of the renderer child.

Run: .venv/bin/python bench/slides_render.py [--pages 100]
Not a test: it prints numbers for docs/slides.md.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slides import files, watchdog  # noqa: E402
from tests.slides.pdfs import deck_odp, deck_pdf  # noqa: E402


def _own_peak_rss_kib() -> int:
    """VmHWM: this process's own peak (getrusage's ru_maxrss carries the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(label: str, pdf: Path, workdir: Path) -> None:
    """Render in a fresh process, so that its own peak RSS is the worker side's and its children's the renderer's."""
    subprocess.run([sys.executable, __file__, "--one", str(pdf), "--label", label], check=True)


def measure_here(label: str, pdf: Path, workdir: Path) -> None:
    outdir = workdir / "pages"
    stamps: list[float] = []
    started = time.monotonic()
    pages = watchdog.render_pdf(
        pdf,
        outdir,
        max_pages=1000,
        page_timeout=60,
        on_pages=lambda _n: stamps.append(time.monotonic()),
        on_page=lambda _n: stamps.append(time.monotonic()),
    )
    total = time.monotonic() - started
    per_page = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    size = sum(path.stat().st_size for path in outdir.iterdir())
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    worker_kib = _own_peak_rss_kib()
    print(
        f"{label}: {pages} pages in {total:.1f} s; per page median {statistics.median(per_page) * 1000:.0f} ms, "
        f"p95 {sorted(per_page)[int(len(per_page) * 0.95) - 1] * 1000:.0f} ms, max {max(per_page) * 1000:.0f} ms; "
        f"images {size / pages / 1024:.0f} KiB per page (both sizes); "
        f"peak RSS: renderer child {child_kib / 1024:.0f} MiB, worker side {worker_kib / 1024:.0f} MiB"
    )
    shutil.rmtree(outdir)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--label", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory(prefix="cv-bench-one-") as one:
            measure_here(args.label, Path(args.one), Path(one))
        return
    workdir = Path(tempfile.mkdtemp(prefix="cv-bench-slides-"))
    try:
        raster = workdir / "raster.pdf"
        raster.write_bytes(deck_pdf(args.pages))
        print(f"raster deck: {raster.stat().st_size / 1024:.0f} KiB")
        measure("raster (Pillow, one image per page)", raster, workdir)
        if files.soffice_path():
            odp = workdir / "vector.odp"
            odp.write_bytes(deck_odp(args.pages))
            started = time.monotonic()
            vector = files.convert_to_pdf(odp, workdir)
            print(f"LibreOffice ODP -> PDF, {args.pages} pages: {time.monotonic() - started:.1f} s")
            measure("vector (LibreOffice text)", vector, workdir)
        else:
            print("soffice not installed: skipping the ODP deck")
        print(f"python {sys.version.split()[0]}, {subprocess.check_output(['nproc']).decode().strip()} CPUs")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
