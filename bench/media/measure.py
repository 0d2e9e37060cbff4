"""Measurements from /proc: CPU time, resident memory, UDP receive drops."""

from __future__ import annotations

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return user plus system CPU time of a process and all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of proc(5); fields[0] here is field 3
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """Return the CPU time every process of the machine has used, all CPUs together."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait are busy
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Return the resident set size of a process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentile(sorted_values: list[int], q: float) -> float | None:
    """Return the q-quantile (0..1) of sorted values, nearest rank."""
    if not sorted_values:
        return None
    rank = min(int(q * len(sorted_values)), len(sorted_values) - 1)
    return float(sorted_values[rank])


def udp_receive_buffer_errors() -> int:
    """Return the datagrams this network namespace dropped because a socket's buffer was full."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])
