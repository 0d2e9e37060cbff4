"""The round trips of the most frequent messages: every one waits for PostgreSQL, and under load
each costs milliseconds (docs/protocol.md, "Round trips per message")."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from classroom import events
from classroom import protocol as p
from classroom.actions import presence
from classroom.actions.common import load_actor
from classroom.actions.dispatch import HANDLERS
from classroom.consumers import RoomConsumer
from classroom.models import ChatMessage, Participant, Room
from classroom.permissions import Refused

pytestmark = pytest.mark.django_db


def _run(room: Room, user: User, raw: dict[str, object]) -> list[str]:
    """Run a message as the socket's database turn does; return its SQL."""
    message = p.parse_client_message(raw)
    with CaptureQueriesContext(connection) as queries:
        HANDLERS[message.type](load_actor(str(room.pk), user, False), message)
    return [query["sql"] for query in queries.captured_queries]


def test_a_public_chat_message_is_one_insert_without_a_transaction(lesson, teacher, student):
    for user in (teacher, student):
        presence.do_connect(str(lesson.pk), user)
    sql = _run(lesson, student, {"type": "chat.send", "text": "bonjour"})
    assert len(sql) == 2 and sql[1].startswith("INSERT"), sql  # the actor, then the message
    assert ChatMessage.objects.get(room=lesson).text == "bonjour"


def test_a_hand_is_one_conditional_update_and_raising_it_again_changes_nothing(lesson, teacher, student):
    for user in (teacher, student):
        presence.do_connect(str(lesson.pk), user)
    raised = _run(lesson, student, {"type": "hand.raise"})
    assert not any(query.startswith(("BEGIN", "SAVEPOINT")) or "FOR UPDATE" in query for query in raised), raised
    # the actor, the UPDATE, then the queue and the participant for the events in one SELECT
    assert raised[1].startswith("UPDATE") and raised[2].startswith("SELECT"), raised
    assert len(raised) == 5, raised  # and the participant's standing: a moderator? may they draw?
    first = Participant.objects.get(room=lesson, user=student).hand_raised_at
    assert first is not None
    again = _run(lesson, student, {"type": "hand.raise"})  # a second tab, or a double press
    assert len(again) == 2, again  # the actor and an UPDATE that matched no row: no event
    assert Participant.objects.get(room=lesson, user=student).hand_raised_at == first
    _run(lesson, student, {"type": "hand.lower"})
    assert Participant.objects.get(room=lesson, user=student).hand_raised_at is None


def test_a_moderator_lowering_the_hand_of_someone_not_in_the_room_is_not_found(lesson, teacher, student):
    presence.do_connect(str(lesson.pk), teacher)
    message = p.parse_client_message({"type": "hand.lower", "id": str(student.pk)})
    with pytest.raises(Refused) as refused:
        HANDLERS["hand.lower"](load_actor(str(lesson.pk), teacher, True), message)
    assert refused.value.code == "not_found"


@pytest.mark.django_db(transaction=True)  # autocommit: the events leave as the socket's turn ends
def test_a_hand_tells_the_room_in_one_channel_layer_message(lesson, teacher, student, student2, monkeypatch):
    """The queue and the participant's new state leave together, in this order (`events.together`)."""
    for user in (teacher, student, student2):
        presence.do_connect(str(lesson.pk), user)
    _run(lesson, student2, {"type": "hand.raise"})
    sent: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(events, "_group_send", lambda group, message: sent.append((group, message)))
    # the socket's own database turn
    socket = SimpleNamespace(room_id=str(lesson.pk), user=student, moderator=False)
    message = p.parse_client_message({"type": "hand.raise"})
    assert RoomConsumer._run(socket, HANDLERS["hand.raise"], message) is None  # type: ignore[arg-type]
    assert [(group, message["type"]) for group, message in sent] == [(events.room_group(lesson.pk), events.EVENTS)]
    hands, updated = sent[0][1]["events"]  # type: ignore[misc]
    assert hands == {"type": "hands", "queue": [str(student2.pk), str(student.pk)]}
    assert updated["type"] == "participant.updated" and updated["participant"]["id"] == str(student.pk)
    assert updated["participant"]["hand"] is True
