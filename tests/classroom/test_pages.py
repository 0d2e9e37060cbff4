"""Dashboard, class pages and starting a lesson."""

import re

from classroom.models import Room
from tests.conftest import login


def class_links(html: str) -> list[str]:
    return sorted(re.findall(r'href="/classes/([\w-]+)/"', html))


def test_student_sees_only_their_own_classes(student) -> None:  # type: ignore[no-untyped-def]
    html = login(student).get("/").content.decode()
    assert class_links(html) == ["6a"]


def test_teacher_sees_the_classes_they_teach(teacher) -> None:  # type: ignore[no-untyped-def]
    assert class_links(login(teacher).get("/").content.decode()) == ["6a"]


def test_student_cannot_open_another_class_page(student) -> None:  # type: ignore[no-untyped-def]
    assert login(student).get("/classes/5b/").status_code == 403


def test_unknown_class_is_404(student) -> None:  # type: ignore[no-untyped-def]
    assert login(student).get("/classes/9z/").status_code == 404


def test_class_page_lists_members_and_teachers(teacher) -> None:  # type: ignore[no-untyped-def]
    html = login(teacher).get("/classes/6a/").content.decode()
    assert "Léa Martin" in html and "Zoé Bernard" in html and "Marie Curie" in html
    assert "Jean-Édouard Petit" not in html


def test_teacher_sees_the_start_form_only_for_classes_of_their_team(teacher, other_teacher, admin) -> None:  # type: ignore[no-untyped-def]
    assert 'data-action="start-lesson"' in login(teacher).get("/classes/6a/").content.decode()
    assert login(teacher).get("/classes/5b/").status_code == 403
    assert 'data-action="start-lesson"' in login(other_teacher).get("/classes/5b/").content.decode()


def test_student_does_not_see_the_start_form(student) -> None:  # type: ignore[no-untyped-def]
    assert 'data-action="start-lesson"' not in login(student).get("/classes/6a/").content.decode()


def test_supervisor_sees_class_page_without_start_form(supervisor) -> None:  # type: ignore[no-untyped-def]
    html = login(supervisor).get("/classes/6a/").content.decode()
    assert 'data-action="start-lesson"' not in html


def test_teacher_starts_a_lesson_and_lands_in_the_room(teacher) -> None:  # type: ignore[no-untyped-def]
    response = login(teacher).post("/classes/6a/lessons/")
    room = Room.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/rooms/{room.id}/"
    assert room.kind == "lesson" and room.school_class.slug == "6a" and room.is_live


def test_starting_twice_returns_the_live_lesson(teacher) -> None:  # type: ignore[no-untyped-def]
    client = login(teacher)
    first = client.post("/classes/6a/lessons/")["Location"]
    assert client.post("/classes/6a/lessons/")["Location"] == first
    assert Room.objects.count() == 1


def test_other_teacher_cannot_start_a_lesson_in_a_class_they_do_not_teach(other_teacher) -> None:  # type: ignore[no-untyped-def]
    assert login(other_teacher).post("/classes/6a/lessons/").status_code == 403
    assert not Room.objects.exists()


def test_student_cannot_start_a_lesson(student) -> None:  # type: ignore[no-untyped-def]
    assert login(student).post("/classes/6a/lessons/").status_code == 403


def test_live_lesson_appears_on_the_class_students_dashboard_only(teacher, student, other_class_student) -> None:  # type: ignore[no-untyped-def]
    login(teacher).post("/classes/6a/lessons/")
    room = Room.objects.get()
    assert f'data-room="{room.id}"' in login(student).get("/").content.decode()
    assert f'data-room="{room.id}"' not in login(other_class_student).get("/").content.decode()


def test_dashboards_list_a_lesson_but_never_its_groups(teacher, admin) -> None:  # type: ignore[no-untyped-def]
    login(teacher).post("/classes/6a/lessons/")
    lesson = Room.objects.get()
    group = Room.objects.create(
        kind=Room.Kind.GROUP, parent=lesson, school_class=lesson.school_class, title="Groupe 1", created_by=teacher
    )
    for user in (teacher, admin):
        client = login(user)
        html = client.get("/").content.decode()
        assert f'data-room="{lesson.id}"' in html and f'data-room="{group.id}"' not in html, user
        listed = [room["id"] for room in client.get("/rooms/live.json").json()["rooms"]]
        assert str(lesson.id) in listed and str(group.id) not in listed, user


def test_room_page_404_for_unknown_room(student) -> None:  # type: ignore[no-untyped-def]
    assert login(student).get("/rooms/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_pages_carry_no_outside_asset(teacher) -> None:  # type: ignore[no-untyped-def]
    for url in ["/", "/classes/6a/", "/accounts/login/"]:
        html = login(teacher).get(url).content.decode()
        assert not re.search(r'(src|href)="(https?:)?//', html), url
