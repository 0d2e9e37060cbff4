"""bench/school.py's smallest step runs end to end: one lesson of 3 and a recess of 3 on the
production shape (PostgreSQL, Redis, two daphne, two media nodes), joined, talking and receiving
media. It checks that the benchmark still measures something, not how fast: no limit is asserted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import postgres_bin_dir

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL not installed"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
    pytest.mark.timeout(600),
]


def test_one_lesson_and_a_recess_are_measured(tmp_path: Path) -> None:
    out = tmp_path / "school.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "school.py"), "--classes", "1", "--students", "3", "--cameras", "1",
         "--recess", "3", "--spread", "0", "--join", "1", "--settle", "2", "--window", "2", "--no-celery",
         "--workers", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [step] = json.loads(out.read_text())["steps"]
    rooms = {r["name"]: r for r in step["rooms"]}
    assert set(rooms) == {"class-1", "recess"}
    for room in rooms.values():
        # everyone in the room, in the media, and the window's packets counted at the subscribers
        assert room["joined"] == room["participants"] == 4, room
        assert room["media_joined"] == 4, room
        assert room["expected_packets"] > 0, room
        assert room["loss"] is not None and room["loss"] < 0.5, room
        assert room["events"] > 0, room
    # the lesson's events: the deck's pages and the chat reached the others
    assert {"slide", "chat"} <= set(rooms["class-1"]["event_p99_by_kind_ms"]), rooms["class-1"]
    assert "media window" in done.stdout
