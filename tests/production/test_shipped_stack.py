"""A lesson on the shipped production shape: nginx with TLS, 2 web units, worker, beat, 2 media nodes, coturn.

Everything runs from deploy/'s rendered files (see stack.py and units.py); Chromium reaches it as
https://classe.test. The tests share one stack and run in file order.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, show_tab
from tests.browser.test_media_browser import enter, start_lesson, turn_on, wait_playing

from .conftest import PageFactory
from .pdfs import padded_deck_pdf
from .stack import DOMAIN, Stack

pytestmark = pytest.mark.browser

DECK_BYTES = 20 * 1024 * 1024
TEACHER, STUDENT = "marie.curie", "lea.martin"

SELECTED_CANDIDATE_TYPE = """async (name) => {
  const pc = window.classroomMedia.pcs[name];
  if (!pc) return null;
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
  if (!pair) stats.forEach((r) => { if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r; });
  const local = pair && stats.get(pair.localCandidateId);
  return local ? local.candidateType : null;
}"""


def expect_upstreams(stack: Stack, path: str, upstreams: set[str], timeout: float = 10.0) -> None:
    """Wait until nginx's log shows `path` answered 101 (a WebSocket) by each of `upstreams`."""
    deadline = time.monotonic() + timeout
    while True:
        log = stack.nginx_access_log.read_text()
        seen = set(re.findall(rf'"GET {re.escape(path)} HTTP/1\.1" 101 upstream=(\S+)', log))
        if upstreams <= seen or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert upstreams <= seen, f"room sockets of {path} went to {seen}, not to each of {upstreams}"


def test_login_over_https_with_secure_cookies_hsts_and_http_redirect(stack: Stack, new_page: PageFactory) -> None:
    status, headers, body = stack.get("/accounts/login/")
    assert status == 200 and b'name="password"' in body
    hsts = headers.get("Strict-Transport-Security", "")
    assert re.fullmatch(r"max-age=[1-9]\d*.*", hsts), f"HSTS header: {hsts!r}"

    status, headers, _ = stack.get("/accounts/login/?next=/classes/6a/", https=False)
    assert status == 301
    assert headers["Location"] == f"https://{DOMAIN}/accounts/login/?next=/classes/6a/"

    page = new_page()
    login(page, TEACHER)
    assert page.url == f"{stack.origin}/"
    assert page.evaluate("window.isSecureContext") is True
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["sessionid"]["secure"] is True and cookies["sessionid"]["httpOnly"] is True
    assert cookies["csrftoken"]["secure"] is True


def test_both_media_nodes_are_registered_and_healthz_is_ok(stack: Stack) -> None:
    status, health = stack.healthz()
    assert status == 200, health
    assert health["status"] == "ok" and health["database"] == "ok" and health["channel_layer"] == "ok"
    assert health["media"]["mode"] == "redis"
    assert sorted(node["id"] for node in health["media"]["nodes"]) == sorted(stack.media_node_ids)


def test_student_sees_the_teachers_video_through_nginx(stack: Stack, new_page: PageFactory, timer) -> None:  # type: ignore[no-untyped-def]
    teacher = new_page()
    login(teacher, TEACHER)
    url = start_lesson(teacher, "6a")
    teacher_id = str(teacher.evaluate("window.classroomRoom.youId"))
    turn_on(teacher, "camera")

    student = new_page()
    login(student, STUDENT)
    enter(student, url)
    playing = wait_playing(student, teacher_id)
    print(f"\ntime to first video (teacher's login to the student's decoded frames): {timer():.1f} s")
    assert playing["width"] > 0

    # least_conn sends the second room socket to the other web process: the lesson spans both,
    # over the Redis channel layer. nginx logs a socket when it closes.
    room = url.split(stack.origin, 1)[1].replace("/rooms/", "/ws/rooms/")
    student.close()
    teacher.close()
    expect_upstreams(stack, room, {f"127.0.0.1:{port}" for port in stack.web_ports})


def test_a_20_mb_deck_uploads_through_nginx_and_the_worker_renders_it(
    stack: Stack, new_page: PageFactory, tmp_path: Path
) -> None:
    teacher = new_page()
    login(teacher, TEACHER)
    teacher.goto("/classes/6a/")
    deck = tmp_path / "Volcans (20 Mo).pdf"
    deck.write_bytes(padded_deck_pdf(DECK_BYTES))
    form = teacher.locator('form[data-action="upload-slides"]')
    form.locator("input[type=file]").set_input_files(str(deck))
    with teacher.expect_response(lambda r: r.request.method == "POST" and "/classes/6a/" in r.url) as upload:
        form.locator("button[type=submit]").click()
    assert upload.value.status < 400, f"upload answered {upload.value.status}"
    # The page follows the worker by itself: "being prepared" turns into the pages, no reload.
    listed = teacher.locator("[data-deck]", has_text="Volcans")
    expect(listed).to_have_attribute("data-status", "rendering")
    expect(listed).to_have_attribute("data-status", "ready", timeout=60_000)
    expect(listed.locator("a img")).to_be_visible()
    assert re.search(r"Task slides\.render_deck\[\S+\] succeeded", stack.log_of("worker"))

    url = start_lesson(teacher, "6a")
    student = new_page()
    login(student, STUDENT)
    enter(student, url)
    show_tab(teacher, "more")
    teacher.select_option("#deck-select", label=deck.stem)
    teacher.click("#deck-picker button[type=submit]")
    image = student.locator("img[data-slide-page]")
    expect(image).to_have_attribute("data-slide-page", "1")
    student.wait_for_function(
        "() => { const i = document.querySelector('img[data-slide-page]'); return i.complete && i.naturalWidth > 0; }"
    )


def test_video_plays_with_ice_forced_through_coturn(stack: Stack, new_page: PageFactory) -> None:
    teacher = new_page(relay_only=True)
    login(teacher, TEACHER)
    url = start_lesson(teacher, "6a")
    teacher_id = str(teacher.evaluate("window.classroomRoom.youId"))
    turn_on(teacher, "camera")
    student = new_page(relay_only=True)
    login(student, STUDENT)
    enter(student, url)

    try:
        wait_playing(student, teacher_id)
    except AssertionError as error:
        refused = [line for line in stack.turn_log.read_text(errors="replace").splitlines() if " 403: " in line]
        raise AssertionError(f"{error}\ncoturn refused:\n" + "\n".join(refused[-6:])) from None
    for page, connection in ((student, "subscribe"), (teacher, "publish")):
        assert page.evaluate(f"window.classroomMedia.pcs.{connection}.getConfiguration().iceTransportPolicy") == "relay"
        # "prflx" when the media node sees the relay from another address than the one announced
        # (coturn's external-ip): still the TURN allocation, as the policy allows nothing else.
        assert local_candidate_type(page, connection) in {"relay", "prflx"}
    log = stack.turn_log.read_text(errors="replace")
    assert "ALLOCATE processed, success" in log, log[-3000:]
    assert "CREATE_PERMISSION processed, success" in log, log[-3000:]


def local_candidate_type(page: Page, connection: str) -> str | None:
    """The type of the local ICE candidate in use on one of the page's connections."""
    found: str | None = page.evaluate(SELECTED_CANDIDATE_TYPE, connection)
    return found


def test_web_processes_restarted_one_after_the_other_never_fail_a_request(stack: Stack) -> None:
    """The installer's rerun restarts cv-web@ one at a time: nginx must send every request to the
    process that is up, even right after the other one came back (once, both were marked failed
    for 10 s and nginx answered 502 "no live upstreams")."""
    failures: list[str] = []
    probes = 0
    done = threading.Event()

    def probe() -> None:
        nonlocal probes
        while not done.is_set():
            status, _, _ = stack.get("/accounts/login/")
            probes += 1
            if status != 200:
                failures.append(str(status))
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for port in stack.web_ports:
            stack.restart_web(port)
    finally:
        done.set()
        prober.join()
    print(f"rolling restart of {len(stack.web_ports)} web processes: {probes} requests through nginx")
    assert probes > 20
    assert not failures, f"{len(failures)} of {probes} requests failed during the restarts: {failures}"
