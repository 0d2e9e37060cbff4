"""Logging in against a real slapd serving the SambaÉdu-shaped test directory."""

import socket

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.ldap


@pytest.fixture
def ldap_settings(settings, slapd):  # type: ignore[no-untyped-def]
    settings.LDAP_URI = slapd.uri
    settings.LDAP_BASE_DN = ""  # found through the root DSE, as on a real server
    settings.AUTHENTICATION_BACKENDS = ["accounts.backends.SchoolLDAPBackend"]
    return settings


def login(username: str, password: str) -> tuple[Client, str]:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return client, response.content.decode() if response.status_code == 200 else response["Location"]


@pytest.mark.parametrize(
    ("uid", "role", "classes", "taught"),
    [
        ("marie.curie", "teacher", [], ["6A"]),
        ("lea.martin", "student", ["6A"], []),
        ("jeanedouard.petit", "student", ["5B"], []),
        ("claire.fontaine", "supervisor", [], []),
        ("anne.proviseur", "admin", [], []),
    ],
)
def test_it_logs_in_each_role_through_ldap(db, ldap_settings, uid, role, classes, taught) -> None:  # type: ignore[no-untyped-def]
    client, where = login(uid, "secret")
    assert where == "/"
    user = User.objects.get(username=uid)
    assert user.role == role
    assert sorted(user.classes.values_list("name", flat=True)) == classes
    assert sorted(user.taught_classes.values_list("name", flat=True)) == taught


def test_it_refuses_a_wrong_password_through_ldap(db, ldap_settings) -> None:  # type: ignore[no-untyped-def]
    _, page = login("marie.curie", "not-her-password")
    assert "Wrong username or password" in page
    assert not User.objects.exists()


def test_it_refuses_an_unknown_user_through_ldap(db, ldap_settings) -> None:  # type: ignore[no-untyped-def]
    _, page = login("ghost.user", "secret")
    assert "Wrong username or password" in page


def test_it_tells_a_user_in_no_group_why_through_ldap(db, ldap_settings) -> None:  # type: ignore[no-untyped-def]
    _, page = login("intrus.sansgroupe", "secret")
    assert "belongs to no student, teacher or staff group" in page
    assert not User.objects.filter(username="intrus.sansgroupe").exists()


def test_it_says_the_directory_is_unavailable_when_ldap_is_down(db, settings) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    settings.LDAP_URI = f"ldap://127.0.0.1:{port}"
    settings.LDAP_BASE_DN = "dc=lycee-test,dc=ac-test"
    settings.AUTHENTICATION_BACKENDS = ["accounts.backends.SchoolLDAPBackend"]
    _, page = login("marie.curie", "secret")
    assert "The school directory is unavailable" in page


def test_a_logged_in_user_keeps_working_when_ldap_goes_down(db, settings, fresh_slapd) -> None:  # type: ignore[no-untyped-def]
    settings.LDAP_URI = fresh_slapd.uri
    settings.AUTHENTICATION_BACKENDS = ["accounts.backends.SchoolLDAPBackend"]
    client, where = login("lea.martin", "secret")
    assert where == "/"
    fresh_slapd.stop()
    assert client.get("/").status_code == 200
    assert client.get("/classes/6a/").status_code == 200
