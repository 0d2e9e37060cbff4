"""Logging in with school credentials against the embedded directory (the LDIF)."""

import pytest
from django.test import Client

from accounts.models import User


def post_login(client: Client, username: str, password: str, address: str = "10.1.2.3"):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize(
    ("uid", "role"),
    [
        ("marie.curie", "teacher"),
        ("lea.martin", "student"),
        ("claire.fontaine", "supervisor"),
        ("admin", "admin"),
        ("anne.proviseur", "admin"),  # admin through a group listed in se3_is_admin
    ],
)
def test_it_logs_in_each_role(db, uid: str, role: str) -> None:
    client = Client()
    response = post_login(client, uid, "secret")
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(username=uid)
    assert user.role == role
    assert client.get("/").status_code == 200


def test_it_creates_the_account_with_accents_and_classes_on_first_login(db) -> None:
    post_login(Client(), "lea.martin", "secret")
    user = User.objects.get(username="lea.martin")
    assert user.name == "Léa Martin"
    assert list(user.classes.values_list("name", flat=True)) == ["6A"]
    assert not user.has_usable_password()


def test_it_refuses_a_wrong_password(db) -> None:
    response = post_login(Client(), "marie.curie", "wrong")
    assert response.status_code == 200
    assert (
        "Wrong username or password" in response.content.decode()
        or "Identifiant ou mot de passe" in response.content.decode()
    )
    assert not User.objects.filter(username="marie.curie").exists()


def test_it_refuses_an_unknown_user(db) -> None:
    response = post_login(Client(), "nobody.here", "secret")
    assert response.status_code == 200
    assert not User.objects.exists()


def test_it_tells_a_user_in_no_group_why_and_creates_no_account(db, settings) -> None:
    settings.LANGUAGE_CODE = "en"
    response = post_login(Client(HTTP_ACCEPT_LANGUAGE="en"), "intrus.sansgroupe", "secret")
    assert response.status_code == 200
    assert "belongs to no student, teacher or staff group" in response.content.decode()
    assert not User.objects.filter(username="intrus.sansgroupe").exists()


def test_it_locks_a_username_after_repeated_failures(db, settings) -> None:
    settings.LOGIN_FAILURES_PER_USER = 3
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(3):
        post_login(client, "marie.curie", "wrong")
    response = post_login(client, "marie.curie", "secret")
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_address_that_tries_many_usernames_still_lets_a_right_password_in(db, settings) -> None:
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 0  # slowed, not locked: tests/accounts/test_lockout.py
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for uid in ["a.b", "c.d", "e.f", "g.h", "i.j", "k.l"]:
        post_login(client, uid, "wrong", address="10.9.9.9")
    same_address = post_login(Client(), "marie.curie", "secret", address="10.9.9.9")
    assert same_address.status_code == 302


def test_it_does_not_check_the_password_of_a_locked_user(db, settings, monkeypatch) -> None:
    settings.LOGIN_FAILURES_PER_USER = 1
    post_login(Client(), "marie.curie", "wrong")
    calls = []
    from accounts import backends

    monkeypatch.setattr(backends, "check_password", lambda *a: calls.append(a) or True)
    post_login(Client(), "marie.curie", "secret")
    assert calls == []


def test_login_page_is_french_by_default_and_english_on_request(db) -> None:
    assert 'lang="fr"' in Client().get("/accounts/login/").content.decode()
    assert 'lang="en"' in Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/login/").content.decode()


def test_pages_require_login(db) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
