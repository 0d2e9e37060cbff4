"""A process whose forwarder still has media open can exit: aiortc's idle decoder threads are
daemons (media_server/seam, `daemon_decoder_threads`). Before, daphne stopped with browsers still
connected to its embedded forwarder never exited (`make screenshots` failed waiting for it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# A receiver's decoder thread as aiortc starts it (RTCRtpReceiver.receive), waiting for frames
# that the forwarder never sends it; then the interpreter's normal exit.
STARTED_RECEIVER = textwrap.dedent(
    """
    import asyncio, queue, threading, sys
    {imports}
    from aiortc import rtcrtpreceiver
    loop = asyncio.new_event_loop()
    thread = rtcrtpreceiver.threading.Thread(
        target=rtcrtpreceiver.decoder_worker,
        name="audio-decoder",
        args=(loop, queue.Queue(), asyncio.Queue(), threading.Event()),
    )
    thread.start()
    print("daemon" if thread.daemon else "joined at exit", flush=True)
    """
)


def _exit_of(imports: str) -> tuple[str, bool]:
    process = subprocess.Popen(
        [sys.executable, "-c", STARTED_RECEIVER.format(imports=imports)], stdout=subprocess.PIPE, text=True
    )
    try:
        out, _ = process.communicate(timeout=5)
        return out.strip(), True
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        return out.strip(), False


def test_a_process_with_the_forwarder_exits_with_a_receiver_started() -> None:
    assert _exit_of("import media_server.seam") == ("daemon", True)


def test_without_the_seam_aiortc_keeps_such_a_process_alive() -> None:
    """The canary of the fix: aiortc alone still joins the thread, for ever."""
    assert _exit_of("") == ("joined at exit", False)
