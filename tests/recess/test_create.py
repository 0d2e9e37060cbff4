"""`/recess/`: supervisors list and open recesses; everyone else gets 403."""

from __future__ import annotations

import pytest

from classroom.models import RecessSlot, Room
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_supervisor_opens_a_recess_and_lands_in_its_room(supervisor):
    response = login(supervisor).post("/recess/", {"title": "Récré du matin", "classes": ["6a", "5b"]})
    room = Room.objects.get(kind="recess")
    assert response.status_code == 302 and response["Location"] == f"/rooms/{room.pk}/"
    assert room.title == "Récré du matin"
    assert sorted(room.classes.values_list("slug", flat=True)) == ["5b", "6a"]


def test_admin_may_open_a_recess(admin):
    assert login(admin).post("/recess/", {"title": "Récré", "classes": ["6a"]}).status_code == 302


def test_students_of_the_classes_see_it_on_their_dashboard(supervisor, student, other_class_student):
    login(supervisor).post("/recess/", {"title": "Récré", "classes": ["6a"]})
    room = Room.objects.get(kind="recess")
    assert f'data-room="{room.pk}"' in login(student).get("/").content.decode()
    assert f'data-room="{room.pk}"' not in login(other_class_student).get("/").content.decode()


@pytest.mark.parametrize("persona", ["teacher", "student"])
def test_teachers_and_students_cannot_open_a_recess(persona, request):
    client = login(request.getfixturevalue(persona))
    assert client.get("/recess/").status_code == 403
    assert client.post("/recess/", {"title": "Récré", "classes": ["6a"]}).status_code == 403
    assert not Room.objects.filter(kind="recess").exists()


def test_list_shows_live_recesses(supervisor):
    client = login(supervisor)
    client.post("/recess/", {"title": "Récré des 6e", "classes": ["6a"]})
    page = client.get("/recess/").content.decode()
    assert "Récré des 6e" in page and 'data-action="create-recess"' in page


def test_missing_title_and_classes_show_the_form_again(supervisor):
    response = login(supervisor).post("/recess/", {"title": "", "times": "10:00-10:15"})
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"title", "classes", "days"}
    assert 'value="10:00-10:15"' in response.content.decode()
    assert not Room.objects.exists()


def test_unknown_class_is_an_error_and_the_title_is_kept(supervisor):
    response = login(supervisor).post("/recess/", {"title": "Récré", "classes": ["6a", "9z"]})
    assert response.status_code == 200
    assert "9z" in str(response.context["form"].errors["classes"])
    assert 'value="Récré"' in response.content.decode()
    assert not Room.objects.exists()


def test_bad_times_are_explained(supervisor):
    response = login(supervisor).post(
        "/recess/", {"title": "Récré", "classes": ["6a"], "days": ["0"], "times": "10:15-10:00, midi"}
    )
    assert response.status_code == 200
    assert "times" in response.context["form"].errors
    assert not Room.objects.exists()


def test_days_without_times_are_an_error(supervisor):
    response = login(supervisor).post("/recess/", {"title": "Récré", "classes": ["6a"], "days": ["0", "1"]})
    assert "times" in response.context["form"].errors


def test_weekly_schedule_makes_one_slot_per_day_and_time(supervisor):
    response = login(supervisor).post(
        "/recess/",
        {"title": "Récré", "classes": ["6a"], "days": ["0", "1", "2", "3", "4"], "times": "10:00-10:15, 15:30-15:45"},
    )
    assert response.status_code == 302
    slots = RecessSlot.objects.all()
    assert slots.count() == 10
    assert {(s.starts_at.isoformat(), s.ends_at.isoformat()) for s in slots} == {
        ("10:00:00", "10:15:00"),
        ("15:30:00", "15:45:00"),
    }
    assert sorted({s.weekday for s in slots}) == [0, 1, 2, 3, 4]
