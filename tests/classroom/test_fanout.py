"""classroom.events.Fanout: presence events batched per room under load, every room's order kept."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from classroom import events

ROOM = str(uuid.uuid4())
WINDOW = 0.05


def joined(name: str) -> dict[str, Any]:
    return {"type": "participant.joined", "participant": {"id": name}}


def chat(text: str) -> dict[str, Any]:
    return {"type": "chat.message", "message": {"text": text}}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What reached the channel layer, in order (the layer itself is Channels', tested elsewhere)."""
    log: list[tuple[str, dict[str, Any]]] = []

    async def group_send(group: str, message: dict[str, Any]) -> None:
        log.append((group, message))

    monkeypatch.setattr(events, "group_send", group_send)
    return log


def frames(log: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The events each socket of the groups would relay, in order, as 'group:type:id'."""
    out = []
    for group, message in log:
        batch = message["events"] if message["type"] == events.EVENTS else [message["event"]]
        for event in batch:
            key = event.get("participant", event.get("message", {}))
            out.append(
                f"{group[len(events.room_group(ROOM)) :] or '-'}:{event['type']}:{key.get('id', key.get('text'))}"
            )
    return out


async def test_a_lone_presence_event_leaves_at_once(sent: list[Any]) -> None:
    fanout = events.Fanout(asyncio.get_running_loop(), WINDOW)
    await fanout.submit(events.room_group(ROOM), joined("a"))
    assert sent == [(events.room_group(ROOM), {"type": events.EVENT, "event": joined("a")})]


async def test_a_burst_of_joins_leaves_as_one_batch_within_the_window(sent: list[Any]) -> None:
    fanout = events.Fanout(asyncio.get_running_loop(), WINDOW)
    for name in "abcde":
        await fanout.submit(events.room_group(ROOM), joined(name))
    assert len(sent) == 1  # the first at once, the four others wait for the window
    await asyncio.sleep(WINDOW * 3)
    assert len(sent) == 2 and sent[1][1]["type"] == events.EVENTS
    assert frames(sent) == [f"-:participant.joined:{name}" for name in "abcde"]


async def test_another_event_of_the_room_sends_what_waits_first(sent: list[Any]) -> None:
    fanout = events.Fanout(asyncio.get_running_loop(), WINDOW)
    room, moderators = events.room_group(ROOM), events.moderators_group(ROOM)
    await fanout.submit(room, joined("a"))
    await fanout.submit(room, joined("b"))
    await fanout.submit(moderators, {"type": "waiting.updated", "participant": {"id": "w"}})
    await fanout.submit(room, chat("bonjour"))
    await asyncio.sleep(WINDOW * 3)
    assert frames(sent) == [
        "-:participant.joined:a",
        "-:participant.joined:b",
        "-mod:waiting.updated:w",
        "-:chat.message:bonjour",
    ]


async def test_rooms_do_not_wait_for_each_other(sent: list[Any]) -> None:
    fanout = events.Fanout(asyncio.get_running_loop(), WINDOW)
    other = str(uuid.uuid4())
    await fanout.submit(events.room_group(ROOM), joined("a"))
    await fanout.submit(events.room_group(other), joined("b"))
    assert [group for group, _ in sent] == [events.room_group(ROOM), events.room_group(other)]


async def test_a_failed_send_is_logged_and_the_room_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[dict[str, Any]] = []

    async def group_send(group: str, message: dict[str, Any]) -> None:
        if message.get("event", {}).get("type") == "chat.message":
            raise ConnectionError("Redis is gone")
        log.append(message)

    monkeypatch.setattr(events, "group_send", group_send)
    fanout = events.Fanout(asyncio.get_running_loop(), WINDOW)
    await fanout.submit(events.room_group(ROOM), chat("perdu"))
    await fanout.submit(events.room_group(ROOM), joined("a"))
    assert log == [{"type": events.EVENT, "event": joined("a")}]
    assert "could not send 1 events" in caplog.text


async def test_one_actions_events_leave_as_one_message_per_group_in_order(sent: list[Any]) -> None:
    fanout = events.Fanout(asyncio.get_running_loop(), WINDOW)
    room, moderators = events.room_group(ROOM), events.moderators_group(ROOM)
    other_room = events.room_group(uuid.uuid4())
    await fanout.submit_many([(room, chat("1")), (room, joined("a")), (moderators, chat("2")), (other_room, chat("3"))])
    assert [(group, message["type"]) for group, message in sent] == [
        (room, events.EVENTS),
        (moderators, events.EVENT),
        (other_room, events.EVENT),
    ]
    assert [message.get("events", [message.get("event")]) for _, message in sent] == [
        [chat("1"), joined("a")],
        [chat("2")],
        [chat("3")],
    ]
    # the presence event among them opened the window: a join right after waits for it
    await fanout.submit(room, joined("b"))
    assert len(sent) == 3
    await asyncio.sleep(WINDOW * 3)
    assert frames(sent)[-1] == "-:participant.joined:b"


class ActionFailed(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_a_turns_events_wait_for_its_end_but_never_overtake_a_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """events.together(): events collected, a control (or media call) sends those before it first."""
    log: list[tuple[str, str]] = []
    monkeypatch.setattr(events, "_fanout", None)
    monkeypatch.setattr(events, "_group_send", lambda group, message: log.append((group, message["type"])))
    room = events.room_group(ROOM)
    with pytest.raises(ActionFailed), events.together():  # autocommit: on_commit runs at once
        events._send_event(room, chat("1"))
        events._send_event(room, chat("2"))
        assert log == []  # not yet
        events.send_control_on_commit(room, "leave")
        events._send_event(room, chat("3"))
        raise ActionFailed("after its changes were committed")
    # the two events as one message, the control after them, then the last event: sent all the same
    assert log == [(room, events.EVENTS), (room, events.CONTROL), (room, events.EVENT)]
    assert events._turn.events is None  # the thread's next turn collects afresh


@pytest.mark.django_db(transaction=True)
def test_a_turn_cancelled_while_sending_leaves_no_collection_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CancelledError in the flush (daphne cancelling a closed socket's turn) must not keep later events."""
    log: list[str] = []

    def cancelled(group: str, message: dict[str, Any]) -> None:
        raise asyncio.CancelledError

    monkeypatch.setattr(events, "_fanout", None)
    monkeypatch.setattr(events, "_group_send", cancelled)
    with pytest.raises(asyncio.CancelledError), events.together():
        events._send_event(events.room_group(ROOM), chat("1"))
    assert events._turn.events is None
    monkeypatch.setattr(events, "_group_send", lambda group, message: log.append(message["event"]["type"]))
    events._send_event(events.room_group(ROOM), joined("a"))  # another turn's, outside together()
    assert log == ["participant.joined"]


@pytest.mark.django_db(transaction=True)
def test_a_group_that_cannot_be_sent_to_does_not_cost_the_others_their_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[str] = []

    def send(group: str, message: dict[str, Any]) -> None:
        tried.append(group)
        if group == events.room_group(ROOM):
            raise ConnectionError("Redis went away")

    monkeypatch.setattr(events, "_fanout", None)
    monkeypatch.setattr(events, "_group_send", send)
    with events.together():
        events._send_event(events.room_group(ROOM), chat("1"))
        events._send_event(events.moderators_group(ROOM), chat("2"))
    assert tried == [events.room_group(ROOM), events.moderators_group(ROOM)]
