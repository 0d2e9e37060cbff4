"""Apply what the directory says to the database: users, roles, classes, teams.

Users who left the directory are deactivated, never deleted, so that
attendance and history stay. Only rows that differ are written, so a second
run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from classroom.models import SchoolClass

from .schema import DirectoryUser, Snapshot

USER_FIELDS = ("first_name", "last_name", "display_name", "email", "employee_number", "directory_dn", "role")


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    classes: int = 0

    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, deactivated {self.deactivated} users;"
            f" {self.classes} classes"
        )


def _wanted(user: DirectoryUser, role: str) -> dict[str, str]:
    return {
        "first_name": user.first_name[:150],
        "last_name": user.last_name[:150],
        "display_name": user.display_name[:200],
        "email": user.email[:254],
        "employee_number": user.employee_number[:32],
        "directory_dn": user.dn[:500],
        "role": role,
    }


def class_slug(name: str) -> str:
    return slugify(name) or name.lower()


def _apply_user(existing: User | None, entry: DirectoryUser, role: str, result: SyncResult) -> User:
    wanted = _wanted(entry, role)
    if existing is None:
        user = User(username=entry.uid, **wanted)
        user.set_unusable_password()  # passwords stay in the directory
        user.synced_at = timezone.now()
        user.save()
        result.created += 1
        return user
    changed = [name for name, value in wanted.items() if getattr(existing, name) != value]
    if not existing.is_active:
        existing.is_active = True
        changed.append("is_active")
    if changed:
        for name in changed:
            if name != "is_active":
                setattr(existing, name, wanted[name])
        existing.synced_at = timezone.now()
        existing.save(update_fields=[*changed, "synced_at"])
        result.updated += 1
    return existing


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


def _sync_classes(snapshot: Snapshot, result: SyncResult) -> dict[str, SchoolClass]:
    classes = {c.name: c for c in SchoolClass.objects.all()}
    for name in snapshot.classes.keys() | snapshot.teams.keys():
        school_class = classes.get(name)
        if school_class is None:
            classes[name] = SchoolClass.objects.create(name=name, slug=class_slug(name))
            result.classes += 1
        elif not school_class.active:
            school_class.active = True
            school_class.save(update_fields=["active"])
    gone = [c.pk for name, c in classes.items() if c.active and name not in snapshot.classes and name not in snapshot.teams]
    SchoolClass.objects.filter(pk__in=gone).update(active=False)
    return classes


@transaction.atomic
def sync_all(snapshot: Snapshot) -> SyncResult:
    """Import or update every user and class of the directory."""
    result = SyncResult()
    existing = {u.username: u for u in User.objects.all()}
    ids: dict[str, int] = {}
    for uid, role in snapshot.roles.items():
        user = _apply_user(existing.get(uid), snapshot.users[uid], role, result)
        ids[uid] = user.pk
    gone = [u.pk for uid, u in existing.items() if u.is_active and uid not in snapshot.roles and not u.is_superuser]
    result.deactivated = User.objects.filter(pk__in=gone).update(is_active=False)

    classes = _sync_classes(snapshot, result)
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
    return result


@transaction.atomic
def sync_user(snapshot: Snapshot, uid: str) -> User | None:
    """Import or update one user, their role and their classes; None if they have no role."""
    role = snapshot.role_of(uid)
    existing = User.objects.filter(username=uid).first()
    if role is None or uid not in snapshot.users:
        if existing is not None and existing.is_active and not existing.is_superuser:
            existing.is_active = False
            existing.save(update_fields=["is_active"])
        return None
    result = SyncResult()
    user = _apply_user(existing, snapshot.users[uid], role, result)
    classes = _sync_classes_for(snapshot, uid)
    student_of = {classes[n].pk: {user.pk} for n in snapshot.classes_of(uid)} if role == "student" else {}
    teacher_of = {classes[n].pk: {user.pk} for n in snapshot.teams_of(uid)} if role != "student" else {}
    _set_memberships("students", student_of, {user.pk})
    _set_memberships("teachers", teacher_of, {user.pk})
    return user


def _sync_classes_for(snapshot: Snapshot, uid: str) -> dict[str, SchoolClass]:
    names = snapshot.classes_of(uid) | snapshot.teams_of(uid)
    classes: dict[str, SchoolClass] = {}
    for name in names:
        classes[name], _ = SchoolClass.objects.get_or_create(name=name, defaults={"slug": class_slug(name)})
    return classes
