"""Faults on the shipped production shape: each module starts its own stack (tests/production/stack.py).

A module kills or stops one part (Redis, PostgreSQL, a web process, a media node) and watches the
rest recover; its stack goes with it, so a broken part never reaches another module.

    scripts/netns-run .venv/bin/pytest -q tests/faults -s     # each prints its recovery times
"""

from __future__ import annotations

import pytest

from tests.production.conftest import https_browser, new_page, stack, timer

__all__ = ["https_browser", "new_page", "stack", "timer"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run these browser tests before tests/browser/'s, whose Playwright lives for the session.

    As in tests/production/conftest.py: a second sync Playwright cannot start while another runs.
    """
    ours = [item for item in items if "/tests/faults/" in str(item.path) and "browser" in item.keywords]
    if not ours:
        return
    rest = [item for item in items if item not in ours]
    first = next((i for i, item in enumerate(rest) if "/tests/browser/" in str(item.path)), len(rest))
    items[:] = rest[:first] + ours + rest[first:]
