"""The per-packet path: published tracks, subscriber slots and the SRTP send.

An incoming packet is parsed once per publisher track (track.py); each subscriber slot then
writes its own header and the shared payload into one buffer (slot.py), protects it with the
subscriber's SRTP session and hands it to the UDP socket (output.py). No decoder, no encoder, no
RTP object. The loop over a track's slots runs in C when the extension is built (native.py).
"""

from .native import NATIVE, NATIVE_RECEIVE, RECEIVE_SET, _fastpath, segmented_sends
from .output import MAX_PLAIN, READ_SIZE, Output, Sink
from .slot import Kind, PySlot, Slot
from .track import Bursts, PyTrack, Track, bursts

if _fastpath is not None:
    from .slot import NativeSlot
    from .track import NativeTrack

__all__ = [
    "MAX_PLAIN",
    "NATIVE",
    "NATIVE_RECEIVE",
    "READ_SIZE",
    "RECEIVE_SET",
    "Bursts",
    "Kind",
    "NativeSlot",
    "NativeTrack",
    "Output",
    "PySlot",
    "PyTrack",
    "Sink",
    "Slot",
    "Track",
    "bursts",
    "segmented_sends",
]
