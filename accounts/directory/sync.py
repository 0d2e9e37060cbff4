"""Apply what the directory says to the database: users and roles, then classes and teams.

Users who left the directory are deactivated, never deleted, so that
attendance and history stay. Only rows that differ are written, so a second
run changes nothing.

The directory knows nothing of classes as the app keeps them: once the users are written, it
sends `synced` (or `user_synced`) and the classroom app's receivers apply the classes and teams
(`classroom.directory`), in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from accounts.models import User

from .schema import DirectoryUser, Snapshot

synced = Signal()
"""Sent by `sync_all` after the users: `snapshot`, `ids` (uid -> user pk of every user with a role).

Each receiver returns how many classes it created (counted in `SyncResult.classes`).
"""
user_synced = Signal()
"""Sent by `sync_user` after the user: `snapshot`, `uid`, `user`."""


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
    for _, created in synced.send(sender=User, snapshot=snapshot, ids=ids):
        # what the receiver returned: a count (django-stubs types signal replies as str | None)
        result.classes += cast(int, created)
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
    user = _apply_user(existing, snapshot.users[uid], role, SyncResult())
    user_synced.send(sender=User, snapshot=snapshot, uid=uid, user=user)
    return user
