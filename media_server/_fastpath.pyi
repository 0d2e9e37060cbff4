from collections.abc import Callable
from typing import Any

HISTORY: int
MAX_PLAIN: int

class SlotCore:
    seq_offset: int
    start_seq: int
    last_seq: int
    ts_offset: int
    last_ts: int
    ssrc: int
    last_ms: int
    packets: int
    abs_send_time_id: int
    keep_history: int
    output: Any
    pt_map: dict[int, int]
    @property
    def bound(self) -> bool: ...
    @property
    def history_size(self) -> int: ...
    def history_get(self, seq: int) -> bytes | None: ...
    def history_clear(self) -> None: ...
    def unbind(self) -> None: ...

def fanout(
    slots: list[Any], b0: int, b1: int, seq: int, ts: int, payload: bytes, arrival_ms: int, send_time: int, /
) -> None: ...
def fanout_burst(slots: list[Any], packets: list[tuple[int, int, int, int, bytes, int, int]], /) -> None: ...
def gso_state() -> tuple[bool, int, int]: ...
def set_gso(on: bool, /) -> None: ...
def bind_libsrtp(path: str, /) -> int: ...
def libsrtp_version() -> int: ...

class Receiver:
    packets: int
    to_python: int
    def __init__(
        self,
        route: Callable[[bytes, int], None],
        bind: Callable[[], tuple[Any, int] | None],
        remb: Callable[[int, int, int, int], None],
        ntp_offset_ms: int,
        abs_send_time_id: int,
    ) -> None: ...
    def receive(self, fd: int, fallback: Callable[[bytes, Any], None], data: bytes, addr: Any, /) -> None: ...
    def add_stream(
        self, ssrc: int, track: Any, feedback: Any, clock_rate: int, video: bool, nacks: bool, level_id: int, /
    ) -> None: ...
    def stream_stats(self, ssrc: int, /) -> tuple[int | None, int | None, int, int, int, int] | None: ...
