"""The recess form's time pickers (`start`/`end` rows beside the typed `times`) and the list's attendance links."""

from __future__ import annotations

import pytest

from classroom.models import RecessSlot, Room
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_time_pickers_make_one_slot_per_day_and_row(supervisor):
    response = login(supervisor).post(
        "/recess/",
        {
            "title": "Récré",
            "classes": ["6a"],
            "days": ["0", "3"],
            "start": ["10:00", "15:30", ""],
            "end": ["10:15", "15:45", ""],
        },
    )
    assert response.status_code == 302
    assert {(s.weekday, s.starts_at.isoformat(), s.ends_at.isoformat()) for s in RecessSlot.objects.all()} == {
        (0, "10:00:00", "10:15:00"),
        (0, "15:30:00", "15:45:00"),
        (3, "10:00:00", "10:15:00"),
        (3, "15:30:00", "15:45:00"),
    }


def test_pickers_and_typed_times_add_up(supervisor):
    login(supervisor).post(
        "/recess/",
        {
            "title": "Récré",
            "classes": ["6a"],
            "days": ["1"],
            "start": ["10:00"],
            "end": ["10:15"],
            "times": "16:00-16:10",
        },
    )
    assert sorted(s.starts_at.isoformat() for s in RecessSlot.objects.all()) == ["10:00:00", "16:00:00"]


def test_a_row_with_only_a_start_is_explained_and_kept(supervisor):
    response = login(supervisor).post(
        "/recess/", {"title": "Récré", "classes": ["6a"], "days": ["1"], "start": ["10:00", ""], "end": ["", ""]}
    )
    assert response.status_code == 200
    assert "times" in response.context["form"].errors
    page = response.content.decode()
    assert 'name="start" value="10:00"' in page
    assert page.count('type="time"') == 6  # three rows of two pickers
    assert not Room.objects.exists()


def test_an_end_before_its_start_is_an_error(supervisor):
    response = login(supervisor).post(
        "/recess/", {"title": "Récré", "classes": ["6a"], "days": ["1"], "start": ["10:15"], "end": ["10:00"]}
    )
    assert "times" in response.context["form"].errors


def test_the_empty_form_offers_time_pickers_and_large_checkboxes(supervisor):
    page = login(supervisor).get("/recess/").content.decode()
    assert page.count('type="time"') == 6
    assert 'class="checks"' in page


def test_the_list_links_each_recess_to_its_attendance(supervisor):
    client = login(supervisor)
    client.post("/recess/", {"title": "Récré des 6e", "classes": ["6a"]})
    room = Room.objects.get(title="Récré des 6e")
    assert f'href="/rooms/{room.pk}/attendance/"' in client.get("/recess/").content.decode()
