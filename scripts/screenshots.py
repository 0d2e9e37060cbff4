"""Write a screenshot of every page, at 1366×768 and 360×740, in French and English, into docs/screenshots/.

Run through `make screenshots` (inside scripts/netns-run): it starts the real app as the browser
tests do (tests/browser/conftest.py), on a fresh database synced from the test directory, with a
past lesson for the class page and the attendance, then drives Debian's Chromium with its fake
camera. Files are palette PNGs named `<lang>-<desktop|phone>-<page>.png`.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    _free_port,
    _host,
    _server_env,
    _wait_until_up,
    login,
)
from tests.slides.pdfs import deck_pdf  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 360, "height": 740}}
LOCALES = {"fr": "fr-FR", "en": "en-GB"}
COLOURS = 128  # palette size: small files, text stays sharp

SEED = """
from datetime import timedelta
from django.utils import timezone
from accounts.models import User
from classroom.models import Attendance, Room, SchoolClass
six_a = SchoolClass.objects.get(name="6A")
teacher = User.objects.get(username="marie.curie")
start = (timezone.now() - timedelta(days=2)).replace(hour=8, minute=0, second=0, microsecond=0)
room = Room.objects.create(kind="lesson", title="Les volcans", school_class=six_a, created_by=teacher)
Room.objects.filter(pk=room.pk).update(created_at=start, ended_at=start + timedelta(minutes=55), end_reason="ended")
for user, came, left in [(teacher, 0, 55), (User.objects.get(username="lea.martin"), 3, 52)]:
    Attendance.objects.create(room=room, user=user, joined_at=start + timedelta(minutes=came),
                              left_at=start + timedelta(minutes=left))
print(room.pk)
"""


@contextmanager
def app() -> Iterator[tuple[str, str]]:
    """The real ASGI app on a fresh database; yield its base URL and the past lesson's id."""
    host = _host()
    workdir = Path(tempfile.mkdtemp(prefix="cv-screens-"))
    env = _server_env(workdir, host)
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "--noinput", "-v", "0"], ["sync_directory"]):
        subprocess.run(manage + command, cwd=ROOT, env=env, check=True, capture_output=True)
    seeded = subprocess.run(manage + ["shell", "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True)
    past = seeded.stdout.decode().strip().splitlines()[-1]
    port = _free_port(host)
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
        yield url, past
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def shoot(page: Page, name: str) -> None:
    """Save the viewport as a palette PNG (a few tens of kB)."""
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")  # what a person sees first, whatever was clicked below
    image = Image.open(io.BytesIO(page.screenshot(animations="disabled", caret="hide")))
    small = image.convert("RGB").quantize(COLOURS, method=Image.Quantize.MEDIANCUT)
    small.save(OUT / f"{name}.png", optimize=True)
    print(f"docs/screenshots/{name}.png")


def playing(page: Page) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].some(v => v.readyState >= 2 && v.videoWidth > 0)",
        timeout=20_000,
    )


def upload_deck(browser: Browser, url: str, workdir: Path) -> None:
    context = browser.new_context(base_url=url, locale="fr-FR")
    page = context.new_page()
    login(page, "marie.curie")
    page.goto("/classes/6a/")
    deck = workdir / "Les volcans.pdf"
    deck.write_bytes(deck_pdf(3))
    form = page.locator('form[data-action="upload-slides"]')
    form.locator("input[type=file]").set_input_files(str(deck))
    form.locator("button[type=submit]").click()
    expect(page.locator("[data-deck]", has_text="Les volcans")).to_have_attribute(
        "data-status", "ready", timeout=60_000
    )
    context.close()


def shoot_set(
    browser: Browser, url: str, prefix: str, locale: str, viewport: dict[str, int], lesson: str, past: str
) -> str:
    """Every page in one language at one size; start the live lesson the first time; return its path."""
    contexts = []

    def page_for(username: str | None) -> Page:
        context = browser.new_context(base_url=url, locale=locale, viewport=viewport)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        if username:
            login(page, username)
        return page

    anonymous = page_for(None)
    anonymous.goto("/accounts/login/")
    shoot(anonymous, f"{prefix}-login")

    teacher = page_for("marie.curie")
    if not lesson:
        teacher.goto("/classes/6a/")
        teacher.click('form[data-action="start-lesson"] button[type=submit]')
        teacher.wait_for_url("**/rooms/*/")
        lesson = teacher.url.removeprefix(url)
    teacher.goto("/classes/6a/")
    shoot(teacher, f"{prefix}-class")
    teacher.goto(f"/rooms/{past}/attendance/")
    shoot(teacher, f"{prefix}-attendance")

    teacher.goto(lesson)
    expect(teacher.locator("#screen-room")).to_be_visible()
    teacher.click('[data-action="camera"]')
    expect(teacher.locator('[data-action="camera"]')).to_have_attribute("aria-pressed", "true")
    if not teacher.locator("#tab-more").is_visible():
        teacher.click("#panel-toggle")  # on a phone the side panel is a bottom sheet
    teacher.click("#tab-more")  # decks are in the side panel's last tab
    teacher.select_option("#deck-select", label="Les volcans")
    teacher.click("#deck-picker button[type=submit]")
    expect(teacher.locator("img[data-slide-page]")).to_have_attribute("data-slide-page", "1")
    playing(teacher)

    student = page_for("lea.martin")
    shoot(student, f"{prefix}-dashboard")
    student.goto(lesson)
    expect(student.locator("#screen-room")).to_be_visible()
    expect(student.locator("img[data-slide-page]")).to_have_attribute("data-slide-page", "1")
    playing(student)
    shoot(teacher, f"{prefix}-room-teacher")
    shoot(student, f"{prefix}-room-student")

    outsider = page_for("jeanedouard.petit")
    outsider.goto(lesson)
    expect(outsider.locator("#screen-waiting")).to_be_visible()
    shoot(outsider, f"{prefix}-waiting")

    supervisor = page_for("claire.fontaine")
    supervisor.goto("/recess/")
    shoot(supervisor, f"{prefix}-recess")

    student.goto("/classes/5b/")
    shoot(student, f"{prefix}-403")
    student.goto("/classes/9z/")
    shoot(student, f"{prefix}-404")
    for context in contexts:
        context.close()
    return lesson


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with app() as (url, past), sync_playwright() as playwright:
        args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={url}"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        upload_deck(browser, url, Path(tempfile.mkdtemp(prefix="cv-deck-")))
        lesson = ""
        for lang, locale in LOCALES.items():
            for size, viewport in SIZES.items():
                lesson = shoot_set(browser, url, f"{lang}-{size}", locale, viewport, lesson, past)
        browser.close()
    total = sum(path.stat().st_size for path in OUT.glob("*.png"))
    print(f"{len(list(OUT.glob('*.png')))} screenshots, {total / 1e6:.1f} MB in docs/screenshots/")


if __name__ == "__main__":
    main()
