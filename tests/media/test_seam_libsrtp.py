"""The C forwarder's libsrtp: bound to pylibsrtp's own copy after a version check, or not at all."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pylibsrtp import _binding

from media_server import forwarding, seam

from .packets import VP8_KEY, VP8_PT, Recorder, rtp

pytestmark = pytest.mark.skipif(forwarding.native._fastpath is None, reason="media_server/_fastpath.c is not built")

# srtp_protect aborts the process: had the C module called it, the test run would die here
FAKE_LIBSRTP_3 = """
#include <stdlib.h>
unsigned int srtp_get_version(void) { return 3u << 24; }
int srtp_protect(void *ctx, void *rtp, int *len) { abort(); }
int srtp_unprotect(void *ctx, void *rtp, int *len) { abort(); }
"""


@pytest.fixture
def fastpath() -> Iterator[Any]:
    path = _binding.__file__
    yield forwarding.native._fastpath
    # every other test forwards through pylibsrtp's libsrtp again
    forwarding.native._fastpath.bind_libsrtp(path)


@pytest.fixture
def fake_libsrtp_3(tmp_path: Path) -> str:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    source = tmp_path / "fake.c"
    source.write_text(FAKE_LIBSRTP_3)
    library = tmp_path / "libfakesrtp.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    ctypes.CDLL(str(library))  # loaded, as pylibsrtp's would be
    return str(library)


class Target(Recorder):
    """An output that would hand C an srtp_t of the fake library: C must never ask for it."""

    asked = 0

    def native_target(self) -> Any:
        self.asked += 1
        return None


def forward_one(output: Target) -> None:
    track = forwarding.NativeTrack("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"})
    track.allowed = True
    slot = forwarding.NativeSlot("video", 1234, output)
    slot.payload_types = {"video/VP8": 96}
    slot.attach(track)
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)


def test_the_forwarder_is_bound_to_pylibsrtps_libsrtp_2(fastpath: Any) -> None:
    assert fastpath.libsrtp_version() >> 24 == 2
    assert seam.bind_fastpath(fastpath) == fastpath.libsrtp_version()


def test_another_major_libsrtp_is_refused_and_never_called(fastpath: Any, fake_libsrtp_3: str) -> None:
    with pytest.raises(ValueError, match="libsrtp 3.0.0"):
        fastpath.bind_libsrtp(fake_libsrtp_3)
    assert fastpath.libsrtp_version() == 0
    output = Target()
    forward_one(output)
    # no srtp_protect bound: the packet goes through output.send (Python, cffi-checked)
    assert output.asked == 0 and len(output.packets) == 1


def test_a_library_that_is_not_libsrtp_is_refused(fastpath: Any) -> None:
    with pytest.raises(ValueError, match="not libsrtp"):
        fastpath.bind_libsrtp(fastpath.__file__)
    assert fastpath.libsrtp_version() == 0


def test_a_library_not_loaded_is_refused(fastpath: Any, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="not loaded"):
        fastpath.bind_libsrtp(str(tmp_path / "libsrtp2.so"))


def test_the_seam_turns_a_refusal_into_the_version_error(fastpath: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_binding, "__file__", fastpath.__file__)
    with pytest.raises(seam.UnsupportedVersions, match="refused pylibsrtp's libsrtp"):
        seam.bind_fastpath(fastpath)
