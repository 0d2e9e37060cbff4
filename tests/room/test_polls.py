"""Polls: creation, one vote per user, live counts to moderators, closing and publishing."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def _poll(teacher_socket, **fields):
    reply = await teacher_socket.request(
        "poll.create", **{"question": "Capitale ?", "options": ["Paris", "Lyon"], "anonymous": False, "multiple": False, **fields}
    )
    assert reply["type"] == "ok", reply
    return reply["poll"]


async def test_poll_create_opens_the_poll_for_everyone(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    opened = await socket.expect("poll.opened")
    assert opened["poll"] == {**poll, "status": "open"}
    assert opened["poll"]["options"] == ["Paris", "Lyon"]


async def test_moderators_see_live_counts_with_names(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    assert (await socket.request("poll.vote", poll=poll["id"], choices=[1]))["type"] == "ok"
    results = await teacher_socket.expect("poll.results")
    assert results["poll"]["counts"] == [0, 1]
    assert results["poll"]["voters"] == 1
    assert results["poll"]["votes"] == [{"id": str(student.pk), "name": "Léa Martin", "choices": [1]}]
    await socket.quiet("poll.results")


async def test_anonymous_poll_results_name_nobody(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket, anonymous=True)
    await socket.request("poll.vote", poll=poll["id"], choices=[0])
    results = await teacher_socket.expect("poll.results")
    assert results["poll"]["counts"] == [1, 0]
    assert "votes" not in results["poll"]


async def test_second_vote_is_a_conflict(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    await socket.request("poll.vote", poll=poll["id"], choices=[0])
    assert (await socket.request("poll.vote", poll=poll["id"], choices=[1]))["code"] == "conflict"


async def test_vote_on_closed_poll_is_a_conflict(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    assert (await teacher_socket.request("poll.close", poll=poll["id"]))["type"] == "ok"
    await socket.expect("poll.closed", id=poll["id"])
    assert (await socket.request("poll.vote", poll=poll["id"], choices=[0]))["code"] == "conflict"


async def test_single_choice_poll_refuses_two_choices(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    assert (await socket.request("poll.vote", poll=poll["id"], choices=[0, 1]))["code"] == "invalid"


async def test_multiple_choice_poll_counts_each_choice(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket, multiple=True, options=["a", "b", "c"])
    await socket.request("poll.vote", poll=poll["id"], choices=[0, 2])
    results = await teacher_socket.expect("poll.results")
    assert results["poll"]["counts"] == [1, 0, 1]


async def test_vote_for_a_missing_option_is_invalid(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    assert (await socket.request("poll.vote", poll=poll["id"], choices=[5]))["code"] == "invalid"


async def test_published_results_reach_everyone_without_names(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    await socket.request("poll.vote", poll=poll["id"], choices=[0])
    assert (await teacher_socket.request("poll.publish", poll=poll["id"]))["type"] == "ok"
    results = await socket.expect("poll.results")
    assert results["poll"]["status"] == "published"
    assert results["poll"]["counts"] == [1, 0]
    assert "votes" not in results["poll"]


async def test_reconnect_restores_own_vote(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    await socket.request("poll.vote", poll=poll["id"], choices=[1])
    await socket.leave()
    again = await enter(student, lesson)
    polls = again.seen[-1]["polls"]
    assert polls[0]["mine"] == [1]
    assert "counts" not in polls[0]


async def test_teacher_cannot_vote(enter, lesson, teacher):
    teacher_socket = await enter(teacher, lesson)
    poll = await _poll(teacher_socket)
    assert (await teacher_socket.request("poll.vote", poll=poll["id"], choices=[0]))["code"] == "forbidden"


@pytest.mark.parametrize("kind", ["poll.create", "poll.close", "poll.publish"])
async def test_student_cannot_run_polls(enter, lesson, teacher, student, kind):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    fields = {"question": "Q", "options": ["a", "b"]} if kind == "poll.create" else {"poll": poll["id"]}
    assert (await socket.request(kind, **fields))["code"] == "forbidden"


@pytest.mark.parametrize(
    "fields",
    [
        {"question": "", "options": ["a", "b"]},
        {"question": "x" * 301, "options": ["a", "b"]},
        {"question": "Q", "options": ["a"]},
        {"question": "Q", "options": [str(i) for i in range(11)]},
        {"question": "Q", "options": ["a", "x" * 101]},
        {"question": "Q", "options": ["a", ""]},
        {"question": "Q", "options": ["a", "b"], "anonymous": "yes"},
        {"question": "Q", "options": ["a", "b"], "color": "red"},
    ],
)
async def test_poll_create_out_of_range_is_invalid(enter, lesson, teacher, fields):
    teacher_socket = await enter(teacher, lesson)
    assert (await teacher_socket.request("poll.create", **fields))["code"] == "invalid"


async def test_unknown_poll_is_not_found(enter, lesson, student):
    socket = await enter(student, lesson)
    assert (await socket.request("poll.vote", poll="12345", choices=[0]))["code"] == "not_found"
