"""/metrics: Prometheus text for local callers or the token holder, values read at scrape time."""

from __future__ import annotations

import asyncio
import re

import pytest
import redis
from django.test import AsyncClient, Client

from accounts.models import User
from classroom.actions.lessons import do_start_lesson
from classroom.models import Room, SchoolClass
from media_server import bus

TOKEN = "a-long-random-token"


@pytest.fixture(autouse=True)
def _token(settings):  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN


def value(text: str, series: str) -> float:
    """The sample of this series (name and labels exactly as written) in the exposition text."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{series} not in\n{text}"
    return float(match.group(1))


def scrape(client: Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def test_a_forwarded_client_without_the_token_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    response = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7").get("/metrics")
    assert response.status_code == 403


def test_a_remote_peer_without_the_token_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    assert Client(REMOTE_ADDR="198.51.100.3").get("/metrics").status_code == 403


def test_a_wrong_token_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    client = Client(REMOTE_ADDR="198.51.100.3", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert client.get("/metrics").status_code == 403


def test_no_token_configured_means_local_callers_only(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="198.51.100.3", HTTP_AUTHORIZATION="Bearer ").get("/metrics").status_code == 403


def test_the_token_opens_it_from_anywhere(db) -> None:  # type: ignore[no-untyped-def]
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    text = scrape(client)
    assert value(text, "cv_media_nodes") == 1.0


@pytest.mark.redis
def test_media_nodes_are_read_from_their_heartbeats_on_redis(db, settings, redis_server) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = redis_server.url.rsplit("/", 1)[0] + "/8"
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    client = Client()
    assert value(scrape(client), "cv_media_nodes") == 0.0

    async def beat() -> None:
        node = bus.BusNode(bus.connect(settings.REDIS_URL), node_id="metrics-node", address="127.0.0.1")
        await node._beat()  # the heartbeat and the registration a serving node writes
        await node.redis.sadd(bus.NODES, node.id)
        await node.redis.aclose()

    asyncio.run(beat())
    text = scrape(client)
    assert value(text, "cv_media_nodes") == 1.0
    assert value(text, 'cv_media_node_rooms{node="metrics-node"}') == 0.0
    assert value(text, 'cv_media_node_packets_per_second{node="metrics-node"}') == 0.0


def test_live_rooms_count_a_lesson_until_it_ends(teacher: User) -> None:
    client = Client()
    assert value(scrape(client), 'cv_rooms_live{kind="lesson"}') == 0.0
    room = do_start_lesson(SchoolClass.objects.get(name="6A"), teacher)
    assert value(scrape(client), 'cv_rooms_live{kind="lesson"}') == 1.0
    Room.objects.filter(pk=room.pk).update(end_reason="ended", ended_at=room.created_at)
    assert value(scrape(client), 'cv_rooms_live{kind="lesson"}') == 0.0


def test_failed_logins_are_counted(db, directory) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    before = value(scrape(client), 'cv_login_failures_total{reason="invalid"}')
    Client().post("/accounts/login/", {"username": "lea.martin", "password": "wrong"})
    assert value(scrape(client), 'cv_login_failures_total{reason="invalid"}') == before + 1


@pytest.mark.django_db(transaction=True)
async def test_participants_and_error_replies_follow_the_room(enter, teacher, student) -> None:  # type: ignore[no-untyped-def]
    client = AsyncClient()
    lesson = await Room.objects.acreate(
        kind=Room.Kind.LESSON,
        title="6A",
        school_class=await SchoolClass.objects.aget(name="6A"),
        created_by=teacher,
    )
    before = (await client.get("/metrics")).content.decode()
    assert value(before, 'cv_participants{status="admitted"}') == 0.0
    socket = await enter(student, lesson)
    assert (await socket.request("room.end"))["code"] == "forbidden"
    after = (await client.get("/metrics")).content.decode()
    assert value(after, 'cv_participants{status="admitted"}') == 1.0
    forbidden = 'cv_error_replies_total{code="forbidden"}'
    assert value(after, forbidden) == value(before, forbidden) + 1
