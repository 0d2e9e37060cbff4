"""Camera, microphone and screen between real browsers through the embedded forwarder (issue 4).

Chromium's fake devices stand in for the camera and microphone; with the fake UI flag,
getDisplayMedia captures a fake screen without asking.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import PageFactory, show_tab

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/rooms/[0-9a-f-]{36}/$")
MEDIA_TIMEOUT = 20_000


def start_lesson(page: Page, slug: str) -> str:
    """Start (or rejoin) the class's lesson with the default student permissions; return its URL."""
    page.goto(f"/classes/{slug}/")
    page.click('form[data-action="start-lesson"] button[type=submit]')
    page.wait_for_url(ROOM_URL)
    expect(page.locator("#screen-room")).to_be_visible()
    page.evaluate(
        """() => window.classroomRoom.send({ type: "room.update",
             students_can: { audio: true, video: true, screen: false, chat: true } })"""
    )
    return page.url


def enter(page: Page, url: str) -> str:
    """Open the room and return my participant id."""
    page.goto(url)
    expect(page.locator("#screen-room")).to_be_visible()
    return str(page.evaluate("window.classroomRoom.youId"))


def turn_on(page: Page, action: str) -> None:
    button = page.locator(f'[data-action="{action}"]')
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true", timeout=MEDIA_TIMEOUT)


def lesson_with_camera(logged_in_page: PageFactory) -> tuple[Page, str, str]:
    """Marie Curie starts 6A's lesson and turns her camera on; return her page, the URL, her id."""
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")
    teacher_id = str(teacher.evaluate("window.classroomRoom.youId"))
    turn_on(teacher, "camera")
    return teacher, url, teacher_id


def video_of(page: Page, participant: str, source: str = "camera") -> Any:
    return page.locator(f'video[data-participant="{participant}"][data-source="{source}"]')


def on_stage(page: Page, participant: str, source: str = "camera") -> None:
    """Have a participant's video on this page's main stage: pinned there if the deck or another has it.

    A video in the filmstrip comes on its small layer (media.tiles): a test of the normal layer
    needs it on the stage, whatever the room shows (a room of an earlier test may show its deck).
    """
    expect(video_of(page, participant, source)).to_have_count(1, timeout=MEDIA_TIMEOUT)
    stage = page.locator(f'#stage-main video[data-participant="{participant}"][data-source="{source}"]')
    if stage.count() == 0:
        page.locator(f'[data-tile="{participant}:{source}"] .tile-pin').click()
    expect(stage).to_have_count(1)


def probe(page: Page, participant: str, source: str) -> dict[str, Any] | None:
    """What a person would see of a participant's video here, and what the decoder says about it."""
    result: dict[str, Any] | None = page.evaluate(
        """async ([participant, source]) => {
          const video = document.querySelector(`video[data-participant="${participant}"][data-source="${source}"]`);
          const media = window.classroomMedia;
          const slot = media.slots.find((s) => String(s.peer) === participant && s.source === source);
          const pc = media.pcs.subscribe;
          if (!video || !slot || !pc) return null;
          let framesDecoded = 0;
          (await pc.getStats()).forEach((report) => {
            if (report.type === "inbound-rtp" && report.kind === "video" && report.mid === slot.mid) {
              framesDecoded = report.framesDecoded || 0;
            }
          });
          return { width: video.videoWidth, height: video.videoHeight, time: video.currentTime,
                   paused: video.paused, framesDecoded };
        }""",
        [participant, source],
    )
    return result


def wait_playing(
    page: Page, participant: str, source: str = "camera", timeout_ms: int = MEDIA_TIMEOUT
) -> dict[str, Any]:
    """Wait until the participant's video plays here: a picture, time and decoded frames advancing."""
    first: dict[str, Any] | None = None
    for _ in range(timeout_ms // 250):
        now = probe(page, participant, source)
        if now is not None and now["width"] > 0 and now["framesDecoded"] > 0:
            if first is None:
                first = now
            elif now["time"] > first["time"] and now["framesDecoded"] >= first["framesDecoded"] + 5:
                return now
        page.wait_for_timeout(250)
    raise AssertionError(f"{source} of {participant} is not playing: last probe {probe(page, participant, source)}")


def frames_stop(page: Page, participant: str, source: str = "camera", timeout_ms: int = 10_000) -> None:
    """Wait until no more frames of that video decode here (or the video is gone)."""
    last = None
    for _ in range(timeout_ms // 500):
        now = probe(page, participant, source)
        if now is None:
            return
        if last is not None and now["framesDecoded"] == last["framesDecoded"]:
            return
        last = now
        page.wait_for_timeout(500)
    raise AssertionError(f"{source} of {participant} is still playing: {probe(page, participant, source)}")


def test_student_sees_the_teachers_camera_playing(logged_in_page: PageFactory) -> None:
    teacher, url, teacher_id = lesson_with_camera(logged_in_page)
    turn_on(teacher, "microphone")
    # the teacher sees their own camera, muted
    expect(video_of(teacher, teacher_id)).to_have_count(1)

    student = logged_in_page("lea.martin")
    enter(student, url)
    playing = wait_playing(student, teacher_id)
    # the normal layer: 640x360 captured, maybe scaled down while the encoder ramps up
    assert playing["width"] > 160 and playing["width"] * 9 == playing["height"] * 16
    # the teacher's camera is the large tile, and the participant list says what is on
    expect(student.locator(f'#stage-main video[data-participant="{teacher_id}"][data-source="camera"]')).to_be_visible()
    row = student.locator(f'#participant-list [data-participant="{teacher_id}"]')
    expect(row.locator('[data-badge="video"]')).to_be_visible(timeout=MEDIA_TIMEOUT)
    expect(row.locator('[data-badge="audio"]')).to_be_visible(timeout=MEDIA_TIMEOUT)
    # the fake microphone beeps: the forwarder gives its sound a slot, played by an <audio>
    expect(student.locator(f'audio[data-participant="{teacher_id}"][data-source="microphone"]')).to_have_count(
        1, timeout=MEDIA_TIMEOUT
    )

    # Sound only: the video goes away; back to low quality: the small camera layer comes.
    show_tab(student, "more")
    student.select_option("#media-quality", "audio")
    expect(video_of(student, teacher_id)).to_have_count(0, timeout=MEDIA_TIMEOUT)
    student.select_option("#media-quality", "low")
    low = wait_playing(student, teacher_id)
    assert low["width"] <= 160 and low["width"] * 9 == low["height"] * 16


def test_students_camera_reaches_the_teacher_only_while_allowed(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")
    student = logged_in_page("zoe.bernard")
    student_id = enter(student, url)

    turn_on(student, "camera")
    wait_playing(teacher, student_id)

    show_tab(teacher, "more")
    teacher.locator("#set-video").uncheck()
    camera = student.locator('[data-action="camera"]')
    expect(camera).to_be_disabled()
    expect(camera).to_have_attribute("aria-pressed", "false")
    frames_stop(teacher, student_id)
    expect(video_of(teacher, student_id)).to_have_count(0)

    # Allowed again: the student turns the camera back on and the teacher sees it.
    teacher.locator("#set-video").check()
    expect(camera).to_be_enabled()
    turn_on(student, "camera")
    wait_playing(teacher, student_id)


def test_forwarder_refuses_a_forbidden_camera_whatever_the_page_does(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")
    show_tab(teacher, "more")
    teacher.locator("#set-video").uncheck()
    student = logged_in_page("lea.martin")
    student_id = enter(student, url)
    expect(student.locator('[data-action="camera"]')).to_be_disabled()
    # a page that ignores the disabled button still publishes nothing that the forwarder passes on
    student.evaluate(
        """async () => {
          const media = window.classroomMedia;
          const stream = await navigator.mediaDevices.getUserMedia({ video: true });
          media.local.camera = stream.getVideoTracks()[0];
          await media.ensurePublisher();
          await media.sendLocal();
        }"""
    )
    teacher.wait_for_timeout(3000)  # the point: nothing arrives in the time a camera would take to play
    assert probe(teacher, student_id, "camera") is None
    expect(video_of(teacher, student_id)).to_have_count(0)


def test_teachers_screen_share_shows_on_the_students_page(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")
    teacher_id = str(teacher.evaluate("window.classroomRoom.youId"))
    student = logged_in_page("lea.martin")
    enter(student, url)

    turn_on(teacher, "camera")
    turn_on(teacher, "screen")
    wait_playing(student, teacher_id, "screen")
    # the screen takes the large place, the camera goes on playing as a thumbnail
    expect(student.locator(f'#stage-main video[data-participant="{teacher_id}"][data-source="screen"]')).to_be_visible()
    expect(
        student.locator(f'#stage-thumbs video[data-participant="{teacher_id}"][data-source="camera"]')
    ).to_be_visible()
    wait_playing(student, teacher_id, "camera")

    teacher.click('[data-action="screen"]')
    expect(teacher.locator('[data-action="screen"]')).to_have_attribute("aria-pressed", "false")
    expect(video_of(student, teacher_id, "screen")).to_have_count(0, timeout=MEDIA_TIMEOUT)


def test_video_comes_back_after_the_room_socket_reconnects(logged_in_page: PageFactory) -> None:
    teacher, url, teacher_id = lesson_with_camera(logged_in_page)
    student = logged_in_page("lea.martin")
    enter(student, url)
    wait_playing(student, teacher_id)

    # Both sockets drop; neither page reloads, and the camera plays again without a click.
    teacher.evaluate("window.classroomRoom.client.socket.close()")
    student.evaluate("window.classroomRoom.client.socket.close()")
    expect(teacher.locator("#connection-banner")).to_have_attribute("data-state", "ok", timeout=MEDIA_TIMEOUT)
    expect(teacher.locator('[data-action="camera"]')).to_have_attribute("aria-pressed", "true")
    wait_playing(student, teacher_id)


def test_media_recovers_from_a_failed_connection_and_a_reconnect_request(logged_in_page: PageFactory) -> None:
    teacher, url, teacher_id = lesson_with_camera(logged_in_page)
    student = logged_in_page("lea.martin")
    enter(student, url)
    wait_playing(student, teacher_id)

    # What the page does when ICE fails: media.restart, then a new subscribe connection.
    before = student.evaluate_handle("window.classroomMedia.pcs.subscribe")
    student.evaluate("window.classroomMedia.restart(window.classroomMedia.subscribe)")
    student.wait_for_function("(old) => window.classroomMedia.pcs.subscribe !== old", arg=before)
    wait_playing(student, teacher_id)

    # The server asks the teacher's page to start media again: it republishes without a click.
    teacher.evaluate("window.classroomRoom.client.emit({ type: 'media.reconnect', reason: 'failed' })")
    expect(teacher.locator('[data-action="camera"]')).to_have_attribute("aria-pressed", "true")
    wait_playing(student, teacher_id)


def test_a_muted_student_camera_stops(logged_in_page: PageFactory) -> None:
    teacher = logged_in_page("marie.curie")
    url = start_lesson(teacher, "6a")
    student = logged_in_page("lea.martin")
    student_id = enter(student, url)
    turn_on(student, "camera")
    wait_playing(teacher, student_id)

    row = teacher.locator(f'#participant-list [data-participant="{student_id}"]')
    row.locator("summary").click()
    row.locator('[data-act="mute-video"]').click()
    expect(student.locator('[data-action="camera"]')).to_have_attribute("aria-pressed", "false")
    assert student.evaluate("window.classroomMedia.local.camera") is None
    frames_stop(teacher, student_id)


def test_a_second_tab_takes_the_media_and_the_first_can_take_it_back(logged_in_page: PageFactory) -> None:
    teacher, url, teacher_id = lesson_with_camera(logged_in_page)
    first = logged_in_page("lea.martin")  # e.g. the computer
    enter(first, url)
    wait_playing(first, teacher_id)

    second = logged_in_page("lea.martin")  # e.g. the phone
    enter(second, url)
    wait_playing(second, teacher_id)
    notice = first.locator("#media-moved")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("autre onglet")
    assert first.evaluate("window.classroomMedia.pcs") == {"publish": None, "subscribe": None}
    # no tug of war: the second tab keeps its connection
    kept = second.evaluate_handle("window.classroomMedia.pcs.subscribe")
    second.wait_for_timeout(4000)  # the point: the first tab does not take the media back in that time
    assert second.evaluate("(pc) => window.classroomMedia.pcs.subscribe === pc", kept)
    wait_playing(second, teacher_id)
    expect(second.locator("#media-moved")).to_have_count(0)

    first.get_by_role("button", name="Utiliser ici").click()
    expect(notice).to_be_hidden()
    wait_playing(first, teacher_id)
    expect(second.locator("#media-moved")).to_be_visible()
    assert second.evaluate("window.classroomMedia.pcs.subscribe") is None

    # closing the tab that has the media gives it back to the other one, with no click
    first.close()
    expect(second.locator("#media-moved")).to_be_hidden()
    wait_playing(second, teacher_id)
