"""Turn raw directory entries into users, roles, classes and teams (pure, no I/O).

SambaÉdu directories mix posixGroup (memberUid) and groupOfNames (member DNs,
which may name other groups): both are read, and nested groups are expanded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Attributes = Mapping[str, Sequence[str]]
Entry = tuple[str, Attributes]

ROLES_HIGHEST_FIRST = ("admin", "supervisor", "teacher", "student")


@dataclass(frozen=True)
class DirectoryConfig:
    student_groups: Sequence[str] = ("Eleves",)
    teacher_groups: Sequence[str] = ("Profs",)
    supervisor_groups: Sequence[str] = ("Administratifs",)
    admin_groups: Sequence[str] = ("se3_is_admin",)
    class_prefix: str = "Classe_"
    team_prefix: str = "Equipe_"

    def groups_for(self, role: str) -> Sequence[str]:
        return {
            "admin": self.admin_groups,
            "supervisor": self.supervisor_groups,
            "teacher": self.teacher_groups,
            "student": self.student_groups,
        }[role]


@dataclass(frozen=True)
class DirectoryUser:
    uid: str
    dn: str
    first_name: str
    last_name: str
    display_name: str
    email: str
    employee_number: str
    password_hash: str = field(default="", repr=False)


@dataclass
class Snapshot:
    """What the directory says: users with a role, classes with students and teachers."""

    users: dict[str, DirectoryUser]
    roles: dict[str, str]
    classes: dict[str, set[str]]
    teams: dict[str, set[str]]

    def role_of(self, uid: str) -> str | None:
        return self.roles.get(uid)

    def classes_of(self, uid: str) -> set[str]:
        return {name for name, members in self.classes.items() if uid in members}

    def teams_of(self, uid: str) -> set[str]:
        return {name for name, members in self.teams.items() if uid in members}


def _first(attrs: Attributes, name: str, default: str = "") -> str:
    for key, values in attrs.items():
        if key.lower() == name.lower() and values:
            return str(values[0])
    return default


def _all(attrs: Attributes, name: str) -> list[str]:
    for key, values in attrs.items():
        if key.lower() == name.lower():
            return [str(v) for v in values]
    return []


def _object_classes(attrs: Attributes) -> set[str]:
    return {value.lower() for value in _all(attrs, "objectClass")}


def _norm_dn(dn: str) -> str:
    return ",".join(part.strip().lower() for part in dn.split(","))


def _uid_from_dn(dn: str) -> str | None:
    first = dn.split(",", 1)[0]
    key, _, value = first.partition("=")
    return value.strip() if key.strip().lower() == "uid" else None


def user_from_entry(dn: str, attrs: Attributes) -> DirectoryUser | None:
    uid = _first(attrs, "uid")
    if not uid:
        return None
    cn = _first(attrs, "cn")
    first = _first(attrs, "givenName")
    last = _first(attrs, "sn")
    if not cn:
        cn = f"{first} {last}".strip() or uid
    return DirectoryUser(
        uid=uid,
        dn=dn,
        first_name=first,
        last_name=last,
        display_name=cn,
        email=_first(attrs, "mail"),
        employee_number=_first(attrs, "employeeNumber"),
        password_hash=_first(attrs, "userPassword"),
    )


def build_snapshot(entries: Iterable[Entry], config: DirectoryConfig) -> Snapshot:
    """Read users and groups from entries and resolve roles, classes and teams."""
    users: dict[str, DirectoryUser] = {}
    user_by_dn: dict[str, str] = {}
    group_members: dict[str, tuple[set[str], set[str]]] = {}  # cn -> (uids, member dns)
    group_by_dn: dict[str, str] = {}

    for dn, attrs in entries:
        classes = _object_classes(attrs)
        if "posixaccount" in classes or "inetorgperson" in classes:
            user = user_from_entry(dn, attrs)
            if user is not None:
                users[user.uid] = user
                user_by_dn[_norm_dn(dn)] = user.uid
        elif classes & {"posixgroup", "groupofnames", "groupofuniquenames"}:
            cn = _first(attrs, "cn")
            if not cn:
                continue
            uids, dns = group_members.setdefault(cn, (set(), set()))
            uids.update(_all(attrs, "memberUid"))
            dns.update(_norm_dn(m) for m in _all(attrs, "member") + _all(attrs, "uniqueMember"))
            group_by_dn[_norm_dn(dn)] = cn

    resolved: dict[str, set[str]] = {}

    def members(cn: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if cn in resolved:
            return resolved[cn]
        uids, dns = group_members.get(cn, (set(), set()))
        result = {uid for uid in uids if uid in users}
        for member_dn in dns:
            if member_dn in user_by_dn:
                result.add(user_by_dn[member_dn])
            elif member_dn in group_by_dn and group_by_dn[member_dn] not in seen:
                result |= members(group_by_dn[member_dn], seen | {cn})
            else:
                uid = _uid_from_dn(member_dn)
                if uid in users:
                    result.add(uid)
        resolved[cn] = result
        return result

    roles: dict[str, str] = {}
    for role in reversed(ROLES_HIGHEST_FIRST):  # higher roles overwrite lower ones
        for group in config.groups_for(role):
            for uid in members(group):
                roles[uid] = role

    classes_: dict[str, set[str]] = {}
    teams: dict[str, set[str]] = {}
    for cn in group_members:
        if cn.startswith(config.class_prefix) and len(cn) > len(config.class_prefix):
            classes_[cn[len(config.class_prefix) :]] = members(cn)
        elif cn.startswith(config.team_prefix) and len(cn) > len(config.team_prefix):
            teams[cn[len(config.team_prefix) :]] = members(cn)

    return Snapshot(users=users, roles=roles, classes=classes_, teams=teams)
