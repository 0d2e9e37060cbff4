"""Classes and teams as the directory says, applied after its users (`accounts.directory.sync`).

Classes that left the directory are deactivated, never deleted; only rows that differ are written.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.utils.text import slugify

from accounts.directory.schema import Snapshot
from accounts.directory.sync import synced, user_synced
from accounts.models import User

from .models import SchoolClass


def class_slug(name: str) -> str:
    return slugify(name) or name.lower()


def _set_memberships(relation: str, by_class: dict[int, set[int]], user_ids: set[int] | None) -> None:
    """Make the class<->user rows match by_class; limit to user_ids when given."""
    through = getattr(SchoolClass, relation).through
    existing = through.objects.all()
    if user_ids is not None:
        existing = existing.filter(user_id__in=user_ids)
    have = set(existing.values_list("schoolclass_id", "user_id"))
    want = {(class_id, user_id) for class_id, users in by_class.items() for user_id in users}
    if user_ids is not None:
        want = {pair for pair in want if pair[1] in user_ids}
    stale = have - want
    if stale:
        for class_id, user_id in stale:
            through.objects.filter(schoolclass_id=class_id, user_id=user_id).delete()
    through.objects.bulk_create([through(schoolclass_id=c, user_id=u) for c, u in want - have])


def sync_classes(snapshot: Snapshot, ids: dict[str, int]) -> int:
    """Every class and team of the directory and their members; return how many classes were created."""
    classes = {c.name: c for c in SchoolClass.objects.all()}
    created = 0
    for name in snapshot.classes.keys() | snapshot.teams.keys():
        school_class = classes.get(name)
        if school_class is None:
            classes[name] = SchoolClass.objects.create(name=name, slug=class_slug(name))
            created += 1
        elif not school_class.active:
            school_class.active = True
            school_class.save(update_fields=["active"])
    gone = [
        c.pk for name, c in classes.items() if c.active and name not in snapshot.classes and name not in snapshot.teams
    ]
    SchoolClass.objects.filter(pk__in=gone).update(active=False)
    students = {
        classes[name].pk: {ids[uid] for uid in members if snapshot.roles.get(uid) == "student"}
        for name, members in snapshot.classes.items()
    }
    teachers = {
        classes[name].pk: {ids[uid] for uid in members if uid in ids and snapshot.roles.get(uid) != "student"}
        for name, members in snapshot.teams.items()
    }
    _set_memberships("students", students, None)
    _set_memberships("teachers", teachers, None)
    return created


def sync_user_classes(snapshot: Snapshot, uid: str, user: User) -> None:
    """One user's classes (as a student) or teams (as staff), creating the classes they name."""
    classes: dict[str, SchoolClass] = {}
    for name in snapshot.classes_of(uid) | snapshot.teams_of(uid):
        classes[name], _ = SchoolClass.objects.get_or_create(name=name, defaults={"slug": class_slug(name)})
    student = user.role == "student"
    student_of = {classes[n].pk: {user.pk} for n in snapshot.classes_of(uid)} if student else {}
    teacher_of = {classes[n].pk: {user.pk} for n in snapshot.teams_of(uid)} if not student else {}
    _set_memberships("students", student_of, {user.pk})
    _set_memberships("teachers", teacher_of, {user.pk})


@receiver(synced, dispatch_uid="classroom.directory.sync_classes")
def _on_synced(sender: Any, snapshot: Snapshot, ids: dict[str, int], **kwargs: Any) -> int:
    return sync_classes(snapshot, ids)


@receiver(user_synced, dispatch_uid="classroom.directory.sync_user_classes")
def _on_user_synced(sender: Any, snapshot: Snapshot, uid: str, user: User, **kwargs: Any) -> None:
    sync_user_classes(snapshot, uid, user)
