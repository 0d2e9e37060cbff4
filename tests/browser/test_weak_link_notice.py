"""A student on a weak link: the forwarder lowers the cameras it sends, and the room page says so.

The link is made weak for real. Inside `scripts/netns-run` the tests own the network namespace
(CAP_NET_ADMIN), and the browser and the forwarder talk over its loopback: an HTB class on `lo`
limits the SRTP that reaches the student's subscribe connection (its candidates' address and
port), leaving STUN, DTLS and every other connection alone. Chromium's REMBs then tell the
embedded forwarder, in the daphne process, that the link is weak; nothing in the server or the
pages is replaced. The limit is lifted as soon as the notice shows, and the test waits for the
forwarder's own estimate to bring the normal layer back.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import PageFactory
from .test_media_browser import enter, lesson_with_camera, on_stage, probe, wait_playing

pytestmark = pytest.mark.browser

LOWERED = (
    "Connexion faible : les caméras sont affichées en qualité réduite pour le moment. "
    "L'écran partagé et le son sont conservés."
)
RESTORED = "Votre connexion s'est améliorée : les caméras sont de nouveau en qualité normale."
LOW_WIDTH = 160  # the page's low camera layer is 160x90

# Below what the teacher's normal layer reaches once Chromium has ramped up (the forwarder sends the
# publisher one REMB for all its video), well above what the low layer needs.
WEAK_LINK = "100kbit"
# A few seconds of queue at that rate: the congestion shows as growing delay (Chromium's REMB drops)
# more than as loss (which the forwarder's retransmission budget and loss estimate also handle).
WEAK_LINK_QUEUE_BYTES = 30_000
LOWER_TIMEOUT_MS = 30_000
# Up again after 8 s above 1.25 times the need, the estimate growing 8 % a second from the weak one.
RESTORE_TIMEOUT_MS = 90_000

Endpoint = tuple[str, int]


def tc(*args: str) -> None:
    result = subprocess.run(["tc", *args], capture_output=True, text=True)
    assert result.returncode == 0, f"tc {' '.join(args)}: {result.stderr.strip()} (run under scripts/netns-run)"


@pytest.fixture
def weak_link() -> Iterator[Callable[[list[Endpoint]], None]]:
    """`weak_link(endpoints)`: limit the SRTP sent to these UDP endpoints to WEAK_LINK; lifted after the test."""

    def limit(endpoints: list[Endpoint]) -> None:
        # unclassified packets leave at once (HTB default 0): only the filtered ones are shaped
        tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb")
        tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", WEAK_LINK, "quantum", "1514")
        tc("qdisc", "add", "dev", "lo", "parent", "1:10", "bfifo", "limit", str(WEAK_LINK_QUEUE_BYTES))
        for address, port in endpoints:
            # first payload byte 0b10xxxxxx: RTP or RTCP (RFC 7983), not STUN or DTLS
            tc(
                "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "u32",
                "match", "ip", "protocol", "17", "0xff",
                "match", "ip", "dst", f"{address}/32",
                "match", "ip", "dport", str(port), "0xffff",
                "match", "u8", "0x80", "0xc0", "at", "28",
                "flowid", "1:10",
            )  # fmt: skip

    yield limit
    lift_limit()


def lift_limit() -> None:
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)


def subscribe_endpoints(page: Page) -> list[Endpoint]:
    """The UDP address and port of each local candidate of the page's subscribe connection."""
    candidates: list[list[Any]] = page.evaluate(
        """async () => {
          const found = [];
          (await window.classroomMedia.pcs.subscribe.getStats()).forEach((report) => {
            if (report.type === "local-candidate" && report.protocol === "udp") found.push([report.address, report.port]);
          });
          return found;
        }"""
    )
    assert candidates, "the subscribe connection has no UDP candidate"
    return [(str(address), int(port)) for address, port in candidates]


def record_announcements(page: Page) -> None:
    """Keep every text the page puts in its screen-reader live region, in order."""
    page.evaluate(
        """() => {
          const region = document.getElementById("room-announcer");
          window.announced = [];
          new MutationObserver(() => {
            if (region.textContent) window.announced.push(region.textContent);
          }).observe(region, { childList: true, characterData: true, subtree: true });
        }"""
    )


def wait_last_quality_announcement(page: Page, text: str, timeout_ms: int) -> None:
    """Wait until the last of the page's announcements about the cameras' quality is this text."""
    page.wait_for_function(
        """([text, both]) => window.announced.filter((said) => both.includes(said)).at(-1) === text""",
        arg=[text, [LOWERED, RESTORED]],
        timeout=timeout_ms,
    )


def wait_for_width(page: Page, participant: str, fits: Callable[[int], bool], timeout_ms: int) -> dict[str, Any]:
    """Wait until the participant's camera plays here at a width that fits; return the probe."""
    for _ in range(timeout_ms // 500):
        now = probe(page, participant, "camera")
        if now is not None and now["width"] > 0 and fits(now["width"]):
            playing = wait_playing(page, participant)
            assert fits(playing["width"]), f"camera of {participant} changed size while starting to play: {playing}"
            return playing
        page.wait_for_timeout(500)
    raise AssertionError(
        f"camera of {participant} never played at the expected width: {probe(page, participant, 'camera')}"
    )


def test_weak_link_shows_a_notice_until_the_connection_is_better(
    logged_in_page: PageFactory, weak_link: Callable[[list[Endpoint]], None]
) -> None:
    teacher, url, teacher_id = lesson_with_camera(logged_in_page)
    student = logged_in_page("lea.martin")
    enter(student, url)
    expect(student.locator("html")).to_have_attribute("lang", "fr")
    quality = student.locator("#media-quality")
    expect(quality).to_have_value("normal")
    notice = student.locator("#media-quality-note")
    expect(notice).to_be_hidden()
    on_stage(student, teacher_id)  # a thumbnail would come on the low layer whatever the link
    normal = wait_playing(student, teacher_id)
    assert normal["width"] > LOW_WIDTH
    record_announcements(student)

    weak_link(subscribe_endpoints(student))
    expect(notice).to_be_visible(timeout=LOWER_TIMEOUT_MS)
    expect(notice).to_have_text(LOWERED)
    student.wait_for_function("(text) => window.announced.includes(text)", arg=LOWERED)
    expect(quality).to_have_value("normal")  # the person's choice stays

    # The link gets better at once; the forwarder still sends the low layer until its estimate has
    # grown back, and the teacher's camera goes on playing from it.
    lift_limit()
    low = wait_for_width(student, teacher_id, lambda width: width <= LOW_WIDTH, LOWER_TIMEOUT_MS)
    assert low["width"] * 9 == low["height"] * 16

    expect(notice).to_be_hidden(timeout=RESTORE_TIMEOUT_MS)
    wait_last_quality_announcement(student, RESTORED, RESTORE_TIMEOUT_MS)
    expect(notice).to_have_text("")
    wait_for_width(student, teacher_id, lambda width: width > LOW_WIDTH, LOWER_TIMEOUT_MS)
