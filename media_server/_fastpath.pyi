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
def set_protect(address: int, /) -> None: ...
