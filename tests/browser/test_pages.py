"""The pages around the rooms in real browsers: attendance, error pages, the live dashboard, the
invitation link, the class page's past lessons; axe finds nothing serious on them (issue 16)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from .conftest import PageFactory, show_tab

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/rooms/[0-9a-f-]{36}/$")
PHONE = {"width": 360, "height": 740}


def room_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def start_lesson(page: Page, slug: str) -> str:
    """Start (or rejoin) the lesson of a class from its class page; return the room URL."""
    page.goto(f"/classes/{slug}/")
    page.click('form[data-action="start-lesson"] button[type=submit]')
    page.wait_for_url(ROOM_URL)
    expect(page.locator("#screen-room")).to_be_visible()
    return page.url


def enter(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#screen-room")).to_be_visible()


def end_room(page: Page, url: str) -> None:
    """End a room with the protocol's `room.end`, on a socket of this moderator's session."""
    base = url.split("/rooms/")[0]
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    with connect(
        f"{base.replace('http', 'ws', 1)}/ws/rooms/{room_id(url)}/",
        additional_headers={"Cookie": f"sessionid={cookie['value']}"},
        origin=base,  # type: ignore[arg-type]
    ) as socket:
        socket.send(json.dumps({"type": "room.end", "ref": 1}))
        while True:
            event = json.loads(socket.recv(timeout=10))
            if event.get("ref") == 1:
                assert event["type"] == "ok", event
                return


def open_recess(page: Page, title: str, classes: tuple[str, ...]) -> str:
    page.goto("/recess/")
    form = page.locator('form[data-action="create-recess"]')
    form.locator("input[name=title]").fill(title)
    for slug in classes:
        form.locator(f'input[name=classes][value="{slug}"]').check()
    form.locator("button[type=submit]").click()
    page.wait_for_url(ROOM_URL)
    expect(page.locator("#screen-room")).to_be_visible()
    return page.url


def assert_axe_clean(page: Page) -> None:
    violations = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not violations, "\n".join(violations)


def assert_no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_attendance_page_and_csv_list_absent_students(logged_in_page: PageFactory) -> None:
    supervisor = logged_in_page("claire.fontaine")
    url = open_recess(supervisor, "Récré de midi", ("6a", "5b"))
    enter(logged_in_page("lea.martin"), url)

    supervisor.goto(f"{url}attendance/")
    expect(supervisor.locator('tr[data-user="lea.martin"]')).to_have_attribute("data-status", "present")
    expect(supervisor.locator('tr[data-user="zoe.bernard"]')).to_have_attribute("data-status", "absent")
    expect(supervisor.locator('tr[data-user="zoe.bernard"]')).to_contain_text("absent")
    expect(supervisor.locator('tr[data-user="jeanedouard.petit"]')).to_have_attribute("data-status", "absent")
    expect(supervisor.locator('dd[data-count="absent"]')).to_have_text("2")
    assert_axe_clean(supervisor)

    response = supervisor.request.get(f"{url}attendance.csv")
    assert response.ok
    body = response.body()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Nom", "Rôle", "Statut"]
    assert ["Zoé Bernard", "Élève", "absent", "", "", "0"] in rows
    assert any(row[0] == "Léa Martin" and row[2] == "présent" for row in rows)


def test_attendance_page_fits_a_phone(logged_in_page: PageFactory) -> None:
    supervisor = logged_in_page("claire.fontaine", viewport=PHONE)
    url = open_recess(supervisor, "Récré du soir", ("6a",))
    supervisor.goto(f"{url}attendance/")
    expect(supervisor.locator('tr[data-user="zoe.bernard"]')).to_be_attached()
    assert_no_sideways_scroll(supervisor)
    # The table's box scrolls by keyboard: it takes focus.
    supervisor.locator(".table-wrap").focus()
    expect(supervisor.locator(".table-wrap")).to_be_focused()


def test_class_page_lists_a_past_lesson_with_its_attendance(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")
    enter(logged_in_page("lea.martin"), url)
    end_room(teacher, url)

    teacher.goto("/classes/6a/")
    row = teacher.locator(f'tr[data-lesson="{room_id(url)}"]')
    expect(row.locator('[data-count="present"]')).not_to_have_text("0")
    assert_axe_clean(teacher)
    row.locator('a[data-link="attendance"]').click()
    expect(teacher.locator('tr[data-user="lea.martin"]')).to_have_attribute("data-status", "present")


@pytest.mark.parametrize(
    ("locale", "title_404", "title_403", "back"),
    [
        ("fr-FR", "Page introuvable", "Accès refusé", "Retour à mes classes"),
        ("en-US", "Page not found", "Not allowed", "Back to my classes"),
    ],
)
def test_error_pages_are_styled_with_a_way_back(
    logged_in_page: PageFactory, locale: str, title_404: str, title_403: str, back: str
) -> None:
    page = logged_in_page("lea.martin", locale=locale, viewport=PHONE)
    response = page.goto("/classes/9z/")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text(title_404)
    expect(page.locator("header.topbar")).to_contain_text("Léa Martin")
    assert_no_sideways_scroll(page)
    assert_axe_clean(page)

    response = page.goto("/classes/5b/")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text(title_403)
    assert_axe_clean(page)
    page.get_by_role("link", name=back).click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator('[data-section="live"]')).to_be_visible()


def test_dashboard_shows_a_lesson_started_after_it_loaded(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    end_room(teacher, start_lesson(teacher, "6a"))  # no 6A lesson is live now

    student = logged_in_page("lea.martin")
    student.clock.install()
    student.goto("/")
    student.evaluate("document.body.dataset.loadedOnce = 'yes'")
    assert_axe_clean(student)

    url = start_lesson(teacher, "6a")
    link = student.locator(f'a[data-room="{room_id(url)}"]')
    expect(link).to_have_count(0)
    student.clock.run_for(11_000)  # the page asks every 10 s
    expect(link).to_be_visible()
    expect(student.locator("[data-announcer]")).to_contain_text("En direct")
    assert student.evaluate("document.body.dataset.loadedOnce") == "yes"  # not reloaded
    link.click()
    expect(student.locator("#screen-room")).to_be_visible()


def test_moderator_copies_the_invitation_link_and_outsiders_still_wait(
    logged_in_page: PageFactory, live_server_url: str
) -> None:
    teacher = logged_in_page("marie.curie")
    teacher.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server_url)
    url = start_lesson(teacher, "6a")
    show_tab(teacher, "more")
    teacher.click('[data-action="copy-invite"]')
    expect(teacher.locator("[data-invite-status]")).to_have_text("Lien copié.")
    copied = teacher.evaluate("navigator.clipboard.readText()")
    assert copied == url

    outsider = logged_in_page("jeanedouard.petit")
    outsider.goto(copied, wait_until="domcontentloaded")
    expect(outsider.locator("#screen-waiting")).to_be_visible()
