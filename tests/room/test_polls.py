"""Polls: creation, one vote per user, live counts to moderators, closing and publishing."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from accounts.models import Role, User
from classroom.models import Participant, PollVote, Room

pytestmark = pytest.mark.django_db(transaction=True)


async def _poll(teacher_socket, **fields):
    reply = await teacher_socket.request(
        "poll.create",
        **{"question": "Capitale ?", "options": ["Paris", "Lyon"], "anonymous": False, "multiple": False, **fields},
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


VOTERS = 50


@sync_to_async
def _voters(room: Room, count: int = VOTERS) -> list[User]:
    """`count` more students of the room's class."""
    users = [
        User.objects.create(username=f"votant{i}", role=Role.STUDENT, display_name=f"Votant {i}") for i in range(count)
    ]
    room.school_class.students.add(*users)  # type: ignore[union-attr]
    return users


async def _burst(enter, lesson, teacher_socket, poll) -> float:
    """Every voter votes at once; return how long until the last `ok`."""
    sockets = [await enter(user, lesson) for user in await _voters(lesson)]
    start = asyncio.get_running_loop().time()
    replies = await asyncio.gather(
        *(socket.request("poll.vote", poll=poll["id"], choices=[i % 2]) for i, socket in enumerate(sockets))
    )
    assert all(reply["type"] == "ok" for reply in replies), replies
    return asyncio.get_running_loop().time() - start


async def _drain(socket, wait: float = 1.0) -> None:
    """Read events until none comes for `wait` seconds."""
    try:
        while True:
            await socket.receive(wait)
    except TimeoutError:
        return


def _live_results(socket) -> list[dict]:
    return [event["poll"] for event in socket.seen if event["type"] == "poll.results"]


async def test_burst_of_votes_ends_with_results_counting_them_all(enter, lesson, teacher):
    teacher_socket = await enter(teacher, lesson)
    poll = await _poll(teacher_socket)
    await _burst(enter, lesson, teacher_socket, poll)
    deadline = asyncio.get_running_loop().time() + 3
    while not (_live_results(teacher_socket) and _live_results(teacher_socket)[-1]["voters"] == VOTERS):
        assert asyncio.get_running_loop().time() < deadline, _live_results(teacher_socket)[-1:]
        await teacher_socket.expect("poll.results", timeout=1)
    last = _live_results(teacher_socket)[-1]
    assert last["counts"] == [VOTERS // 2, VOTERS // 2]
    assert len(last["votes"]) == VOTERS


@pytest.mark.embedded_only("changes POLL_RESULTS_SECONDS in this process only")
async def test_burst_of_votes_sends_moderators_few_results(enter, lesson, teacher, settings):
    settings.POLL_RESULTS_SECONDS = 0.5
    teacher_socket = await enter(teacher, lesson)
    poll = await _poll(teacher_socket)
    took = await _burst(enter, lesson, teacher_socket, poll)
    await _drain(teacher_socket)
    sent = _live_results(teacher_socket)
    assert sent[-1]["voters"] == VOTERS
    # One at once, then at most one per interval: far fewer than one per vote.
    assert len(sent) <= took / 0.5 + 2
    assert len(sent) < VOTERS / 5


@pytest.mark.embedded_only("changes POLL_RESULTS_SECONDS in this process only")
async def test_live_results_never_follow_the_final_ones(enter, lesson, teacher, settings):
    settings.POLL_RESULTS_SECONDS = 0.5
    teacher_socket = await enter(teacher, lesson)
    poll = await _poll(teacher_socket)
    await _burst(enter, lesson, teacher_socket, poll)
    assert (await teacher_socket.request("poll.close", poll=poll["id"]))["type"] == "ok"
    await _drain(teacher_socket)
    sent = _live_results(teacher_socket)
    assert sent[-1]["status"] == "closed"
    assert sent[-1]["voters"] == VOTERS


# --- votes written in batches (classroom/ballots.py) ----------------------------------------------


async def _replies(socket, refs: set[int]) -> dict[int, dict]:
    """Read a socket until it has the `ok` or `error` of each of these refs."""
    replies: dict[int, dict] = {}
    while refs - replies.keys():
        event = await socket.receive()
        if event["type"] in ("ok", "error") and event.get("ref") in refs:
            replies[event["ref"]] = event
    return replies


@sync_to_async
def _stored_votes(poll_id: str) -> dict[int, list[int]]:
    return dict(PollVote.objects.filter(poll_id=int(poll_id)).values_list("user_id", "choices"))


async def test_200_votes_at_once_are_all_counted_and_each_second_vote_refused(enter, lesson, teacher):
    teacher_socket = await enter(teacher, lesson)
    poll = await _poll(teacher_socket)
    users = await _voters(lesson, 200)
    sockets = []
    for start in range(0, len(users), 5):  # a few at a time: each waits for its `state` within the timeout
        sockets += await asyncio.gather(*(enter(user, lesson) for user in users[start : start + 5]))
    # Each voter sends two votes without waiting: the first is counted, the second refused.
    for i, socket in enumerate(sockets):
        await socket.send({"type": "poll.vote", "ref": 1, "poll": poll["id"], "choices": [i % 2]})
        await socket.send({"type": "poll.vote", "ref": 2, "poll": poll["id"], "choices": [(i + 1) % 2]})
    replies = await asyncio.gather(*(_replies(socket, {1, 2}) for socket in sockets))
    for i, reply in enumerate(replies):
        assert reply[1] == {"type": "ok", "ref": 1, "poll": poll["id"], "choices": [i % 2]}, reply
        assert reply[2]["type"] == "error" and reply[2]["code"] == "conflict", reply
        assert reply[2]["message"] == "You have already voted."
    assert await _stored_votes(poll["id"]) == {user.pk: [i % 2] for i, user in enumerate(users)}
    # The teacher's live results converge on every vote.
    deadline = asyncio.get_running_loop().time() + 10
    while not (_live_results(teacher_socket) and _live_results(teacher_socket)[-1]["voters"] == 200):
        assert asyncio.get_running_loop().time() < deadline, _live_results(teacher_socket)[-1:]
        await teacher_socket.expect("poll.results", timeout=2)
    last = _live_results(teacher_socket)[-1]
    assert last["counts"] == [100, 100]
    assert {vote["id"]: vote["choices"] for vote in last["votes"]} == {
        str(user.pk): [i % 2] for i, user in enumerate(users)
    }


async def test_two_tabs_voting_at_once_count_once(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    poll = await _poll(teacher_socket)
    tabs = [await enter(student, lesson), await enter(student, lesson)]
    replies = await asyncio.gather(
        *(tab.request("poll.vote", poll=poll["id"], choices=[i]) for i, tab in enumerate(tabs))
    )
    assert sorted(reply["type"] for reply in replies) == ["error", "ok"], replies
    ok = next(reply for reply in replies if reply["type"] == "ok")
    error = next(reply for reply in replies if reply["type"] == "error")
    assert (error["code"], error["message"]) == ("conflict", "You have already voted.")
    assert await _stored_votes(poll["id"]) == {student.pk: ok["choices"]}


async def test_a_close_during_a_burst_counts_exactly_the_votes_it_accepted(enter, lesson, teacher):
    teacher_socket = await enter(teacher, lesson)
    poll = await _poll(teacher_socket)
    sockets = [await enter(user, lesson) for user in await _voters(lesson)]
    vote = [socket.request("poll.vote", poll=poll["id"], choices=[0]) for socket in sockets]
    first = [asyncio.create_task(request) for request in vote[: VOTERS // 2]]
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    closing = asyncio.create_task(teacher_socket.request("poll.close", poll=poll["id"]))
    replies = [*await asyncio.gather(*first), *await asyncio.gather(*vote[VOTERS // 2 :])]
    assert (await closing)["type"] == "ok"
    accepted = [reply for reply in replies if reply["type"] == "ok"]
    refused = [reply for reply in replies if reply["type"] == "error"]
    assert accepted, "the first vote was answered before the close was sent"
    assert all((r["code"], r["message"]) == ("conflict", "This poll is closed.") for r in refused), refused
    # Whatever the batches, the closed results and the stored votes are the accepted ones.
    assert len(await _stored_votes(poll["id"])) == len(accepted)
    await _drain(teacher_socket)
    closed = [results for results in _live_results(teacher_socket) if results["status"] == "closed"]
    assert [results["voters"] for results in closed] == [len(accepted)]


async def test_a_student_no_longer_admitted_has_the_next_vote_refused(enter, lesson, teacher, student):
    """The socket still takes itself for admitted (no event told it); the batch reads the standing."""
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    poll = await _poll(teacher_socket)
    await sync_to_async(Participant.objects.filter(room=lesson, user=student).update)(status=Participant.Status.WAITING)
    reply = await socket.request("poll.vote", poll=poll["id"], choices=[0])
    assert (reply["type"], reply["code"]) == ("error", "forbidden")
    assert await _stored_votes(poll["id"]) == {}
