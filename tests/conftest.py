"""Shared fixtures: the test directory's personas and logged-in clients.

The personas come from tests/directory/test_school.ldif (see its README):
teacher (marie.curie, team 6A), other_teacher (louis.pasteur, team 5B),
student (lea.martin, 6A), student2 (zoe.bernard, 6A), other_class_student
(jeanedouard.petit, 5B), supervisor (claire.fontaine), admin (admin).
Every password is "secret".

Two variables choose the shape the suite runs in (see the README's test paragraph):
CV_TEST_DATABASE=postgres runs on a throwaway PostgreSQL cluster instead of SQLite;
CV_TEST_SHAPE=production also sets REDIS_URL and opens the room sockets of tests/room,
tests/recess, tests/slides and tests/media_cluster on two daphne processes sharing that
database and Redis, as two web units of a server do. Tests that cannot hold across processes
are marked `embedded_only(reason)` and skipped there with that reason.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.services")  # imported here before pytest_plugins loads it

import redis  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.directory import sources, sync  # noqa: E402
from accounts.models import User  # noqa: E402
from tests.services import AsgiServer, RedisInstance, start_daphne  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_LDIF = Path(__file__).parent / "directory" / "test_school.ldif"
PASSWORD = "secret"

pytest_plugins = ["tests.services"]

SHAPE = os.environ.get("CV_TEST_SHAPE") or "embedded"
DATABASE = "postgres" if SHAPE == "production" else os.environ.get("CV_TEST_DATABASE") or "sqlite"
PRODUCTION = SHAPE == "production"
# The production shape's Redis database: apart from the ones other tests flush (0 and 5).
PRODUCTION_REDIS_DB = 3
ASGI_PROCESSES = 2


def pytest_configure(config: pytest.Config) -> None:
    if SHAPE not in ("embedded", "production"):
        raise pytest.UsageError(f"CV_TEST_SHAPE={SHAPE!r}: use embedded or production")
    if DATABASE not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"CV_TEST_DATABASE={DATABASE!r}: use sqlite or postgres")


def pytest_report_header(config: pytest.Config) -> str:
    return f"shape: {SHAPE}, database: {DATABASE}"


def settings_from_environment(env: dict[str, str]) -> dict[str, Any]:
    """Evaluate config/settings.py as a process started with these variables set would."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        spec = importlib.util.spec_from_file_location("_cv_settings_probe", ROOT / "config" / "settings.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {name: getattr(module, name) for name in dir(module) if name.isupper()}


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request: pytest.FixtureRequest) -> None:
    """On PostgreSQL, point the default database at the session's cluster before the test one is made."""
    if DATABASE == "postgres":
        from django.conf import settings
        from django.db import connections

        server = request.getfixturevalue("postgres_server")
        # The very dictionary the connection holds, so that no stale SQLite option survives.
        default = settings.DATABASES["default"]
        default.clear()
        default.update(settings_from_environment({"DATABASE_URL": server.url})["DATABASES"]["default"])
        connections.configure_settings(settings.DATABASES)
        connections["default"].close()
        del connections["default"]
    request.getfixturevalue("django_db_modify_db_settings_parallel_suffix")


@pytest.fixture(scope="session")
def django_db_keepdb(request: pytest.FixtureRequest) -> bool:
    """Keep PostgreSQL's test database at the end: the cluster goes with it, and dropping it
    would fail on the connections that sync_to_async's threads and daphne still hold."""
    return DATABASE == "postgres" or bool(request.config.getvalue("reuse_db"))


@pytest.fixture(scope="session")
def production_redis_url(redis_server: RedisInstance) -> str:
    """The REDIS_URL of the production shape: one database of the session's Redis, empty at first."""
    url = redis_server.url.rsplit("/", 1)[0] + f"/{PRODUCTION_REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session", autouse=True)
def _production_settings(request: pytest.FixtureRequest) -> Iterator[None]:
    """In the production shape, give this process what REDIS_URL gives a web process.

    The channel layer, the cache and the media bus go through Redis, so that what an action run
    here sends reaches the sockets held by the daphne processes. Celery stays eager here: the
    tests assert right after an upload, and tests/slides/test_worker.py runs a real worker.
    """
    if not PRODUCTION:
        yield
        return
    from django.test.utils import override_settings

    url = request.getfixturevalue("production_redis_url")
    embedded = settings_from_environment({"REDIS_URL": ""})
    shaped = settings_from_environment({"REDIS_URL": url})
    changed = {
        name: value
        for name, value in shaped.items()
        if embedded.get(name) != value and name != "SECRET_KEY" and not name.startswith("CELERY_")
    }
    with override_settings(**changed):
        yield


@pytest.fixture(scope="session")
def asgi_servers(
    django_db_setup: None, production_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[AsgiServer]]:
    """Two daphne processes on the test database and the production shape's Redis."""
    from django.conf import settings
    from django.db import connections

    database = connections["default"].settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        "REDIS_URL": production_redis_url,
        # The same key signs the session cookies that the tests make in this process.
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DIRECTORY_LDIF": str(TEST_LDIF),
        "LDAP_URI": "",
        "MEDIA_ROOT": str(tmp_path_factory.mktemp("asgi-media")),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    logs = tmp_path_factory.mktemp("asgi")
    servers: list[AsgiServer] = []
    try:
        for index in range(ASGI_PROCESSES):
            servers.append(start_daphne(env, logs / f"daphne-{index}.log"))
        yield servers
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        text = server.log.read_text(errors="replace")
        if "Traceback" in text:
            import warnings

            warnings.warn(f"daphne on port {server.port} logged a traceback; see {server.log}", stacklevel=1)


# Fixtures through which a test reaches the database (pytest-django's, and `directory`'s `db`).
DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


@pytest.hookimpl(tryfirst=True)  # before `-m` reads the `database` marker added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last; mark `database` the tests that touch it; in the production shape,
    skip the embedded-only tests, saying why.

    Playwright's sync API keeps an event loop running in the main thread until the
    session ends; asyncio tests collected after it could not start their own.
    """
    items.sort(key=lambda item: "browser" in item.keywords or "/tests/browser/" in str(item.path))
    for item in items:
        if item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.database)
    if not PRODUCTION:
        return
    for item in items:
        marker = item.get_closest_marker("embedded_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"embedded only: {reason}"))


@pytest.fixture(autouse=True)
def _test_directory(settings):  # type: ignore[no-untyped-def]
    """Point the embedded directory at the test school and keep login counters apart."""
    settings.DIRECTORY_LDIF = str(TEST_LDIF)
    settings.LDAP_URI = ""
    settings.AUTHENTICATION_BACKENDS = ["accounts.backends.LDIFBackend"]
    if PRODUCTION:
        # The cache shares REDIS_URL's database with the channel layer and the media bus, as on a
        # server, so clear only its keys (":<version>:<key>"), not the whole database.
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match=":*", count=1000):
            client.delete(key)
        return
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
