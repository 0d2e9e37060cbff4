"""Uploaded files: what kind of presentation a file really is, its archive's limits, and LibreOffice conversion."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

ODP_MIMETYPE = b"application/vnd.oasis.opendocument.presentation"
OFFICE_KINDS = ("odp", "pptx")
CONVERT_TIMEOUT_SECONDS = 180
# LibreOffice gets the same address-space cap as the page renderer (slides.watchdog); it
# converts a text deck in about 210 MiB of resident memory.
CONVERT_MEMORY_BYTES = 1024**3
# An ODP or PPTX is a zip: these bound what LibreOffice would have to unpack. Real decks unpack
# to a few times their size (their pictures are already compressed); a zip bomb to thousands.
MAX_UNPACKED_BYTES = 256 * 1024**2
MAX_MEMBERS = 10_000
# A member that unpacks to more than MAX_RATIO times its compressed size, beyond RATIO_FLOOR
# bytes, is made to expand: text compresses 5-20 times, deflate cannot do better than 1032.
MAX_RATIO = 200
RATIO_FLOOR = 1024**2


class ConversionError(Exception):
    """LibreOffice is missing, or failed to produce a PDF."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ArchiveProblem(Exception):
    """An ODP or PPTX whose zip cannot be unpacked safely; `code` is a Deck.Error."""

    def __init__(self, code: str, **detail: int) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


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
        check_member_count(path)
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                if info.file_size <= 100 and archive.read("mimetype").strip() == ODP_MIMETYPE:
                    return "odp"
                return None
            if "[Content_Types].xml" in names and "ppt/presentation.xml" in names:
                return "pptx"
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError, ArchiveProblem):
        return None
    return None


def looks_like_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def check_member_count(path: Path) -> None:
    """Refuse a zip whose directory lists more than MAX_MEMBERS files, before Python parses it.

    zipfile builds an object per listed member: a 50 MB directory of empty names would cost
    the web process hundreds of megabytes. The end record says how many there are.
    """
    with open(path, "rb") as handle:
        # private, but in every Python since 2.x: the end-of-central-directory record
        end = zipfile._EndRecData(handle)  # type: ignore[attr-defined]
    if end is None:
        raise ArchiveProblem("corrupt")
    members = end[zipfile._ECD_ENTRIES_TOTAL]  # type: ignore[attr-defined]
    if members > MAX_MEMBERS:
        raise ArchiveProblem("unpacked_too_large", members=members, max_members=MAX_MEMBERS)


def check_archive(path: Path, max_unpacked: int = MAX_UNPACKED_BYTES) -> int:
    """Return the declared unpacked size of an ODP or PPTX, or raise ArchiveProblem.

    Reads only the zip's directory: milliseconds, whatever the members would unpack to.
    """
    check_member_count(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError):
        raise ArchiveProblem("corrupt") from None
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ArchiveProblem("unpacked_too_large", max_bytes=max_unpacked)
    if total > max_unpacked:
        raise ArchiveProblem("unpacked_too_large", max_bytes=max_unpacked)
    return total


def verify_archive(path: Path, max_unpacked: int = MAX_UNPACKED_BYTES) -> int:
    """Unpack every member once, counting bytes: refuse at the first past the limit.

    The directory's sizes are the sender's word; a member may hold more than it declares.
    zipfile stops a member at its declared size and checks its CRC, so reading them all
    costs at most max_unpacked bytes of inflation, and LibreOffice gets a file that says
    the truth about itself.
    """
    declared = check_archive(path, max_unpacked)
    read = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    while chunk := member.read(1024 * 1024):
                        read += len(chunk)
                        if read > max_unpacked:
                            raise ArchiveProblem("unpacked_too_large", max_bytes=max_unpacked)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError, EOFError):
        raise ArchiveProblem("corrupt") from None
    if read != declared:
        raise ArchiveProblem("corrupt")
    return read


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def limit_child(memory_bytes: int, cpu_seconds: int) -> Callable[[], None]:
    """Return a preexec_fn that caps a child's address space and processor time."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        # SIGXCPU at the soft limit, SIGKILL at the hard one if it is caught
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))

    return apply


def convert_to_pdf(
    source: Path,
    outdir: Path,
    timeout: float = CONVERT_TIMEOUT_SECONDS,
    memory_bytes: int = CONVERT_MEMORY_BYTES,
    cpu_seconds: int | None = None,
) -> Path:
    """Convert an ODP or PPTX to `<outdir>/<source stem>.pdf` with a headless LibreOffice.

    LibreOffice runs capped (address space, processor time) in a session of its own, which is
    killed whole at the timeout: soffice is a script that starts soffice.bin, and killing only
    the script would leave the converter running.
    """
    soffice = soffice_path()
    if soffice is None:
        raise ConversionError("no_converter")
    target = outdir / f"{source.stem}.pdf"
    # A profile of its own lets conversions run side by side without LibreOffice's profile lock.
    with tempfile.TemporaryDirectory(prefix="cv-soffice-") as profile:
        process = subprocess.Popen(
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
            start_new_session=True,
            # LibreOffice runs a few threads: twice the wall-clock limit in processor time
            preexec_fn=limit_child(memory_bytes, cpu_seconds or max(1, int(2 * timeout))),
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ConversionError("conversion_timeout") from None
        finally:
            _kill_session(process)
    # soffice exits 0 even when it could not load the file; only the output tells.
    if not target.exists() or sniff_kind(target) != "pdf":
        target.unlink(missing_ok=True)
        raise ConversionError("conversion_failed")
    return target


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    """Kill what is left of a child's session (its own children included) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
