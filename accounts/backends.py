"""Authentication against the school directory.

In the embedded default the password is checked against the bundled LDIF's
userPassword hashes; with LDAP_URI set, django-auth-ldap binds to the server as
the user. Either way the user's role, classes and teams then come from the
directory (accounts.directory), and someone in no known group gets no account.
"""

from __future__ import annotations

import logging
from typing import Any

import ldap
from django.conf import settings
from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend, ldap_error

from .directory import sources, sync
from .directory.passwords import check_password
from .models import User

log = logging.getLogger(__name__)

# Why the last authentication failed, read by the login form to tell the user.
NO_ROLE = "no_role"
UNAVAILABLE = "unavailable"


def _flag(request: HttpRequest | None, reason: str) -> None:
    if request is not None:
        request.directory_error = reason  # type: ignore[attr-defined]


def _sync_after_login(request: HttpRequest | None, uid: str) -> User | None:
    try:
        snapshot = sources.user_snapshot(uid)
    except sources.DirectoryUnavailable:
        _flag(request, UNAVAILABLE)
        return None
    user = sync.sync_user(snapshot, uid)
    if user is None:
        _flag(request, NO_ROLE)
    return user


class LDIFBackend(BaseBackend):
    """Check passwords against the bundled directory file (no LDAP server needed)."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if not username or not password:
            return None
        snapshot = sources.ldif_snapshot()
        entry = snapshot.users.get(username)
        if entry is None or not check_password(password, entry.password_hash):
            return None
        return _sync_after_login(request, username)

    def get_user(self, user_id: int) -> User | None:
        return User.objects.filter(pk=user_id, is_active=True).first()


class SchoolLDAPBackend(LDAPBackend):  # type: ignore[misc]  # django-auth-ldap ships no types
    """Bind to the school's LDAP server as the user, then sync them from the directory."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if not username or not password:
            return None
        self._request = request
        self.settings.SERVER_URI = settings.LDAP_URI
        self.settings.START_TLS = settings.LDAP_START_TLS
        self.settings.BIND_DN = settings.LDAP_BIND_DN
        self.settings.BIND_PASSWORD = settings.LDAP_BIND_PASSWORD
        self.settings.CONNECTION_OPTIONS = {ldap.OPT_NETWORK_TIMEOUT: settings.LDAP_TIMEOUT}
        try:
            self.settings.USER_DN_TEMPLATE = f"uid=%(user)s,ou=People,{self._base_dn()}"
        except sources.DirectoryUnavailable:
            _flag(request, UNAVAILABLE)
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)  # type: ignore[no-any-return]  # untyped base

    def _base_dn(self) -> str:
        if settings.LDAP_BASE_DN:
            return str(settings.LDAP_BASE_DN)
        conn = sources.connect()
        try:
            return sources.ldap_base_dn(conn)
        finally:
            conn.unbind_s()

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        # The bind succeeded: decide from the directory whether this person has a role.
        user = _sync_after_login(getattr(self, "_request", None), username)
        if user is None:
            # django-auth-ldap treats this as a failed login; nothing is created.
            raise ldap_user.AuthenticationFailed("no role in the directory")
        return user, False

    def get_user(self, user_id: int) -> User | None:
        return User.objects.filter(pk=user_id, is_active=True).first()


def _on_ldap_error(
    sender: Any, context: str, user: Any, request: Any = None, exception: Exception | None = None, **kwargs: Any
) -> None:
    if isinstance(exception, (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR)):
        _flag(request, UNAVAILABLE)
    log.warning("LDAP error during %s: %s", context, exception)


ldap_error.connect(_on_ldap_error)
