"""The shipped production shape, once per module, and Chromium reaching it over HTTPS by name.

Chromium resolves the test domain to the namespace address (`--host-resolver-rules`) and trusts
exactly the test certificate's key (`--ignore-certificate-errors-spki-list`), so the pages run in
a secure context as on a real server, with the real TLS, cookies and wss:// room sockets.

    scripts/netns-run .venv/bin/pytest -q tests/production     # about 70 s
    CV_KEEP_BROWSER_LOGS=1 ...                                  # keep every log and rendered file
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.services import SlapdInstance

from .stack import ADDRESS, DOMAIN, Stack, start_stack


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run these browser tests before tests/browser/'s, whose Playwright lives for the session.

    Playwright's sync API refuses to start while another instance's event loop runs in the same
    thread; this module's own instance starts and stops before tests/browser/ starts its one.
    """
    ours = [item for item in items if "/tests/production/" in str(item.path) and "browser" in item.keywords]
    if not ours:
        return
    rest = [item for item in items if item not in ours]
    first_browser = next(
        (i for i, item in enumerate(rest) if "browser" in item.keywords or "/tests/browser/" in str(item.path)),
        len(rest),
    )
    items[:] = rest[:first_browser] + ours + rest[first_browser:]


def _require(binaries: list[str]) -> None:
    missing = [name for name in binaries if not shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")]
    if not missing:
        return
    message = f"{', '.join(missing)} missing (run scripts/install-system-deps)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _in_namespace() -> bool:
    import socket

    try:
        with socket.socket() as s:
            s.bind((ADDRESS, 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def stack(slapd: SlapdInstance) -> Iterator[Stack]:
    """Every shipped part running as on a server: nginx, 2 web, worker, beat, 2 media nodes, coturn."""
    _require(["nginx", "turnserver", "openssl", "redis-server", "slapd"])
    if not _in_namespace():
        pytest.skip(f"needs the test network namespace ({ADDRESS}): run under scripts/netns-run")
    workdir = Path(tempfile.mkdtemp(prefix="cv-production-"))
    instance = start_stack(workdir, slapd)
    print(
        f"\nproduction stack started in {instance.timings['stack started']:.1f} s "
        f"(database migrated and synced at {instance.timings['database ready']:.1f} s)"
    )
    for note in instance.notes:
        print(f"note: {note}")
    try:
        yield instance
    finally:
        instance.stop()
        if os.environ.get("CV_KEEP_BROWSER_LOGS"):
            print(f"production stack files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def https_browser(stack: Stack) -> Iterator[Browser]:
    """Headless Chromium that knows the test domain and trusts its certificate, fake devices."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing and CI is set")
    args = [
        *CHROMIUM_ARGS,
        f"--host-resolver-rules=MAP {DOMAIN} {ADDRESS}",
        f"--ignore-certificate-errors-spki-list={stack.spki}",
    ]
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield instance
        instance.close()


PageFactory = Callable[..., Page]


@pytest.fixture
def new_page(https_browser: Browser, stack: Stack) -> Iterator[PageFactory]:
    """A page of a fresh context on the HTTPS origin; `relay_only=True` forces ICE through TURN.

    The page has no switch for iceTransportPolicy, so relay_only wraps RTCPeerConnection before
    any page script runs and forces `iceTransportPolicy: "relay"` on every connection it makes.
    """
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        errors.append(f"unexpected dialog: {dialog.message}")
        dialog.dismiss()

    def open_page(*, relay_only: bool = False) -> Page:
        context = https_browser.new_context(base_url=stack.origin, locale="fr-FR")
        context.set_default_timeout(15_000)
        if relay_only:
            context.add_init_script(FORCE_RELAY)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        page.on("dialog", on_dialog)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, "JavaScript errors or dialogs in the page:\n" + "\n".join(errors)


FORCE_RELAY = """
(() => {
  const Native = window.RTCPeerConnection;
  const relay = (config) => ({ ...(config || {}), iceTransportPolicy: "relay" });
  class RelayOnly extends Native {
    constructor(config, ...rest) { super(relay(config), ...rest); }
    setConfiguration(config) { return super.setConfiguration(relay(config)); }
  }
  window.RTCPeerConnection = RelayOnly;
})();
"""


@pytest.fixture
def timer() -> Callable[[], float]:
    """Seconds since the test began."""
    began = time.monotonic()
    return lambda: time.monotonic() - began
