"""Shared fixtures: the test directory's personas and logged-in clients.

The personas come from tests/directory/test_school.ldif (see its README):
teacher (marie.curie, team 6A), other_teacher (louis.pasteur, team 5B),
student (lea.martin, 6A), student2 (zoe.bernard, 6A), other_class_student
(jeanedouard.petit, 5B), supervisor (claire.fontaine), admin (admin).
Every password is "secret".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from accounts.directory import sources, sync
from accounts.models import User

TEST_LDIF = Path(__file__).parent / "directory" / "test_school.ldif"
PASSWORD = "secret"

pytest_plugins = ["tests.services"]


@pytest.fixture(autouse=True)
def _test_directory(settings):  # type: ignore[no-untyped-def]
    """Point the embedded directory at the test school and keep login counters apart."""
    settings.DIRECTORY_LDIF = str(TEST_LDIF)
    settings.LDAP_URI = ""
    settings.AUTHENTICATION_BACKENDS = ["accounts.backends.LDIFBackend"]
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def directory(db):  # type: ignore[no-untyped-def]
    """Sync the test school into the database."""
    return sync.sync_all(sources.ldif_snapshot(str(TEST_LDIF)))


def _persona(uid: str):  # type: ignore[no-untyped-def]
    @pytest.fixture
    def fixture(directory) -> User:  # type: ignore[no-untyped-def]
        return User.objects.get(username=uid)

    return fixture


teacher = _persona("marie.curie")
other_teacher = _persona("louis.pasteur")
student = _persona("lea.martin")
student2 = _persona("zoe.bernard")
other_class_student = _persona("jeanedouard.petit")
supervisor = _persona("claire.fontaine")
admin = _persona("admin")


def login(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="accounts.backends.LDIFBackend")
    return client


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last.

    Playwright's sync API keeps an event loop running in the main thread until the
    session ends; asyncio tests collected after it could not start their own.
    """
    items.sort(key=lambda item: "browser" in item.keywords or "/tests/browser/" in str(item.path))
