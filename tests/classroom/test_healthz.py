import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis
from django.test import Client

from media_server import bus
from tests.livesite import LESSON_SETUP, ROOT, LiveSite, Server


def test_healthz_reports_each_component(db) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/healthz")
    body = json.loads(response.content)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["channel_layer"] == "ok"
    assert "media" in body


def test_healthz_is_503_when_the_channel_layer_is_down(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "config.layers.RedisPubSubChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = Client().get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["status"] == "down" and body["channel_layer"].startswith("down")


def test_healthz_checks_leave_no_channel_subscribed(settings, redis_server) -> None:  # type: ignore[no-untyped-def]
    """Each check makes a channel on the pub/sub layer; it must not stay subscribed (a monitor calls often)."""
    from channels.layers import channel_layers

    from classroom.monitoring import _check_channel_layer

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "config.layers.RedisPubSubChannelLayer", "CONFIG": {"hosts": [redis_server.url]}}
    }
    channel_layers.backends.clear()

    async def checks() -> tuple[list[str], int]:
        results = [await _check_channel_layer() for _ in range(5)]
        layer = channel_layers["default"]
        left = len(layer._get_layer().channels)
        await layer.flush()
        return results, left

    try:
        results, left = asyncio.run(checks())
    finally:
        channel_layers.backends.clear()
    assert results == ["ok"] * 5
    assert left == 0
    subscribed = redis.Redis.from_url(redis_server.url).pubsub_channels("specific.*")
    assert subscribed == []


@pytest.fixture
def live_lesson_on_redis(redis_server, tmp_path) -> Iterator[tuple[Server, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A daphne on Redis with one media node, as production runs them, and a live lesson."""
    url = redis_server.url.rsplit("/", 1)[0] + "/7"
    client = redis.Redis.from_url(url)
    client.flushdb()
    site = LiveSite(tmp_path, REDIS_URL=url)
    data = site.shell(LESSON_SETUP)
    node = subprocess.Popen(
        [sys.executable, "-m", "media_server", "--redis", url, "--node-id", "healthz-node", "--log-level", "WARNING"],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while not client.exists(bus.node_key("healthz-node")):
            assert node.poll() is None and time.monotonic() < deadline, "the media node never registered"
            time.sleep(0.05)
        yield site.start(), data
    finally:
        site.stop()
        node.terminate()
        node.wait(timeout=10)


@pytest.mark.redis
async def test_healthz_is_200_on_a_process_with_a_live_room_socket(live_lesson_on_redis) -> None:  # type: ignore[no-untyped-def]
    server, data = live_lesson_on_redis
    async with server.socket(data["room"], data["teacher"]) as teacher:
        await teacher.recv()  # state: the socket is in the room, reading from the channel layer
        status, _, text = await asyncio.to_thread(server.request, "GET", "/healthz")
        body = json.loads(text)
        assert status == 200, body
        assert body["channel_layer"] == "ok" and body["database"] == "ok"
        assert [node["id"] for node in body["media"]["nodes"]] == ["healthz-node"]
        await teacher.send(json.dumps({"type": "ping", "ref": 1}))
        assert json.loads(await teacher.recv()) == {"type": "ok", "ref": 1}


def test_healthz_is_503_when_redis_has_no_media_node(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content)["media"]["status"].startswith("down")
