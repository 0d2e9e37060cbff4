"""One deck rendered by a real Celery worker over a real Redis, reporting to the room over Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.layers import RedisPubSubChannelLayer
from tests.services import RedisInstance

ROOT = Path(__file__).resolve().parents[2]
TEST_LDIF = ROOT / "tests" / "directory" / "test_school.ldif"

pytestmark = pytest.mark.redis

START_LESSON = """
from classroom.actions.lessons import do_start_lesson
from classroom.models import SchoolClass
from accounts.models import User
print(do_start_lesson(SchoolClass.objects.get(slug="6a"), User.objects.get(username="marie.curie")).pk)
"""

UPLOAD = """
import sys
from django.core.files.uploadedfile import SimpleUploadedFile
from accounts.models import User
from classroom.models import SchoolClass
from slides.actions import do_upload_deck
sys.path.insert(0, {root!r})
from tests.slides.pdfs import deck_pdf
upload = SimpleUploadedFile("Worker.pdf", deck_pdf(4))
print(do_upload_deck(SchoolClass.objects.get(slug="6a"), User.objects.get(username="marie.curie"), upload).pk)
"""


@pytest.fixture
def site(redis_server: RedisInstance, tmp_path: Path) -> dict[str, str]:
    """Environment of a deployment with Redis and a shared SQLite file, migrated and synced."""
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DIRECTORY_LDIF": str(TEST_LDIF),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("LDAP_URI", None)
    for command in (["migrate", "--noinput"], ["sync_directory"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    return env


@pytest.fixture
def worker(site: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = open(tmp_path / "worker.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=site,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def _shell(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


async def _decks_until_ready(layer: RedisPubSubChannelLayer, channel: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["decks"][0]["status"] == "rendering":
        message = await asyncio.wait_for(layer.receive(channel), timeout=60)
        if message["event"]["type"] == "decks":
            seen.append(message["event"])
    return seen


def test_a_real_worker_renders_the_deck_and_reports_to_the_room(site, worker, redis_server, tmp_path):
    room_id = _shell(site, START_LESSON)

    async def scenario() -> tuple[str, list[dict[str, Any]]]:
        layer = RedisPubSubChannelLayer(hosts=[redis_server.url])
        channel = await layer.new_channel()
        await layer.group_add(f"room-{room_id}", channel)
        deck_id = await asyncio.to_thread(_shell, site, UPLOAD.format(root=str(ROOT)))
        seen = await _decks_until_ready(layer, channel)
        await layer.group_discard(f"room-{room_id}", channel)
        await layer.flush()
        return deck_id, seen

    deck_id, seen = asyncio.run(scenario())
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert seen[0]["decks"][0] == {**seen[0]["decks"][0], "id": deck_id, "status": "rendering"}, log
    assert seen[-1]["decks"][0] == {
        "id": deck_id,
        "title": "Worker",
        "pages": 4,
        "status": "ready",
        "progress": 4,
        "error": None,
    }, log
    assert "slides.render_deck" in log
    pages = tmp_path / "media" / "slides" / deck_id / "pages"
    assert sorted(path.name for path in pages.iterdir())[:2] == ["1-large.webp", "1-small.webp"]
    assert len(list(pages.iterdir())) == 8
