"""The recess log: everything is kept, its supervisors read it and export it; the purge."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.utils import timezone

from classroom.actions.recess import do_purge_recess_logs
from classroom.models import Report, RoomLogEntry
from classroom.tasks import purge_recess_logs
from tests.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


async def _kinds(room) -> list[str]:
    return await sync_to_async(list)(RoomLogEntry.objects.filter(room=room).values_list("kind", flat=True))


async def test_join_leave_mute_removal_report_and_deletion_are_logged(
    enter, recess, supervisor, student, student2, forwarder
):
    supervisor_socket = await enter(supervisor, recess)
    socket = await enter(student, recess)
    other = await enter(student2, recess)
    sent = await socket.request("chat.send", text="un message à supprimer")
    assert (await supervisor_socket.request("chat.delete", id=sent["id"]))["type"] == "ok"
    assert (await socket.request("report", text="Zoé m'embête"))["type"] == "ok"
    report = await supervisor_socket.expect("report")
    assert report["text"] == "Zoé m'embête" and report["from"]["id"] == str(student.pk)
    assert (await supervisor_socket.request("mute", id=str(student2.pk), kind="video"))["type"] == "ok"
    assert (await supervisor_socket.request("participant.remove", id=str(student2.pk)))["type"] == "ok"
    assert await other.closed() == 4403
    await socket.leave()
    kinds = await _kinds(recess)
    for kind in ("join", "leave", "mute", "removal", "report", "chat_deleted"):
        assert kind in kinds, kind


async def test_students_do_not_get_reports(enter, recess, supervisor, student, student2):
    await enter(supervisor, recess)
    socket = await enter(student, recess)
    other = await enter(student2, recess)
    await socket.request("report", text="Aide")
    assert (await other.request("ping"))["type"] == "ok"
    assert "report" not in [event["type"] for event in other.seen]


def _log_entries(room, supervisor, student) -> None:
    RoomLogEntry.objects.create(room=room, kind="join", target=student)
    RoomLogEntry.objects.create(room=room, kind="report", actor=student, data={"text": "Au secours, ça « coince »"})
    RoomLogEntry.objects.create(room=room, kind="mute", actor=supervisor, target=student, data={"kind": "audio"})


def test_supervisor_reads_the_log_page(recess, supervisor, student):
    _log_entries(recess, supervisor, student)
    page = login(supervisor).get(f"/rooms/{recess.pk}/log/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Au secours, ça « coince »" in text and student.name in text
    assert f"/rooms/{recess.pk}/log.csv" in text


def test_log_csv_has_one_row_per_entry(recess, supervisor, student):
    _log_entries(recess, supervisor, student)
    response = login(supervisor).get(f"/rooms/{recess.pk}/log.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["kind"] for row in rows] == ["join", "report", "mute"]
    assert rows[1]["actor"] == student.name and "coince" in rows[1]["details"]
    assert rows[2]["target_id"] == str(student.pk) and rows[2]["actor"] == supervisor.name
    assert all(row["at"] for row in rows)


@pytest.mark.parametrize("persona", ["student", "teacher"])
@pytest.mark.parametrize("path", ["log/", "log.csv"])
def test_students_and_teachers_cannot_read_the_log(recess, persona, path, request):
    assert login(request.getfixturevalue(persona)).get(f"/rooms/{recess.pk}/{path}").status_code == 403


def test_purge_deletes_recess_entries_past_the_retention(recess, lesson, supervisor, student, settings):
    settings.RECESS_LOG_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    stale = RoomLogEntry.objects.create(room=recess, kind="join", target=student)
    fresh = RoomLogEntry.objects.create(room=recess, kind="leave", target=student)
    lesson_entry = RoomLogEntry.objects.create(room=lesson, kind="join", target=student)
    old_report = Report.objects.create(room=recess, user=student, text="vieux")
    RoomLogEntry.objects.filter(pk__in=[stale.pk, lesson_entry.pk]).update(at=old)
    Report.objects.filter(pk=old_report.pk).update(created_at=old)
    assert purge_recess_logs.delay().get() == 2
    assert list(RoomLogEntry.objects.filter(room=recess)) == [fresh]
    assert RoomLogEntry.objects.filter(pk=lesson_entry.pk).exists()
    assert not Report.objects.exists()


def test_purge_follows_the_retention_setting(recess, student, settings):
    settings.RECESS_LOG_RETENTION_DAYS = 2
    entry = RoomLogEntry.objects.create(room=recess, kind="join", target=student)
    RoomLogEntry.objects.filter(pk=entry.pk).update(at=timezone.now() - timedelta(days=3))
    assert do_purge_recess_logs() == 1


def test_purge_runs_under_celery_beat():
    tasks = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "classroom.tasks.purge_recess_logs" in tasks
