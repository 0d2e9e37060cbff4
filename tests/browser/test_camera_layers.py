"""Camera layers in real Chromium pages through the real app.

The teacher's page stops encoding its normal camera layer while nobody receives it: when the
only student picks low quality, the forwarder's tick sends `media.camera_layers` to the teacher's
page after SUSPEND_AFTER_S, and the page deactivates the 640x360 encoding (its outbound bytes
stop); the student picking normal quality again brings it back.

A camera a page shows as a thumbnail (the filmstrip) comes on its 160x90 layer (`media.tiles`);
on the stage, on its 640x360 one.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import PageFactory, show_tab
from .test_media_browser import enter, lesson_with_camera, on_stage, turn_on, wait_playing

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
    on_stage(student, teacher_id)  # a thumbnail would not need the normal layer
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


def wait_width(page: Page, participant: str, small: bool, timeout_ms: int = 20_000) -> dict[str, Any]:
    """Wait until a participant's camera plays here at the low layer's width (160) or above it."""
    playing: dict[str, Any] = {}
    for _ in range(timeout_ms // 500):
        playing = wait_playing(page, participant)
        if (playing["width"] <= 160) == small:
            return playing
        page.wait_for_timeout(500)
    raise AssertionError(f"{participant}'s camera is not {'small' if small else 'large'}: {playing}")


def test_a_thumbnail_gets_the_small_layer_and_the_stage_the_normal_one(logged_in_page: PageFactory) -> None:
    teacher, url, teacher_id = lesson_with_camera(logged_in_page)
    zoe = logged_in_page("zoe.bernard")
    zoe_id = enter(zoe, url)
    turn_on(zoe, "camera")
    lea = logged_in_page("lea.martin")
    enter(lea, url)
    # Léa's stage has the teacher (featured, or pinned if the room shows a deck); Zoé is a thumbnail
    on_stage(lea, teacher_id)
    wait_width(lea, teacher_id, small=False)
    wait_width(lea, zoe_id, small=True)
    expect(lea.locator(f'#stage-main video[data-participant="{teacher_id}"]')).to_have_count(1)
    expect(lea.locator(f'#stage-thumbs video[data-participant="{zoe_id}"]')).to_have_count(1)
    # the teacher still gets Zoé's normal layer: her own stage features her only student camera
    wait_width(teacher, zoe_id, small=False)

    # Léa pins Zoé: Zoé on the stage at 640x360, the teacher in the filmstrip at 160x90
    lea.locator(f'[data-tile="{zoe_id}:camera"] .tile-pin').click()
    wait_width(lea, zoe_id, small=False)
    wait_width(lea, teacher_id, small=True)


def test_a_grid_tile_gets_the_small_layer_only_while_it_is_drawn_small(logged_in_page: PageFactory) -> None:
    teacher, url, teacher_id = lesson_with_camera(logged_in_page)
    zoe = logged_in_page("zoe.bernard")
    zoe_id = enter(zoe, url)
    turn_on(zoe, "camera")
    lea = logged_in_page("lea.martin")
    enter(lea, url)
    lea.locator("#layout-grid").click()
    expect(lea.locator("#media-area")).to_have_attribute("data-stage", "grid")
    # a wide window: the two tiles in the columns that draw them widest, each camera over 500 px
    wait_width(lea, teacher_id, small=False)
    wait_width(lea, zoe_id, small=False)
    for who in (teacher_id, zoe_id):
        video = lea.locator(f'#stage-thumbs video[data-participant="{who}"]').bounding_box()
        assert video is not None and min(video["width"], video["height"] * 16 / 9) > 500
    # a window of 360 x 340: two rows of about 110 px, the 160x90 layer is enough
    lea.set_viewport_size({"width": 360, "height": 340})
    wait_width(lea, teacher_id, small=True)
    wait_width(lea, zoe_id, small=True)
    drawn = lea.locator(f'#stage-thumbs video[data-participant="{zoe_id}"]').bounding_box()
    assert drawn is not None and min(drawn["width"], drawn["height"] * 16 / 9) <= 240
    # wide again: the normal layer comes back
    lea.set_viewport_size({"width": 1280, "height": 800})
    wait_width(lea, teacher_id, small=False)
    wait_width(lea, zoe_id, small=False)
