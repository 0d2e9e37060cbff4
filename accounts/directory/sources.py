"""Where the directory comes from: an LDAP server, or an LDIF file in the embedded default."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ldap
from django.conf import settings
from ldif import LDIFRecordList

from .schema import DirectoryConfig, Entry, Snapshot, build_snapshot

USER_ATTRS = ["uid", "cn", "givenName", "sn", "mail", "employeeNumber", "objectClass"]
GROUP_ATTRS = ["cn", "memberUid", "member", "uniqueMember", "objectClass"]


class DirectoryUnavailable(Exception):
    """The LDAP server cannot be reached."""


def directory_config() -> DirectoryConfig:
    return DirectoryConfig(
        student_groups=tuple(settings.DIRECTORY_STUDENT_GROUPS),
        teacher_groups=tuple(settings.DIRECTORY_TEACHER_GROUPS),
        supervisor_groups=tuple(settings.DIRECTORY_SUPERVISOR_GROUPS),
        admin_groups=tuple(settings.DIRECTORY_ADMIN_GROUPS),
        class_prefix=settings.DIRECTORY_CLASS_PREFIX,
        team_prefix=settings.DIRECTORY_TEAM_PREFIX,
    )


def read_ldif(path: str) -> list[Entry]:
    with open(path, "rb") as handle:
        parser = LDIFRecordList(handle)
        parser.parse()
    return [(dn, _decode(attrs)) for dn, attrs in parser.all_records]


@dataclass
class _Cached:
    mtime: float
    entries: list[Entry]
    snapshot: Snapshot


_ldif_cache: dict[str, _Cached] = {}
_ldif_lock = threading.Lock()


def ldif_snapshot(path: str | None = None) -> Snapshot:
    """Parse the LDIF once per modification and return what it says."""
    path = path or settings.DIRECTORY_LDIF
    mtime = os.stat(path).st_mtime
    with _ldif_lock:
        cached = _ldif_cache.get(path)
        if cached is None or cached.mtime != mtime:
            entries = read_ldif(path)
            cached = _Cached(mtime, entries, build_snapshot(entries, directory_config()))
            _ldif_cache[path] = cached
        return cached.snapshot


def connect() -> Any:
    """Open a connection to the LDAP server with the service account (or anonymously)."""
    conn = ldap.initialize(settings.LDAP_URI)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, settings.LDAP_TIMEOUT)
    conn.set_option(ldap.OPT_TIMEOUT, settings.LDAP_TIMEOUT)
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    try:
        if settings.LDAP_START_TLS:
            conn.start_tls_s()
        if settings.LDAP_BIND_DN:
            conn.simple_bind_s(settings.LDAP_BIND_DN, settings.LDAP_BIND_PASSWORD)
        else:
            conn.simple_bind_s("", "")
    except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR) as exc:
        raise DirectoryUnavailable(str(exc)) from exc
    return conn


def ldap_base_dn(conn: Any) -> str:
    if settings.LDAP_BASE_DN:
        return str(settings.LDAP_BASE_DN)
    result = conn.search_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["namingContexts"])
    contexts = result[0][1].get("namingContexts", []) if result else []
    if not contexts:
        raise DirectoryUnavailable("the server names no base DN; set LDAP_BASE_DN")
    return str(contexts[0].decode())


def _decode(attrs: dict[str, list[bytes]]) -> dict[str, list[str]]:
    return {key: [v.decode("utf-8", "replace") for v in values] for key, values in attrs.items()}


def _paged_search(conn: Any, base: str, filterstr: str, attrs: list[str]) -> Iterator[Entry]:
    from ldap.controls import SimplePagedResultsControl

    control = SimplePagedResultsControl(True, size=500, cookie="")
    while True:
        try:
            msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, attrs, serverctrls=[control])
            _, data, _, controls = conn.result3(msgid)
        except ldap.NO_SUCH_OBJECT:
            return
        for dn, entry in data:
            if dn:
                yield dn, _decode(entry)
        cookies = [c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType]
        if not cookies or not cookies[0]:
            return
        control.cookie = cookies[0]


def ldap_entries() -> list[Entry]:
    """Read every user and group (without passwords) from the LDAP server."""
    conn = connect()
    try:
        base = ldap_base_dn(conn)
        users = _paged_search(conn, base, "(|(objectClass=posixAccount)(objectClass=inetOrgPerson))", USER_ATTRS)
        groups = _paged_search(
            conn,
            base,
            "(|(objectClass=posixGroup)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
            GROUP_ATTRS,
        )
        return list(users) + list(groups)
    except (ldap.SERVER_DOWN, ldap.TIMEOUT) as exc:
        raise DirectoryUnavailable(str(exc)) from exc
    finally:
        conn.unbind_s()


def current_snapshot() -> Snapshot:
    """What the configured directory says now (LDAP when LDAP_URI is set, else the LDIF)."""
    if settings.LDAP_URI:
        return build_snapshot(ldap_entries(), directory_config())
    return ldif_snapshot()


def _escape(value: str) -> str:
    from ldap.filter import escape_filter_chars

    return str(escape_filter_chars(value))


def ldap_user_entries(uid: str) -> list[Entry]:
    """Read one user and the groups that decide their role, classes and teams."""
    conn = connect()
    try:
        base = ldap_base_dn(conn)
        users = list(_paged_search(conn, base, f"(&(objectClass=posixAccount)(uid={_escape(uid)}))", USER_ATTRS))
        if not users:
            return []
        user_dn = _escape(users[0][0])
        config = directory_config()
        role_groups = "".join(
            f"(cn={_escape(cn)})"
            for role in ("admin", "supervisor", "teacher", "student")
            for cn in config.groups_for(role)
        )
        groups = list(
            _paged_search(
                conn,
                base,
                f"(|(memberUid={_escape(uid)})(member={user_dn})(uniqueMember={user_dn}){role_groups})",
                GROUP_ATTRS,
            )
        )
        # Role groups may list other groups by DN (se3_is_admin lists groups): read those too.
        known = {dn.lower() for dn, _ in groups}
        for _, attrs in list(groups):
            for member in attrs.get("member", []):
                if member.lower() not in known and not member.lower().startswith("uid="):
                    known.add(member.lower())
                    try:
                        found = conn.search_s(member, ldap.SCOPE_BASE, "(objectClass=*)", GROUP_ATTRS)
                    except ldap.NO_SUCH_OBJECT:
                        continue
                    groups.extend((dn, _decode(a)) for dn, a in found if dn)
        return users + groups
    except (ldap.SERVER_DOWN, ldap.TIMEOUT) as exc:
        raise DirectoryUnavailable(str(exc)) from exc
    finally:
        conn.unbind_s()


def user_snapshot(uid: str) -> Snapshot:
    """What the directory says about one user (cheap on LDAP: no full read)."""
    if settings.LDAP_URI:
        return build_snapshot(ldap_user_entries(uid), directory_config())
    return ldif_snapshot()
