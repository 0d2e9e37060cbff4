"""Importing a SambaÉdu-shaped directory: `manage.py sync_directory` and the Celery task."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from classroom.models import SchoolClass
from tests.conftest import TEST_LDIF


def sync(settings, ldif: Path | str = TEST_LDIF) -> str:  # type: ignore[no-untyped-def]
    settings.DIRECTORY_LDIF = str(ldif)
    out = StringIO()
    call_command("sync_directory", stdout=out)
    return out.getvalue().strip()


def test_it_imports_users_with_roles_and_accents(db, settings) -> None:  # type: ignore[no-untyped-def]
    line = sync(settings)
    assert line.startswith("created 8, updated 0, deactivated 0 users")
    roles = dict(User.objects.values_list("username", "role"))
    assert roles == {
        "marie.curie": "teacher",
        "louis.pasteur": "teacher",
        "lea.martin": "student",
        "zoe.bernard": "student",
        "jeanedouard.petit": "student",
        "claire.fontaine": "supervisor",
        "admin": "admin",
        "anne.proviseur": "admin",
    }
    assert User.objects.get(username="jeanedouard.petit").name == "Jean-Édouard Petit"
    assert not User.objects.filter(username="intrus.sansgroupe").exists()


def test_it_reads_classes_from_posix_groups_and_teams_from_group_of_names(db, settings) -> None:  # type: ignore[no-untyped-def]
    sync(settings)
    six_a = SchoolClass.objects.get(slug="6a")
    assert sorted(six_a.students.values_list("username", flat=True)) == ["lea.martin", "zoe.bernard"]
    assert list(six_a.teachers.values_list("username", flat=True)) == ["marie.curie"]
    assert list(SchoolClass.objects.get(slug="5b").teachers.values_list("username", flat=True)) == ["louis.pasteur"]


def test_a_second_sync_changes_nothing(db, settings) -> None:  # type: ignore[no-untyped-def]
    sync(settings)
    before = list(User.objects.order_by("pk").values())
    assert sync(settings) == "created 0, updated 0, deactivated 0 users; 0 classes"
    assert list(User.objects.order_by("pk").values()) == before


def test_a_user_removed_from_the_directory_is_deactivated_not_deleted(db, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sync(settings)
    text = TEST_LDIF.read_text(encoding="utf-8")
    blocks = [b for b in text.split("\n\n") if "dn: uid=zoe.bernard," not in b]
    smaller = tmp_path / "smaller.ldif"
    smaller.write_text("\n\n".join(blocks), encoding="utf-8")
    line = sync(settings, smaller)
    assert "deactivated 1 users" in line
    zoe = User.objects.get(username="zoe.bernard")
    assert not zoe.is_active
    assert zoe.classes.count() == 0


def test_a_user_moved_to_another_class_is_updated(db, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sync(settings)
    text = TEST_LDIF.read_text(encoding="utf-8")
    moved = text.replace(
        "cn: Classe_6A\ngidNumber: 2003\nmemberUid: lea.martin\nmemberUid: zoe.bernard\n",
        "cn: Classe_6A\ngidNumber: 2003\nmemberUid: lea.martin\n",
    )
    moved = moved.replace(
        "cn: Classe_5B\ngidNumber: 2004\n", "cn: Classe_5B\ngidNumber: 2004\nmemberUid: zoe.bernard\n"
    )
    assert moved != text
    path = tmp_path / "moved.ldif"
    path.write_text(moved, encoding="utf-8")
    sync(settings, path)
    assert list(User.objects.get(username="zoe.bernard").classes.values_list("name", flat=True)) == ["5B"]


@pytest.mark.ldap
def test_it_syncs_from_a_real_ldap_server(db, settings, slapd) -> None:  # type: ignore[no-untyped-def]
    settings.LDAP_URI = slapd.uri
    out = StringIO()
    call_command("sync_directory", stdout=out)
    assert out.getvalue().startswith("created 8, updated 0, deactivated 0 users")
    assert SchoolClass.objects.get(slug="6a").students.count() == 2
    assert User.objects.get(username="anne.proviseur").role == "admin"


def test_the_celery_task_runs_the_sync(db, settings) -> None:  # type: ignore[no-untyped-def]
    from accounts.tasks import sync_directory

    settings.DIRECTORY_LDIF = str(TEST_LDIF)
    assert sync_directory.delay().get().startswith("created 8")
    assert User.objects.count() == 8


def test_the_sync_is_scheduled_under_celery_beat(settings) -> None:  # type: ignore[no-untyped-def]
    from config.celery import app

    entry = app.conf.beat_schedule["sync-directory"]
    assert entry["task"] == "accounts.tasks.sync_directory"
    assert entry["schedule"] == 15 * 60
