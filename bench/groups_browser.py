"""Benchmark breakout groups in real browsers: students' pages moving into their groups and back, media playing.

A teacher and --students students (default 4) in headless Chromium with fake cameras and
microphones, each student's camera and microphone on, every page in the lesson. The teacher's
page sends `groups.open` (--groups random groups, default 2), later `groups.close`. For each
student's page it prints the time from the message to
  in group   the page shows its group (`#group-banner`, the address is the group room's);
  playing    every group mate's video plays there (frames decoded, time advancing);
and after `groups.close` the same back in the lesson (every other student's video playing), and
how many RTCPeerConnections the pages made during the cycle (0 when every move kept its
connections: media.join `resume`; "n/a" for a page that does not count them). --console prints
the pages' console warnings and errors of each cycle.
One daphne process on SQLite (the embedded default, media forwarder in process), sessions straight
from Django's SessionStore as bench/room_fanout.py does.

Run it inside the test network namespace (ICE needs an address that is not loopback):

    scripts/netns-run .venv/bin/python bench/groups_browser.py
    scripts/netns-run .venv/bin/python bench/groups_browser.py --students 6 --groups 2 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.room_fanout import Database, daphnes, percentile, start_lesson  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--no-proxy-server",
]  # fmt: skip
STEP_TIMEOUT = 60.0

# What a page shows now: its room, whether the group banner is up, and which ids' videos play.
PAGE_STATE = """() => {
  const room = window.classroomRoom;
  const playing = [...document.querySelectorAll("video[data-participant][data-source=camera]")]
    .filter((v) => !v.paused && v.readyState >= 2 && v.currentTime > 0
      && (!v.getVideoPlaybackQuality || v.getVideoPlaybackQuality().totalVideoFrames > 0))
    .map((v) => v.dataset.participant);
  const banner = document.querySelector("#group-banner");
  const others = room && room.state.you
    ? [...room.state.participants.values()].filter((p) => !p.moderator && String(p.id) !== String(room.state.you.id))
        .map((p) => String(p.id))
    : [];
  return { room: String(room.config.roomId), grouped: Boolean(banner && !banner.hidden), playing, others,
           connected: Boolean(room.state.you) };
}"""


async def watch(page: Any, since: float, arrived: Any, timeout: float = STEP_TIMEOUT) -> tuple[float, float]:
    """Poll the page until `arrived(state)` holds, then until every other student there plays."""
    deadline = since + timeout
    entered = None
    while time.perf_counter() < deadline:
        state = await page.evaluate(PAGE_STATE)
        now = time.perf_counter()
        if entered is None and state["connected"] and arrived(state):
            entered = now - since
        if entered is not None and state["others"] and set(state["others"]) <= set(state["playing"]):
            return entered, now - since
        await asyncio.sleep(0.05)
    raise TimeoutError(f"a page did not get there in {timeout:.0f} s (in: {entered})")


async def connections_made(pages: list[Any]) -> int | None:
    """The RTCPeerConnections the pages made so far (static/js/room/media.js counts them), or None."""
    counts = [await page.evaluate("() => window.classroomMedia.connectionsMade ?? null") for page in pages]
    return None if None in counts else sum(counts)


async def measure(
    url: str, lesson: str, teacher: str, students: list[str], groups: int, reps: int, console: bool = False
) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={url}"],
        )

        said: list[str] = []

        async def open_page(session: str) -> Any:
            context = await browser.new_context(base_url=url, locale="fr-FR", viewport={"width": 1000, "height": 700})
            await context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
            page = await context.new_page()
            if console:
                page.on(
                    "console", lambda m: said.append(f"{m.type}: {m.text}") if m.type in ("warning", "error") else None
                )
            await page.goto(f"/rooms/{lesson}/")
            await page.wait_for_function("() => window.classroomRoom && window.classroomRoom.state.you", timeout=30_000)
            return page

        teacher_page = await open_page(teacher)
        pages = [await open_page(session) for session in students]
        for page in pages:
            for action in ("camera", "microphone"):
                await page.click(f'[data-action="{action}"]')
                await page.wait_for_selector(f'[data-action="{action}"][aria-pressed="true"]', timeout=30_000)
        start = time.perf_counter()
        await asyncio.gather(*(watch(page, start, lambda s: s["room"] == lesson) for page in pages))
        print(
            f"  all {len(pages)} students see each other in the lesson after {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        for rep in range(1, reps + 1):
            await asyncio.sleep(2.0)
            made = await connections_made(pages)
            said.clear()
            sent = time.perf_counter()
            await teacher_page.evaluate(
                f'() => window.classroomRoom.send({{ type: "groups.open", count: {groups}, mode: "random" }})'
            )
            opened = await asyncio.gather(
                *(watch(page, sent, lambda s: s["grouped"] and s["room"] != lesson) for page in pages)
            )
            await asyncio.sleep(2.0)
            sent = time.perf_counter()
            await teacher_page.evaluate('() => window.classroomRoom.send({ type: "groups.close" })')
            back = await asyncio.gather(
                *(watch(page, sent, lambda s: s["room"] == lesson and not s["grouped"]) for page in pages)
            )
            for label, times in (("open ", opened), ("close", back)):
                entered = [t[0] for t in times]
                playing = [t[1] for t in times]
                print(
                    f"  cycle {rep} {label}: in the room p50 {percentile(entered, 50) * 1000:5.0f} last "
                    f"{max(entered) * 1000:5.0f} ms | every mate's video playing p50 {percentile(playing, 50) * 1000:5.0f} "
                    f"last {max(playing) * 1000:5.0f} ms",
                    flush=True,
                )
            after = await connections_made(pages)
            new = "n/a" if made is None or after is None else str(after - made)
            print(f"  cycle {rep}: RTCPeerConnections made by the students' pages: {new}", flush=True)
            for line in said:
                print(f"    console {line}", flush=True)
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--console", action="store_true", help="print the pages' console warnings and errors")
    args = parser.parse_args()
    if not 2 <= args.groups <= 20 or not 2 * args.groups <= args.students <= 40 or not 1 <= args.reps <= 20:
        parser.error("2-20 groups of at least 2 students (at most 40 students), 1-20 cycles")
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="cv-bench-groups-browser-"))
    try:
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LDAP_URI", "DATABASE_URL")},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": "bench-groups-browser",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "LDAP_URI": "",
            "LOG_LEVEL": "WARNING",
        }
        database = Database(tmp)
        database.prepare(args.students, env)
        env["DATABASE_URL"] = database.url("room")
        env["DIRECTORY_LDIF"] = str(tmp / "school.ldif")
        os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "DATABASE_URL",
                                                "LDAP_URI", "DIRECTORY_LDIF")})  # fmt: skip
        import django

        django.setup()
        database.fresh()
        lesson = start_lesson(args.students)
        load = os.getloadavg()
        print(
            f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
            f"{args.students} students in {args.groups} groups, cameras and microphones on",
            flush=True,
        )
        with daphnes(1, env) as (ports, _procs):
            url = f"http://127.0.0.1:{ports[0]}"
            asyncio.run(
                measure(url, lesson.room, lesson.teacher, lesson.students, args.groups, args.reps, args.console)
            )
        load = os.getloadavg()
        print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
