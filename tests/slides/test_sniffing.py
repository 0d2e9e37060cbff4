"""What kind of presentation a file is comes from its bytes, never its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from slides import render
from slides.files import sniff_kind

from .pdfs import deck_odp, deck_pdf, office_zip


def _write(tmp_path: Path, content: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_a_pdf_is_a_pdf(tmp_path: Path) -> None:
    assert sniff_kind(_write(tmp_path, deck_pdf(1))) == "pdf"


def test_an_odp_is_an_odp(tmp_path: Path) -> None:
    assert sniff_kind(_write(tmp_path, deck_odp(1))) == "odp"


def test_a_pptx_is_a_pptx(tmp_path: Path) -> None:
    pptx = office_zip({"[Content_Types].xml": "<Types/>", "ppt/presentation.xml": "<p:presentation/>"})
    assert sniff_kind(_write(tmp_path, pptx)) == "pptx"


@pytest.mark.parametrize(
    "content",
    [
        b"Bonjour, ceci est un texte.",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
        b"",
        b"PK\x03\x04 not really a zip",
    ],
    ids=["text", "png", "empty", "broken-zip"],
)
def test_a_file_named_pdf_that_is_not_one_is_refused(tmp_path: Path, content: bytes) -> None:
    assert sniff_kind(_write(tmp_path, content, "cours.pdf")) is None


def test_an_odt_text_document_is_not_a_presentation(tmp_path: Path) -> None:
    odt = office_zip({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<x/>"})
    assert sniff_kind(_write(tmp_path, odt, "cours.odp")) is None


def test_a_docx_is_not_a_presentation(tmp_path: Path) -> None:
    docx = office_zip({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"})
    assert sniff_kind(_write(tmp_path, docx, "cours.pptx")) is None


def test_page_count_within_the_limit_passes() -> None:
    assert render.check_page_count(300, 300) == 300


def test_page_count_over_the_limit_is_refused_with_the_numbers() -> None:
    with pytest.raises(render.PdfProblem) as problem:
        render.check_page_count(301, 300)
    assert problem.value.code == "too_many_pages"
    assert problem.value.detail == {"pages": 301, "max_pages": 300}


def test_a_pdf_without_pages_is_refused() -> None:
    with pytest.raises(render.PdfProblem) as problem:
        render.check_page_count(0, 300)
    assert problem.value.code == "empty"
