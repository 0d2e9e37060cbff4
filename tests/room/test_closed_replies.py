"""The `ok` replies, `media.moved`/`media.released` and `state`'s slides fields are closed schemas."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from classroom import events
from classroom import protocol as p


def _closed(model: type[p.Event], **fields: object) -> dict[str, object]:
    """Dump a reply; a field it does not declare is refused."""
    with pytest.raises(ValidationError):
        model(**fields, unexpected=1)
    return p.dump(model(**fields))


def test_plain_ok_is_closed():
    assert _closed(p.Ok, ref="r") == {"type": "ok", "ref": "r"}


def test_chat_sent_is_closed():
    assert _closed(p.ChatSent, ref=1, id="7") == {"type": "ok", "ref": 1, "id": "7"}


def test_vote_recorded_is_closed():
    assert _closed(p.VoteRecorded, ref="v", poll="3", choices=[0, 2]) == {
        "type": "ok",
        "ref": "v",
        "poll": "3",
        "choices": [0, 2],
    }


def test_muted_all_is_closed():
    assert _closed(p.MutedAll, ref="m", muted=["4"]) == {"type": "ok", "ref": "m", "muted": ["4"]}


def test_admitted_all_is_closed():
    assert _closed(p.AdmittedAll, ref="a", admitted=["5"]) == {"type": "ok", "ref": "a", "admitted": ["5"]}


def test_left_open_is_closed():
    assert _closed(p.LeftOpen, ref="l", closes_at=None) == {"type": "ok", "ref": "l", "closes_at": None}


def test_slides_shown_is_closed():
    slides = p.SlidesObject(deck="2", page=1, pages=3)
    assert _closed(p.SlidesShown, ref="s", slides=slides) == {
        "type": "ok",
        "ref": "s",
        "slides": {"deck": "2", "page": 1, "pages": 3},
    }
    with pytest.raises(ValidationError):
        p.SlidesObject(deck="2", page=1, pages=3, extra=1)


def test_poll_created_is_closed():
    fields = p.PollCreated.model_fields["poll"].annotation
    assert fields is p.PollObject
    with pytest.raises(ValidationError):
        p.PollCreated(ref="p", poll={}, unexpected=1)


def test_media_moved_is_closed():
    assert _closed(p.MediaMoved) == {"type": "media.moved", "reason": "other_tab"}


def test_media_released_is_closed():
    assert _closed(p.MediaReleased) == {"type": "media.released", "reason": "owner_left"}


def test_state_decks_are_deck_objects():
    with pytest.raises(ValidationError):
        p.DeckObject(id="1", title="t", pages=1, status="ready", progress=1, error=None, extra=1)
    assert p.State.model_fields["decks"].annotation == list[p.DeckObject]
    assert p.State.model_fields["slides"].annotation == p.SlidesObject | None


async def test_an_event_for_a_socket_its_client_just_closed_is_no_failure():
    """daphne refuses a send after the client's close: no exception ends the socket (its disconnect follows)."""
    from autobahn.exception import Disconnected

    from classroom.consumers import RoomConsumer

    consumer = RoomConsumer()
    sent: list[object] = []

    async def closed(**message: object) -> None:
        sent.append(message)
        raise Disconnected("Attempt to send on a closed protocol")

    consumer.send = closed  # type: ignore[method-assign]
    await consumer.room_event({"type": "room.event", "event": {"type": "chat.message", "id": "1"}})
    assert consumer.closing and len(sent) == 1
    await consumer.room_event({"type": "room.event", "event": {"type": "chat.message", "id": "2"}})
    assert len(sent) == 1  # a closing socket is not sent to again

    # the same for the text a room relays as it is (annotations' points, events.send_text)
    consumer = RoomConsumer()
    consumer.send = closed  # type: ignore[method-assign]
    await consumer.dispatch({"type": events.TEXT, "text": '{"type": "annotation.points"}'})
    assert consumer.closing and len(sent) == 2
    await consumer.dispatch({"type": events.TEXT, "text": '{"type": "annotation.points"}'})
    assert len(sent) == 2
