"""Count failed logins per username and per address, so the directory is not hammered."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, value: str) -> str:
    return "login-fail:" + kind + ":" + hashlib.sha256(value.lower().encode()).hexdigest()[:32]


def _limits(username: str, address: str) -> list[tuple[str, int]]:
    return [
        (_key("user", username), settings.LOGIN_FAILURES_PER_USER),
        (_key("addr", address), settings.LOGIN_FAILURES_PER_ADDRESS),
    ]


def is_locked(username: str, address: str) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _limits(username, address))


def record_failure(username: str, address: str) -> None:
    for key, _limit in _limits(username, address):
        if cache.add(key, 1, settings.LOGIN_FAILURE_WINDOW_SECONDS):
            continue
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.LOGIN_FAILURE_WINDOW_SECONDS)


def reset(username: str) -> None:
    cache.delete(_key("user", username))
