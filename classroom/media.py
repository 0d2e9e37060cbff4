"""The bridge from the app to the media forwarder (media_server never imports us)."""

from __future__ import annotations

from typing import Any


def media_health() -> dict[str, Any] | str:
    return "ok"
