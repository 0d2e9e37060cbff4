"""The exact aiortc, aioice and pylibsrtp versions the seam was written for, checked at import.

Imported by media_server/seam/__init__.py before anything that reaches into those libraries, so
that another version is refused with this message rather than with an AttributeError in the
middle of a call. MEDIA_AIORTC_VERSION_CHECK=0 lets it start anyway, with a warning: that is how
to try an upgrade (tests/media/test_seam.py then names each hooked name that moved).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Mapping

EXPECTED = {"aiortc": "1.16.0", "aioice": "0.13.0", "pylibsrtp": "1.0.0"}
"""What media_server/seam was written and checked against (requirements.txt pins the same)."""

CHECK_ENV = "MEDIA_AIORTC_VERSION_CHECK"


class UnsupportedVersions(RuntimeError):
    """The installed aiortc, aioice or pylibsrtp is not the version the seam was written for."""


def installed() -> dict[str, str | None]:
    """Return the installed version of each library of EXPECTED (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in EXPECTED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def problem(versions: Mapping[str, str | None]) -> str | None:
    """Return why these versions are refused, None if they are the expected ones."""
    wrong = [
        f"{name} {versions.get(name) or 'not installed'}"
        for name, version in EXPECTED.items()
        if versions.get(name) != version
    ]
    if not wrong:
        return None
    expected = ", ".join(f"{name}=={version}" for name, version in EXPECTED.items())
    return (
        f"media_server was written for {expected}, but this environment has {', '.join(wrong)}. "
        "Install the pinned versions (scripts/bootstrap installs requirements.txt), or port "
        "media_server/seam to the new ones (docs/media.md, 'The seam with aiortc'): "
        f"{CHECK_ENV}=0 lets the node start with them, and tests/media/test_seam.py names what moved."
    )


def check(versions: Mapping[str, str | None] | None = None) -> None:
    """Raise UnsupportedVersions unless the expected versions are installed (or the check is off)."""
    reason = problem(installed() if versions is None else versions)
    if reason is None:
        return
    if os.environ.get(CHECK_ENV, "1") == "0":
        logging.getLogger(__name__).warning("%s=0: starting anyway. %s", CHECK_ENV, reason)
        return
    raise UnsupportedVersions(reason)


check()
