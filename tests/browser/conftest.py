"""Browser-test harness: the real ASGI app under daphne, and headless Chromium driven by Playwright.

The app runs in a subprocess on a free port of 10.99.0.1 when that address exists (inside
`scripts/netns-run`), else 127.0.0.1, with its own SQLite file synced from the test directory.
Nothing here talks to any other address.

    def test_it_greets(logged_in_page):
        page = logged_in_page("lea.martin")
        page.goto("/")
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

ROOT = Path(__file__).resolve().parents[2]
TEST_LDIF = ROOT / "tests" / "directory" / "test_school.ldif"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "secret"
NETNS_ADDRESS = "10.99.0.1"
START_TIMEOUT = 30.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Never go through a proxy from the environment: test traffic stays on the test addresses.
    "--no-proxy-server",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip browser tests where no Chromium exists, unless CI requires them."""
    if os.path.exists(CHROMIUM) or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing (install the Debian chromium package); set CI=1 to fail instead"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _host() -> str:
    """10.99.0.1 inside the test network namespace, else loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((NETNS_ADDRESS, 0))
        return NETNS_ADDRESS
    except OSError:
        return "127.0.0.1"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _server_env(workdir: Path, host: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        DIRECTORY_LDIF=str(TEST_LDIF),
        DJANGO_ALLOWED_HOSTS=f"{host},127.0.0.1,localhost",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="browser-tests-only",
        MEDIA_ROOT=str(workdir / "uploads"),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    for name in ("REDIS_URL", "LDAP_URI"):
        env.pop(name, None)
    return env


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with opener.open(f"{url}/accounts/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"daphne did not answer within {START_TIMEOUT} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def live_server_url() -> Iterator[str]:
    """Run the real ASGI app (daphne) on a fresh, migrated and synced database; yield its base URL."""
    host = _host()
    port = _free_port(host)
    workdir = Path(tempfile.mkdtemp(prefix="cv-browser-"))
    env = _server_env(workdir, host)
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "--noinput", "-v", "0"], ["sync_directory"]):
        subprocess.run(manage + command, cwd=ROOT, env=env, check=True, capture_output=True)
    log = workdir / "daphne.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{host}:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if os.environ.get("CV_KEEP_BROWSER_LOGS"):
            print(f"browser-test server files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser(live_server_url: str) -> Iterator[Browser]:
    """Headless Debian Chromium with fake camera, microphone and screen."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing and CI is set")
    # http://10.99.0.1 is not a secure context: without this, pages get no navigator.mediaDevices
    args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={live_server_url}"]
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield instance
        instance.close()


PageFactory = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser, live_server_url: str) -> Iterator[PageFactory]:
    """Open a page in a fresh browser context (its own cookies); fail the test on any page JS error."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        # Safety net: an alert() would mean that someone's text reached the page as HTML.
        errors.append(f"unexpected dialog: {dialog.message}")
        dialog.dismiss()

    def open_page(*, locale: str = "fr-FR", viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(
            base_url=live_server_url,
            locale=locale,
            viewport=viewport or {"width": 1280, "height": 800},  # type: ignore[arg-type]
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        page.on("dialog", on_dialog)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, "JavaScript errors or dialogs in the page:\n" + "\n".join(errors)


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the real login form and wait for the dashboard."""
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(lambda url: not url.rstrip("/").endswith("/accounts/login"))


@pytest.fixture
def logged_in_page(new_page: PageFactory) -> PageFactory:
    """`logged_in_page("lea.martin")`: a page of a fresh context, logged in as that directory user."""

    def make(username: str, **options: object) -> Page:
        page = new_page(**options)
        login(page, username)
        return page

    return make


@pytest.fixture
def page_for(logged_in_page: PageFactory) -> PageFactory:
    """The same helper under the name other tests use."""
    return logged_in_page


def show_tab(page: Page, tab: str) -> None:
    """Open the room's side panel on one of its tabs (people, chat, polls, more), as a person would."""
    if not page.locator(f"#tab-{tab}").is_visible():
        page.click("#panel-toggle")  # a phone's bottom sheet, or a panel closed on a wide screen
    page.click(f"#tab-{tab}")


def upload_deck(teacher: Page, folder: Path, title: str, pages: int) -> None:
    """On the class page the teacher is on, upload a PDF deck of `pages` pages and wait until it is ready."""
    from tests.slides.pdfs import deck_pdf

    deck = folder / f"{title}.pdf"
    deck.write_bytes(deck_pdf(pages))
    form = teacher.locator('form[data-action="upload-slides"]')
    form.locator("input[type=file]").set_input_files(str(deck))
    form.locator("button[type=submit]").click()
    expect(teacher.locator("[data-deck]", has_text=title)).to_have_attribute("data-status", "ready")
