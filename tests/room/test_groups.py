"""Breakout groups (issue 17): opening, entering, moving, the overview, help, broadcast and closing."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from classroom import media
from classroom.actions.common import permissions_of
from classroom.actions.lessons import do_start_lesson
from classroom.models import Attendance, GroupMember, Participant, Room, RoomLogEntry, SchoolClass
from classroom.tasks import end_expired_rooms
from tests.conftest import login
from tests.media.conftest import needs_netns
from tests.media_cluster.peers import MediaClient

pytestmark = pytest.mark.django_db(transaction=True)


async def open_two(teacher_socket, first, second, **fields):
    """Open two groups, `first` and `second` users one in each; return the `ok` reply."""
    reply = await teacher_socket.request("groups.open", groups=[[str(first.pk)], [str(second.pk)]], **fields)
    assert reply["type"] == "ok", reply
    return reply


async def overview_until(socket, condition):
    """Read `groups.overview` events until one's groups meet the condition; return those groups."""
    while True:
        groups = (await socket.expect("groups.overview"))["groups"]
        if condition(groups):
            return groups


async def test_opening_groups_moves_each_student_into_theirs(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    lea = await enter(student, lesson)
    zoe = await enter(student2, lesson)
    reply = await open_two(teacher_socket, student, student2, names=["Rouge", "Bleu"])
    red, blue = reply["groups"]
    assert [red["name"], blue["name"]] == ["Rouge", "Bleu"]
    assert red["members"] == [str(student.pk)] and blue["members"] == [str(student2.pk)]
    assigned = await lea.expect("group.assigned")
    assert assigned["group"] == {"id": red["id"], "name": "Rouge", "room": red["room"]}
    assert (await zoe.expect("group.assigned"))["group"]["room"] == blue["room"]
    updated = await teacher_socket.expect("groups.updated")
    assert [group["name"] for group in updated["groups"]["groups"]] == ["Rouge", "Bleu"]
    # to the whole lesson at once: no one's own group in it (that is group.assigned)
    assert updated["groups"]["mine"] is None
    assert (await lea.expect("groups.updated"))["groups"]["mine"] is None
    group = await sync_to_async(Room.objects.get)(pk=red["room"])
    assert group.kind == "group" and group.parent_id == lesson.pk


async def test_student_enters_their_group_with_the_whole_protocol(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    state = lea.seen[-1]
    assert state["room"]["kind"] == "group" and state["room"]["parent"] == str(lesson.pk)
    assert state["group"]["lesson"] == str(lesson.pk)
    assert state["you"]["id"] == str(student.pk)
    assert (await lea.request("hand.raise"))["type"] == "ok"
    assert (await lea.request("chat.send", text="On commence ?"))["type"] == "ok"


async def test_a_group_rooms_parent_is_its_lesson(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    assert teacher_socket.seen[-1]["room"]["parent"] is None
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    inside = await enter(teacher, red["room"])
    assert inside.seen[-1]["room"]["parent"] == str(lesson.pk)
    assert (await inside.request("room.update", locked=True))["type"] == "ok"
    updated = await inside.expect("room.updated")
    assert updated["room"]["locked"] is True and updated["room"]["parent"] == str(lesson.pk)


async def test_student_cannot_enter_another_group(open_socket, enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    _red, blue = (await open_two(teacher_socket, student, student2))["groups"]
    socket = await open_socket(student, blue["room"])
    assert await socket.closed() == 4403


async def test_another_class_student_cannot_open_a_group_link(open_socket, enter, lesson, teacher, student, student2,
                                                               other_class_student):  # fmt: skip
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    socket = await open_socket(other_class_student, red["room"])
    assert await socket.closed() == 4403


async def test_teacher_enters_any_group_as_moderator(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    _red, blue = (await open_two(teacher_socket, student, student2))["groups"]
    inside = await enter(teacher, blue["room"])
    assert inside.seen[-1]["you"]["moderator"] is True


async def test_outsider_teacher_waits_at_a_group(enter, lesson, teacher, other_teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    outsider = await enter(other_teacher, red["room"], until="waiting")
    assert outsider.seen[-1]["reason"] == "not_in_class"


@pytest.mark.parametrize(
    "message",
    [
        {"type": "groups.open", "count": 2, "mode": "random"},
        {"type": "groups.move", "id": "1", "group": "00000000-0000-0000-0000-000000000000"},
        {"type": "groups.broadcast", "text": "Hello"},
        {"type": "groups.speak", "on": True},
        {"type": "groups.close"},
        {"type": "groups.previous"},
        {"type": "help.clear", "group": "00000000-0000-0000-0000-000000000000"},
    ],
)
async def test_a_students_groups_messages_are_forbidden(enter, lesson, student, message):
    socket = await enter(student, lesson)
    reply = await socket.request(message.pop("type"), **message)
    assert reply["code"] == "forbidden"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"groups": [["{a}"]]}, "2 to 20 groups"),
        ({"count": 21, "mode": "random"}, "less than or equal to 20"),
        ({"count": 1, "mode": "choose"}, "greater than or equal to 2"),
        ({"groups": [["{a}"], []]}, "group 2 has no one in it"),
        ({"groups": [["{a}"], ["{a}", "{b}"]]}, "is in two groups"),
        ({"groups": [["{a}"], ["{b}"]], "names": ["Seul"]}, "2 groups need 2 names"),
        ({"groups": [["{a}"], ["{b}"]], "minutes": 0}, "minutes"),
        ({"count": 2}, "needs a mode"),
        ({"groups": [["{a}"], ["{b}"]], "count": 2}, "either groups"),
        ({"groups": [["{a}"], ["{b}"]], "mode": "random"}, "mode goes with count, not with groups"),
    ],
)
async def test_bad_groups_are_invalid(enter, lesson, teacher, student, student2, fields, says):
    socket = await enter(teacher, lesson)
    ids = {"a": str(student.pk), "b": str(student2.pk)}
    if "groups" in fields:
        fields = {**fields, "groups": [[item.format(**ids) for item in group] for group in fields["groups"]]}
    reply = await socket.request("groups.open", **fields)
    assert reply["code"] == "invalid"
    assert says in reply["message"]
    assert not await sync_to_async(Room.objects.filter(parent=lesson).exists)()


async def test_an_unknown_user_is_invalid(enter, lesson, teacher, student, other_class_student):
    socket = await enter(teacher, lesson)
    reply = await socket.request("groups.open", groups=[[str(student.pk)], [str(other_class_student.pk)]])
    assert reply["code"] == "invalid"
    assert str(other_class_student.pk) in reply["message"]
    reply = await socket.request("groups.open", groups=[[str(student.pk)], ["987654"]])
    assert reply["code"] == "invalid"


async def test_groups_cannot_open_twice(enter, lesson, teacher, student, student2):
    socket = await enter(teacher, lesson)
    await open_two(socket, student, student2)
    reply = await socket.request("groups.open", count=2, mode="choose")
    assert reply["code"] == "conflict"


async def test_random_groups_split_the_students_present(enter, lesson, teacher, student, student2):
    socket = await enter(teacher, lesson)
    await enter(student, lesson)
    await enter(student2, lesson)
    too_many = await socket.request("groups.open", count=3, mode="random")
    assert too_many["code"] == "invalid"
    reply = await socket.request("groups.open", count=2, mode="random")
    members = sorted(member for group in reply["groups"] for member in group["members"])
    assert members == sorted([str(student.pk), str(student2.pk)])
    assert all(len(group["members"]) == 1 for group in reply["groups"])


async def test_random_groups_place_absent_students_too(enter, lesson, teacher, student, student2):
    socket = await enter(teacher, lesson)
    await enter(student, lesson)
    # zoe is not here: she has a group all the same, and lands in it when she comes
    reply = await socket.request("groups.open", count=2, mode="random")
    placed = {member: group for group in reply["groups"] for member in group["members"]}
    assert set(placed) == {str(student.pk), str(student2.pk)}
    assert placed[str(student.pk)] != placed[str(student2.pk)]
    zoe = await enter(student2, lesson)
    assert zoe.seen[-1]["groups"]["mine"] == placed[str(student2.pk)]["id"]
    assert (await zoe.expect("group.assigned"))["group"]["room"] == placed[str(student2.pk)]["room"]
    assert (await enter(student2, placed[str(student2.pk)]["room"])).seen[-1]["group"]["lesson"] == str(lesson.pk)


async def test_students_choose_their_group(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    lea = await enter(student, lesson)
    reply = await teacher_socket.request("groups.open", count=2, mode="choose")
    offered = await lea.expect("groups.updated")
    assert offered["groups"]["mode"] == "choose"
    second = reply["groups"][1]
    assert (await lea.request("group.join", group=second["id"]))["type"] == "ok"
    assert (await lea.expect("group.assigned"))["group"]["room"] == second["room"]
    await enter(student, second["room"])


async def test_group_join_needs_choose_mode(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    lea = await enter(student, lesson)
    _red, blue = (await open_two(teacher_socket, student, student2))["groups"]
    reply = await lea.request("group.join", group=blue["id"])
    assert reply["code"] == "conflict"


async def test_moving_a_student_takes_them_out_of_their_group(open_socket, enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    reply = await teacher_socket.request("groups.move", id=str(student.pk), group=blue["id"])
    assert reply["type"] == "ok"
    assert (await lea.expect("group.assigned"))["group"]["room"] == blue["room"]
    assert await lea.closed() == 1000
    again = await open_socket(student, red["room"])
    assert await again.closed() == 4403
    await enter(student, blue["room"])
    moves = await sync_to_async(list)(
        RoomLogEntry.objects.filter(room=lesson, kind="group_move", target=student).values_list("data", flat=True)
    )
    assert [move["group"] for move in moves] == [red["id"], blue["id"]]


async def test_moving_into_an_unknown_group_is_not_found(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    await open_two(teacher_socket, student, student2)
    reply = await teacher_socket.request(
        "groups.move", id=str(student.pk), group="00000000-0000-0000-0000-000000000000"
    )
    assert reply["code"] == "not_found"


async def test_broadcast_reaches_every_group(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    zoe = await enter(student2, blue["room"])
    assert (await teacher_socket.request("groups.broadcast", text="Encore 5 minutes"))["type"] == "ok"
    for socket in (lea, zoe):
        event = await socket.expect("group.broadcast")
        assert event["text"] == "Encore 5 minutes"
        assert event["from"]["id"] == str(teacher.pk)


async def test_closing_brings_everyone_back(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    zoe = await enter(student2, blue["room"])
    assert (await teacher_socket.request("groups.close"))["type"] == "ok"
    for socket in (lea, zoe):
        assert (await socket.expect("group.closed"))["room"] == str(lesson.pk)
        assert (await socket.expect("room.ended"))["reason"] == "groups_closed"
        assert await socket.closed() == 4409
    assert (await teacher_socket.expect("groups.updated", groups=None))["groups"] is None
    back = await enter(student, lesson)
    assert "groups" not in back.seen[-1]
    assert (await teacher_socket.request("groups.close"))["code"] == "conflict"


async def test_reconnecting_lands_a_student_back_in_their_group(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    await lea.leave()
    # the page reconnects to the lesson (a reload of the lesson's link): it is sent to its group
    in_lesson = await enter(student, lesson)
    assert in_lesson.seen[-1]["groups"]["mine"] == red["id"]
    assert (await in_lesson.expect("group.assigned"))["group"]["room"] == red["room"]
    assert (await enter(student, red["room"])).seen[-1]["group"]["id"] == red["id"]


async def test_a_group_link_after_closing_is_ended_and_the_lesson_takes_the_student(
    open_socket, enter, lesson, teacher, student, student2
):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    await teacher_socket.request("groups.close")
    late = await open_socket(student, red["room"])
    assert await late.closed() == 4409
    back = await enter(student, lesson)
    assert back.seen[-1]["you"]["id"] == str(student.pk)


async def test_overview_shows_groups_members_and_help_in_order(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, blue = (await open_two(teacher_socket, student, student2, minutes=10))["groups"]
    first = await teacher_socket.expect("groups.overview")
    assert [group["id"] for group in first["groups"]] == [red["id"], blue["id"]]
    assert first["ends_at"] is not None
    assert first["groups"][0]["members"] == [{"id": str(student.pk), "name": student.name}]
    zoe = await enter(student2, blue["room"])
    lea = await enter(student, red["room"])
    await overview_until(
        teacher_socket,
        lambda groups: (
            [[item["id"] for item in group["participants"]] for group in groups]
            == [[str(student.pk)], [str(student2.pk)]]
        ),
    )
    assert (await zoe.request("help.request"))["type"] == "ok"
    assert (await lea.request("help.request"))["type"] == "ok"
    groups = await overview_until(teacher_socket, lambda groups: all(group["help"] for group in groups))
    called = sorted(groups, key=lambda group: group["help_at"])
    assert [group["id"] for group in called] == [blue["id"], red["id"]]
    await lea.request("hand.raise")
    await overview_until(teacher_socket, lambda groups: groups[0]["hands"] == [str(student.pk)])


async def test_a_teacher_entering_the_group_answers_its_call(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    await lea.request("help.request")
    await teacher_socket.expect("groups.overview", timeout=5)
    group = await sync_to_async(Room.objects.get)(pk=red["room"])
    assert group.help_requested_at is not None
    await enter(teacher, red["room"])
    await group.arefresh_from_db()
    assert group.help_requested_at is None


async def test_help_clear_and_help_outside_a_group(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    in_lesson = await enter(student2, lesson)
    assert (await in_lesson.request("help.request"))["code"] == "conflict"
    lea = await enter(student, red["room"])
    await lea.request("help.request")
    assert (await teacher_socket.request("help.clear", group=red["id"]))["type"] == "ok"
    group = await sync_to_async(Room.objects.get)(pk=red["room"])
    assert group.help_requested_at is None
    assert (await teacher_socket.request("help.request"))["code"] == "forbidden"


async def test_attendance_keeps_time_in_each_group(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    await lea.leave()
    stays = await sync_to_async(list)(Attendance.objects.filter(room_id=red["room"], user=student))
    assert len(stays) == 1 and stays[0].left_at is not None
    opened = await sync_to_async(RoomLogEntry.objects.get)(room=lesson, kind="groups_opened")
    assert [group["members"] for group in opened.data["groups"]] == [[str(student.pk)], [str(student2.pk)]]


async def test_ending_the_lesson_ends_its_groups(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    await teacher_socket.request("room.end")
    assert (await lea.expect("room.ended"))["reason"] == "ended"
    assert not await sync_to_async(Room.objects.filter(parent=lesson, ended_at__isnull=True).exists)()


async def test_previous_lessons_groups_can_be_reused(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    await open_two(teacher_socket, student, student2, names=["Rouge", "Bleu"])
    await teacher_socket.request("room.end")
    next_lesson = await sync_to_async(do_start_lesson)(await SchoolClass.objects.aget(name="6A"), teacher)
    socket = await enter(teacher, next_lesson)
    reply = await socket.request("groups.previous")
    assert reply["groups"] == [
        {"name": "Rouge", "members": [str(student.pk)]},
        {"name": "Bleu", "members": [str(student2.pk)]},
    ]


@pytest.mark.embedded_only("shortens ROOM_LEAVE_OPEN_MINUTE_SECONDS in this process only")
async def test_the_timer_closes_the_groups(settings, enter, lesson, teacher, student, student2):
    settings.ROOM_LEAVE_OPEN_MINUTE_SECONDS = 0.3
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2, minutes=1))["groups"]
    lea = await enter(student, red["room"])
    assert (await lea.expect("group.closed", timeout=5))["room"] == str(lesson.pk)
    assert await lea.closed() == 4409
    assert await sync_to_async(GroupMember.objects.filter(group_id=red["room"]).exists)()


async def test_the_periodic_task_closes_due_groups_with_no_socket_open(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    await teacher_socket.leave()
    # past their end, with no socket anywhere to run a timer: only the beat task is left to close them
    await sync_to_async(Room.objects.filter(pk=lesson.pk).update)(groups_end_at=timezone.now())
    await sync_to_async(end_expired_rooms)()
    group = await sync_to_async(Room.objects.get)(pk=red["room"])
    assert group.ended_at is not None and group.end_reason == "groups_closed"
    assert (await sync_to_async(Room.objects.get)(pk=lesson.pk)).groups_end_at is None


@pytest.mark.embedded_only("calls this process's media bridge as its forwarder does")
async def test_overview_says_who_speaks_in_each_group(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, blue = (await open_two(teacher_socket, student, student2))["groups"]
    await teacher_socket.expect("groups.overview")
    await media._on_speaking(blue["room"], [str(student2.pk)])
    groups = await overview_until(teacher_socket, lambda groups: groups[1]["speaking"] == [str(student2.pk)])
    assert groups[0]["speaking"] == []
    await media._on_speaking(blue["room"], [])
    await overview_until(teacher_socket, lambda groups: groups[1]["speaking"] == [])


async def test_starting_the_lesson_while_groups_run_gives_the_lesson_not_a_group(enter, lesson, teacher, student,
                                                                               student2):  # fmt: skip
    teacher_socket = await enter(teacher, lesson)
    await open_two(teacher_socket, student, student2)
    school_class = await SchoolClass.objects.aget(name="6A")
    assert (await sync_to_async(do_start_lesson)(school_class, teacher)).pk == lesson.pk
    page = await sync_to_async(lambda: login(teacher).get("/classes/6a/"))()
    assert page.context["live_lesson"].pk == lesson.pk


async def test_a_teacher_listening_in_is_in_no_list_and_answers_no_call(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    lea = await enter(student, red["room"])
    await lea.request("help.request")
    listening = await enter(teacher, red["room"], query="listen=1")
    assert [item["id"] for item in listening.seen[-1]["participants"]] == [str(student.pk)]
    # the group hears of no one coming: the broadcast sent after it comes with no participant.joined before
    await teacher_socket.request("groups.broadcast", text="Je vous écoute")
    await lea.expect("group.broadcast")
    assert not [event for event in lea.seen if event["type"] == "participant.joined"]
    again = await enter(student, red["room"])
    assert [item["id"] for item in again.seen[-1]["participants"]] == [str(student.pk)]
    # the overview shows Léa alone in her group, and her call still waiting
    await again.request("hand.raise")
    groups = await overview_until(teacher_socket, lambda groups: groups[0]["hands"] == [str(student.pk)])
    assert [item["id"] for item in groups[0]["participants"]] == [str(student.pk)]
    assert groups[0]["help"] is True
    # nothing of the listener's is forwarded
    group = await Room.objects.aget(pk=red["room"])
    participant = await Participant.objects.select_related("user").aget(room=group, user=teacher)
    assert await sync_to_async(permissions_of)(group, participant) == {
        "audio": False, "video": False, "screen": False, "always_forward": False
    }  # fmt: skip
    # leaving is as quiet as coming
    await listening.leave()
    await again.request("hand.lower")
    await again.expect("hands")
    assert not [event for event in again.seen if event["type"] == "participant.left"]


async def test_listen_means_nothing_for_a_student_or_in_the_lesson(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    watcher = await enter(teacher, lesson, query="listen=1")
    lea = await enter(student, red["room"], query="listen=1")
    assert str(student.pk) in [item["id"] for item in lea.seen[-1]["participants"]]
    assert str(teacher.pk) in [item["id"] for item in watcher.seen[-1]["participants"]]


@pytest.mark.embedded_only("reads this process's forwarder")
async def test_a_listener_receives_sound_only(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    listening = await enter(teacher, red["room"], query="listen=1")
    assert (await listening.request("media.join", quality="normal"))["type"] == "ok"
    node = media.running_node()
    assert node is not None
    assert node._rooms[red["room"]].peers[str(teacher.pk)].quality == "audio"
    assert (await listening.request("media.quality", quality="normal"))["type"] == "ok"
    assert node._rooms[red["room"]].peers[str(teacher.pk)].quality == "audio"


async def test_speaking_to_every_group_needs_groups_and_the_lesson(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    assert (await teacher_socket.request("groups.speak", on=True))["code"] == "conflict"
    assert (await teacher_socket.request("groups.speak", on="yes"))["code"] == "invalid"
    red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
    inside = await enter(teacher, red["room"])
    assert (await inside.request("groups.speak", on=True))["code"] == "forbidden"
    assert (await teacher_socket.request("groups.speak", on=True))["type"] == "ok"
    assert (await teacher_socket.request("groups.speak", on=False))["type"] == "ok"


@pytest.mark.embedded_only("reads this process's forwarder")
async def test_the_teachers_microphone_is_heard_in_every_group_while_held(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    red, blue = (await open_two(teacher_socket, student, student2))["groups"]
    for user, group in ((student, red), (student2, blue)):
        socket = await enter(user, group["room"])
        assert (await socket.request("media.join", quality="normal"))["type"] == "ok"
    assert (await teacher_socket.request("media.join", quality="normal"))["type"] == "ok"
    node = media.running_node()
    assert node is not None
    assert (await teacher_socket.request("groups.speak", on=True))["type"] == "ok"
    for group in (red, blue):
        assert str(teacher.pk) in node._rooms[group["room"]].guests
    assert (await teacher_socket.request("groups.speak", on=False))["type"] == "ok"
    for group in (red, blue):
        assert str(teacher.pk) not in node._rooms[group["room"]].guests


@needs_netns
@pytest.mark.embedded_only(
    "reads this process's forwarder; tests/media_cluster/test_remote_media.py moves media through node processes"
)
async def test_a_students_media_moves_into_the_group_and_back_with_its_connections(
    enter, lesson, teacher, student, student2
):
    teacher_socket = await enter(teacher, lesson)
    lea = MediaClient(await enter(student, lesson))
    try:
        await lea.start()
        await lea.next("media.sources", since=0)
        node = media.running_node()
        assert node is not None
        peer = node._rooms[str(lesson.pk)].peers[str(student.pk)]
        red, _blue = (await open_two(teacher_socket, student, student2))["groups"]
        await lea.next("group.assigned", since=0)
        await lea.socket.leave()
        joined = await lea.move(await enter(student, red["room"]))
        assert joined["resumed"] is True
        assert node._rooms[red["room"]].peers[str(student.pk)] is peer
        assert str(student.pk) not in node._rooms[str(lesson.pk)].peers
        # what the group lets her publish, from the database as on any entry
        assert peer.permissions.audio and peer.permissions.video
        mark = len(lea.events)
        assert (await teacher_socket.request("groups.close"))["type"] == "ok"
        await lea.next("group.closed", since=mark)
        await lea.socket.leave()
        assert (await lea.move(await enter(student, lesson)))["resumed"] is True
        assert node._rooms[str(lesson.pk)].peers[str(student.pk)] is peer
        assert [event["type"] for event in lea.events].count("media.offer") == 1
        assert len(lea.subscriptions) == 1
    finally:
        await lea.close()
