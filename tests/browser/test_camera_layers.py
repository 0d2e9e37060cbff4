"""The teacher's page stops encoding its normal camera layer while nobody receives it.

Real Chromium pages through the real app: when the only student picks low quality, the
forwarder's tick sends `media.camera_layers` to the teacher's page after SUSPEND_AFTER_S, and the
page deactivates the 640x360 encoding (its outbound bytes stop); the student picking normal
quality again brings it back.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from .conftest import PageFactory, show_tab
from .test_media_browser import enter, lesson_with_camera, wait_playing

pytestmark = pytest.mark.browser

# the forwarder waits SUSPEND_AFTER_S (5 s) before it asks; the page then stops within a frame
SUSPEND_TIMEOUT_MS = 30_000


def sent_bytes(page: Page) -> dict[str, Any]:
    """The publish connection's bytes sent by camera layer (0: normal, 1: low) and what the page holds."""
    result: dict[str, Any] = page.evaluate(
        """async () => {
          const media = window.classroomMedia;
          const pc = media.pcs.publish;
          const mids = {};
          for (const t of pc.getTransceivers()) {
            if (t.sender === media.publish.senders.camera) mids[t.mid] = "normal";
            if (t.sender === media.publish.senders.cameraLow) mids[t.mid] = "low";
          }
          const bytes = { normal: 0, low: 0 };
          (await pc.getStats()).forEach((report) => {
            if (report.type === "outbound-rtp" && report.mid in mids) bytes[mids[report.mid]] = report.bytesSent;
          });
          const active = {
            normal: media.publish.senders.camera.getParameters().encodings[0].active,
            low: media.publish.senders.cameraLow.getParameters().encodings[0].active,
          };
          return { bytes, active };
        }"""
    )
    return result


def wait_layer(page: Page, layer: str, flowing: bool, timeout_ms: int = SUSPEND_TIMEOUT_MS) -> None:
    """Wait until a camera layer's encoding is (in)active and its bytes sent do (not) grow over 1 s."""
    for _ in range(timeout_ms // 1000):
        before = sent_bytes(page)
        page.wait_for_timeout(1000)
        after = sent_bytes(page)
        grows = after["bytes"][layer] > before["bytes"][layer]
        if after["active"][layer] == flowing and grows == flowing:
            return
    raise AssertionError(f"the {layer} camera layer is not {'flowing' if flowing else 'stopped'}: {sent_bytes(page)}")


def test_the_normal_layer_stops_while_nobody_receives_it_and_comes_back_when_a_student_picks_it(
    logged_in_page: PageFactory,
) -> None:
    teacher, url, teacher_id = lesson_with_camera(logged_in_page)
    student = logged_in_page("lea.martin")
    enter(student, url)
    normal = wait_playing(student, teacher_id)
    assert normal["width"] > 160
    wait_layer(teacher, "normal", flowing=True)

    # the only student picks low quality: the teacher's page stops encoding the normal layer
    show_tab(student, "more")
    student.select_option("#media-quality", "low")
    low = wait_playing(student, teacher_id)
    assert low["width"] <= 160
    wait_layer(teacher, "normal", flowing=False)
    wait_layer(teacher, "low", flowing=True)
    wait_playing(student, teacher_id)

    # back to normal quality: the normal layer is sent again and plays
    student.select_option("#media-quality", "normal")
    wait_layer(teacher, "normal", flowing=True)
    for _ in range(60):
        playing = wait_playing(student, teacher_id)
        if playing["width"] > 160:
            break
        student.wait_for_timeout(500)
    assert playing["width"] > 160 and playing["width"] * 9 == playing["height"] * 16
