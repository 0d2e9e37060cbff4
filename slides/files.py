"""Uploaded files: what kind of presentation a file really is, and LibreOffice conversion to PDF."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

ODP_MIMETYPE = b"application/vnd.oasis.opendocument.presentation"
KINDS = ("pdf", "odp", "pptx")
OFFICE_KINDS = ("odp", "pptx")
CONVERT_TIMEOUT_SECONDS = 180


class ConversionError(Exception):
    """LibreOffice is missing, or failed to produce a PDF."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def sniff_kind(path: Path) -> str | None:
    """Return pdf, odp or pptx from the file's content (never its name), or None."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    # The PDF header may follow a little junk; readers accept it within the first 1024 bytes.
    if b"%PDF-" in head:
        return "pdf"
    if not head.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                if info.file_size <= 100 and archive.read("mimetype").strip() == ODP_MIMETYPE:
                    return "odp"
                return None
            if "[Content_Types].xml" in names and "ppt/presentation.xml" in names:
                return "pptx"
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError):
        return None
    return None


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_pdf(source: Path, outdir: Path, timeout: float = CONVERT_TIMEOUT_SECONDS) -> Path:
    """Convert an ODP or PPTX to `<outdir>/<source stem>.pdf` with a headless LibreOffice."""
    soffice = soffice_path()
    if soffice is None:
        raise ConversionError("no_converter")
    target = outdir / f"{source.stem}.pdf"
    # A profile of its own lets conversions run side by side without LibreOffice's profile lock.
    with tempfile.TemporaryDirectory(prefix="cv-soffice-") as profile:
        try:
            subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation={Path(profile).as_uri()}",
                    "--headless",
                    "--norestore",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(outdir),
                    str(source),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as error:
            raise ConversionError("conversion_failed") from error
    # soffice exits 0 even when it could not load the file; only the output tells.
    if not target.exists() or sniff_kind(target) != "pdf":
        target.unlink(missing_ok=True)
        raise ConversionError("conversion_failed")
    return target
