"""Rendering limits: page pixels, the render child's memory and processor time, LibreOffice
capped and killed whole, zip bombs refused before conversion, N renders at once, every refusal a reason.

docs/reliability.md has the numbers these cases were measured at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from slides import files, watchdog
from slides.actions import do_render
from slides.models import Deck
from tests.conftest import login

from .conftest import EN, JSON, upload
from .pdfs import (
    deck_odp,
    deck_pdf,
    page_of_size_pdf,
    pptx_bomb,
    raw_zip,
    slow_page_pdf,
    soft_mask_bomb_pdf,
)

pytestmark = pytest.mark.django_db


def _deck(class_6a, teacher, content: bytes, kind: str = "pdf") -> Deck:  # type: ignore[no-untyped-def]
    deck = Deck.objects.create(
        school_class=class_6a, title="Piège", original_name=f"piege.{kind}", source_kind=kind, uploaded_by=teacher
    )
    deck.directory.mkdir(parents=True)
    deck.source_path.write_bytes(content)
    return deck


def _rendered(deck: Deck) -> Deck:
    do_render(deck.pk)
    deck.refresh_from_db()
    return deck


# --- Pixels per page ------------------------------------------------------------------


def test_a_200_inch_page_is_rendered_at_the_usual_size(class_6a, teacher):
    deck = _rendered(_deck(class_6a, teacher, page_of_size_pdf(200 * 72, 200 * 72)))
    assert deck.status == "ready"
    with Image.open(deck.pages_directory / "1-large.webp") as image:
        assert image.size == (1600, 1600)


def test_a_page_too_thin_to_show_fails_the_deck_with_its_page(class_6a, teacher):
    deck = _rendered(_deck(class_6a, teacher, page_of_size_pdf(200 * 72, 1)))
    assert (deck.status, deck.error, deck.error_page) == ("failed", "page_size", 1)
    assert deck.error_message == "Une page est trop longue ou trop fine pour être affichée. (page 1)"


# --- The render child's memory and processor time -------------------------------------


def test_the_render_child_stays_under_its_memory_cap_on_a_soft_mask_bomb(tmp_path: Path):
    pdf = tmp_path / "bomb.pdf"
    pdf.write_bytes(soft_mask_bomb_pdf(36_000))  # 80 KB; its mask alone is 1.2 GB decoded
    usages: list[watchdog.ChildUsage] = []
    pages = watchdog.render_pdf(
        pdf,
        tmp_path / "pages",
        max_pages=10,
        page_timeout=120,
        on_pages=lambda pages: None,
        on_page=lambda page: None,
        on_exit=usages.append,
    )
    # PDFium leaves out the image it cannot allocate: the page renders, without it
    assert pages == 1
    assert (tmp_path / "pages" / "1-large.webp").exists()
    assert usages[0].peak_rss_bytes < watchdog.CHILD_MEMORY_BYTES


def test_a_render_child_out_of_memory_fails_the_deck_with_a_reason(class_6a, teacher, settings):
    settings.SLIDES_RENDER_MEMORY_BYTES = 16 * 1024**2
    deck = _rendered(_deck(class_6a, teacher, deck_pdf(2)))
    assert (deck.status, deck.error, deck.error_page) == ("failed", "page_memory", 1)
    assert deck.error_message.startswith("Une page demande plus de mémoire")
    assert not deck.pages_directory.exists()


def test_a_page_over_its_processor_time_fails_the_deck(class_6a, teacher, settings):
    # the wall-clock limit is far: the kernel's SIGXCPU ends the page first
    settings.SLIDES_PAGE_TIMEOUT_SECONDS = 600
    settings.SLIDES_PAGE_CPU_SECONDS = 1
    deck = _rendered(_deck(class_6a, teacher, slow_page_pdf()))
    assert (deck.status, deck.error, deck.error_page) == ("failed", "page_cpu", 1)


def test_a_child_killed_for_memory_is_named_so():
    # pure unit: how the watchdog reads a death without a verdict
    assert watchdog._death_reason(1, b"Traceback...\nMemoryError\n", 3).code == "page_memory"
    assert watchdog._death_reason(-9, b"", 2).code == "page_memory"
    assert watchdog._death_reason(-24, b"", 2).code == "page_cpu"
    assert watchdog._death_reason(1, b"Traceback...\nKeyError\n", 2).code == "corrupt"


# --- Zip bombs and broken zips ----------------------------------------------------------


def test_a_pptx_zip_bomb_is_refused_at_upload_with_its_reason(class_6a, teacher):
    bomb = pptx_bomb()  # about 400 KB, 384 MiB unpacked
    assert len(bomb) < 500_000
    response = upload(login(teacher), "6a", bomb, "bombe.pptx", **JSON, **EN)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unpacked_too_large",
        "message": "This presentation is too large once unpacked: the limit is 256 MB.",
    }
    assert not Deck.objects.exists()


def test_a_member_holding_more_than_it_declares_fails_the_deck_before_libreoffice(class_6a, teacher, requires_soffice):
    liar = pptx_bomb(slides=1, declared=1000)
    files.check_archive(_write(class_6a, liar))  # its directory looks harmless
    deck = _rendered(_deck(class_6a, teacher, liar, "pptx"))
    assert (deck.status, deck.error) == ("failed", "corrupt")
    assert not deck.pdf_path.exists()


def _write(class_6a, content: bytes) -> Path:  # type: ignore[no-untyped-def]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"cv-archive-{os.getpid()}-{class_6a.pk}.zip"
    path.write_bytes(content)
    return path


def test_a_truncated_zip_is_refused_as_damaged(class_6a, teacher):
    response = upload(login(teacher), "6a", deck_odp(1)[:200], "cours.odp", **JSON, **EN)
    assert response.status_code == 400
    assert response.json()["error"] == "corrupt"


def test_a_zip_listing_too_many_files_is_refused(class_6a, teacher):
    many = raw_zip([("mimetype", b"\x03\x00", 0, 0)] + [(f"f{n}", b"\x03\x00", 0, 0) for n in range(10_001)])
    response = upload(login(teacher), "6a", many, "cours.odp", **JSON, **EN)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unpacked_too_large",
        "message": "This presentation holds 10002 files: the limit is 10000.",
    }


# --- LibreOffice under limits -----------------------------------------------------------


def test_libreoffice_runs_under_the_memory_cap(tmp_path: Path, requires_soffice):
    source = tmp_path / "cours.odp"
    source.write_bytes(deck_odp(1))
    with pytest.raises(files.ConversionError) as refused:
        files.convert_to_pdf(source, tmp_path, memory_bytes=64 * 1024**2)
    assert refused.value.code == "conversion_failed"
    assert files.convert_to_pdf(source, tmp_path).exists()  # the default cap is enough


def test_libreoffice_past_its_timeout_is_killed_with_its_children(tmp_path: Path, requires_soffice):
    source = tmp_path / "cours.odp"
    source.write_bytes(deck_odp(300))  # seconds of work, whatever the machine
    with pytest.raises(files.ConversionError) as refused:
        files.convert_to_pdf(source, tmp_path, timeout=1, cpu_seconds=600)
    assert refused.value.code == "conversion_timeout"
    assert _processes_naming(str(tmp_path)) == []


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


# --- N renders at once --------------------------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from slides.watchdog import render_slot
with render_slot(Path(sys.argv[1]), int(sys.argv[2])) as slot:
    print(slot, flush=True)
    sys.stdin.read()
"""


def _hold_slot(directory: Path, slots: int) -> subprocess.Popen[str]:
    """Another worker process holding a render slot until its stdin closes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), str(slots)],
        cwd=watchdog.PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    holder.stdout.readline()
    return holder


def test_a_render_waits_while_other_processes_hold_every_slot(tmp_path: Path):
    holders = [_hold_slot(tmp_path, 2) for _ in range(2)]
    waited, acquired, release = threading.Event(), threading.Event(), threading.Event()

    def render() -> None:
        with watchdog.render_slot(tmp_path, 2, on_wait=waited.set):
            acquired.set()
            release.wait(10)

    thread = threading.Thread(target=render)
    thread.start()
    try:
        assert waited.wait(10)
        assert not acquired.is_set()
        assert holders[0].stdin is not None
        holders[0].stdin.close()  # that worker finishes: its slot is free
        assert acquired.wait(10)
    finally:
        release.set()
        thread.join()
        for holder in holders:
            if holder.stdin and not holder.stdin.closed:
                holder.stdin.close()
            holder.wait()


def test_a_slot_held_by_a_killed_process_is_free_again(tmp_path: Path):
    holder = _hold_slot(tmp_path, 1)
    holder.kill()
    holder.wait()
    with watchdog.render_slot(tmp_path, 1) as slot:
        assert slot == 0


def test_an_odp_still_renders_with_one_slot(class_6a, teacher, settings, requires_soffice):
    settings.SLIDES_MAX_CONCURRENT_RENDERS = 1
    deck = _rendered(_deck(class_6a, teacher, deck_odp(2), "odp"))
    assert (deck.status, deck.pages) == ("ready", 2)
