"""This process's counters for /metrics (classroom/monitoring.py adds the site-wide gauges).

Counting is an in-memory increment, nothing on the hot path waits for I/O. Each web process counts
what it saw since it started: Prometheus scrapes every web process (127.0.0.1:<port>/metrics) as a
target of its own, which labels the series with `instance`, and `sum()` adds them up.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, disable_created_metrics

# One sample per counter: the `_created` twins would double every series for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

ERROR_REPLIES = Counter(
    "cv_error_replies", "Room socket `error` replies sent by this process, by code.", ["code"], registry=REGISTRY
)
LOGIN_FAILURES = Counter(
    "cv_login_failures", "Failed logins seen by this process, by reason.", ["reason"], registry=REGISTRY
)
LOGIN_LOCKED = Counter(
    "cv_login_locked", "Logins refused by this process because the username or address was locked.", registry=REGISTRY
)
for _reason in ("invalid", "no_role"):
    LOGIN_FAILURES.labels(reason=_reason)
CHANNEL_FULL = Counter(
    "cv_channel_full",
    "Room events this process could not deliver because the receiving socket's channel was full.",
    registry=REGISTRY,
)
FRAMES_DROPPED = Counter(
    "cv_frames_dropped", "Room socket frames dropped unread for going over the user's rate.", registry=REGISTRY
)
SOCKET_FAILURES = Counter(
    "cv_socket_failures",
    "Unexpected exceptions while a room socket handled something (the socket was cleaned up or answered).",
    registry=REGISTRY,
)
