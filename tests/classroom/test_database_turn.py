"""classroom.events.database_turn: a turn's sends leave from the loop after it, in order, the thread free."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from classroom import events
from classroom import protocol as p

ROOM = str(uuid.uuid4())
# on_commit asks the connection whether it is in a transaction; autocommit runs it at once
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    log: list[tuple[str, dict[str, Any]]] = []

    async def group_send(group: str, message: dict[str, Any]) -> None:
        log.append((group, message))

    monkeypatch.setattr(events, "group_send", group_send)
    return log


def kinds(log: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [message.get("event", {}).get("type") or message.get("action") or message["type"] for _, message in log]


@pytest.mark.parametrize("batched", [False, True], ids=["layer", "fanout"])
async def test_the_sends_of_a_turn_leave_after_it_in_commit_order(
    sent: list[Any], batched: bool, settings: Any
) -> None:
    if batched:
        settings.ROOM_PRESENCE_BATCH_SECONDS = 0.05
        events.serve(asyncio.get_running_loop())
    else:
        settings.ROOM_PRESENCE_BATCH_SECONDS = 0
    called: list[str] = []

    async def bridge(room_id: str) -> None:
        called.append(room_id)
        sent.append(("bridge", {"type": "bridge"}))

    seen_in_thread: list[Any] = []

    def action() -> str:
        events.send_event_on_commit(events.room_group(ROOM), p.Speaking(ids=["1"]))
        events.send_control_on_commit(events.everyone_group(ROOM), "ended", reason="ended")
        events.call_on_commit(bridge, ROOM)
        seen_in_thread.extend(sent)  # nothing went from the database thread
        return "done"

    assert await events.database_turn(action) == "done"
    assert seen_in_thread == []
    assert kinds(sent) == ["speaking", "ended", "bridge"]  # an event before the close that follows it
    assert called == [ROOM]


async def test_the_database_thread_is_free_while_a_turn_s_events_go_out(monkeypatch: pytest.MonkeyPatch) -> None:
    going, release = asyncio.Event(), asyncio.Event()

    async def slow_group_send(group: str, message: dict[str, Any]) -> None:
        going.set()
        await release.wait()  # a PUBLISH to a Redis that answers late

    monkeypatch.setattr(events, "group_send", slow_group_send)
    turn = asyncio.create_task(
        events.database_turn(events.send_event_on_commit, events.room_group(ROOM), p.Speaking(ids=["1"]))
    )
    await asyncio.wait_for(going.wait(), 5)
    # another socket's message has the database thread meanwhile (it waited for the PUBLISH before)
    assert await asyncio.wait_for(database_sync_to_async(lambda: "answered")(), 2) == "answered"
    assert not turn.done()  # the turn's caller answers its socket only once the event is out
    release.set()
    await asyncio.wait_for(turn, 5)


async def test_what_a_turn_committed_goes_out_even_if_it_then_fails(
    sent: list[Any], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ROOM_PRESENCE_BATCH_SECONDS = 0

    def action() -> None:
        events.send_event_on_commit(events.room_group(ROOM), p.Speaking(ids=["1"]))
        raise RuntimeError("after the commit")

    with pytest.raises(RuntimeError):
        await events.database_turn(action)
    assert kinds(sent) == ["speaking"]
