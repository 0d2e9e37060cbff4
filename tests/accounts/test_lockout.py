"""Failed logins cannot lock out the school (issue 14, point 4): real posts through the test client."""

from __future__ import annotations

import logging

import pytest
from django.core.management import call_command
from django.test import Client

from accounts import ratelimit

pytestmark = pytest.mark.django_db

SCHOOL = "10.20.0.1"  # the whole school behind one NAT address
HOME = "192.0.2.50"
LOCKED = "Too many failed attempts"


@pytest.fixture(autouse=True)
def _limits(settings):  # type: ignore[no-untyped-def]
    settings.LOGIN_FAILURES_PER_USER = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.LOGIN_SLOWDOWN_AFTER = 2
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 0  # slowdowns are measured by `delay`, not slept here


def post_login(client: Client, username: str, password: str, address: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE="en"
    )


def logged_in(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 302 and response["Location"] == "/"


def test_failures_by_others_from_the_school_address_never_refuse_a_right_password() -> None:
    pupil = Client()
    for n in range(30):
        post_login(pupil, f"nobody{n}", "wrong", SCHOOL)
    for _ in range(10):
        post_login(pupil, "zoe.bernard", "wrong", SCHOOL)
    assert logged_in(post_login(Client(), "marie.curie", "secret", SCHOOL))
    assert logged_in(post_login(Client(), "lea.martin", "secret", SCHOOL))


def test_a_guessed_username_is_locked_for_that_address_only() -> None:
    for _ in range(3):
        post_login(Client(), "marie.curie", "wrong", SCHOOL)
    locked = post_login(Client(), "marie.curie", "secret", SCHOOL)
    assert LOCKED in locked.content.decode()
    assert logged_in(post_login(Client(), "marie.curie", "secret", HOME))


def test_a_browser_that_logged_in_before_is_never_locked_out_by_others() -> None:
    teacher_browser = Client()
    assert logged_in(post_login(teacher_browser, "marie.curie", "secret", SCHOOL))
    teacher_browser.post("/accounts/logout/")
    for _ in range(10):  # a pupil guessing from the same classroom address
        post_login(Client(), "marie.curie", "wrong", SCHOOL)
    assert LOCKED in post_login(Client(), "marie.curie", "secret", SCHOOL).content.decode()
    assert logged_in(post_login(teacher_browser, "marie.curie", "secret", SCHOOL))


def test_a_device_cookie_counts_only_for_its_own_user() -> None:
    browser = Client()
    assert logged_in(post_login(browser, "lea.martin", "secret", SCHOOL))
    browser.post("/accounts/logout/")
    for _ in range(3):
        post_login(Client(), "marie.curie", "wrong", SCHOOL)
    assert LOCKED in post_login(browser, "marie.curie", "secret", SCHOOL).content.decode()


def test_a_forged_device_cookie_is_not_trusted() -> None:
    for _ in range(3):
        post_login(Client(), "marie.curie", "wrong", SCHOOL)
    forger = Client()
    forger.cookies[ratelimit.device_cookie_name("marie.curie")] = "x.y:forged:signature"
    assert LOCKED in post_login(forger, "marie.curie", "secret", SCHOOL).content.decode()


def test_a_device_cookie_that_keeps_failing_is_trusted_no_more() -> None:
    stolen = Client()
    assert logged_in(post_login(stolen, "marie.curie", "secret", HOME))
    stolen.post("/accounts/logout/")
    for _ in range(3):
        post_login(stolen, "marie.curie", "wrong", SCHOOL)
    request = Client().get("/accounts/login/").wsgi_request
    request.COOKIES.update(stolen.cookies and {k: v.value for k, v in stolen.cookies.items()})
    assert not ratelimit.Attempt.of(request, "marie.curie").trusted
    for _ in range(3):  # then it is one more untrusted browser at that address
        post_login(stolen, "marie.curie", "wrong", SCHOOL)
    assert LOCKED in post_login(stolen, "marie.curie", "secret", SCHOOL).content.decode()


def test_attempts_for_a_failing_username_slow_down_but_not_on_a_trusted_browser(settings) -> None:
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 8
    trusted = Client()
    assert logged_in(post_login(trusted, "marie.curie", "secret", HOME))
    for _ in range(2):
        post_login(Client(), "marie.curie", "wrong", SCHOOL)
    elsewhere = Client().get("/accounts/login/", REMOTE_ADDR="198.51.100.9").wsgi_request
    assert ratelimit.delay(ratelimit.Attempt.of(elsewhere, "marie.curie")) > 0
    mine = trusted.get("/accounts/login/", REMOTE_ADDR="198.51.100.9").wsgi_request
    assert ratelimit.delay(ratelimit.Attempt.of(mine, "marie.curie")) == 0


def test_an_unknown_user_spray_slows_an_address_down_and_never_locks_it(settings) -> None:
    for n in range(40):
        post_login(Client(), f"nobody{n}", "wrong", SCHOOL)
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 8
    request = Client().get("/accounts/login/", REMOTE_ADDR=SCHOOL).wsgi_request
    assert ratelimit.delay(ratelimit.Attempt.of(request, "new.name")) == 8
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 0
    assert logged_in(post_login(Client(), "zoe.bernard", "secret", SCHOOL))


def test_failures_locks_and_unlocks_are_logged(caplog) -> None:
    caplog.set_level(logging.INFO, logger="accounts.security")
    for _ in range(3):
        post_login(Client(), "marie.curie", "wrong", SCHOOL)
    post_login(Client(), "marie.curie", "secret", SCHOOL)
    call_command("unlock_login", "marie.curie")
    text = "\n".join(record.getMessage() for record in caplog.records if record.name == "accounts.security")
    assert "login failed: username='marie.curie' address=10.20.0.1" in text
    assert "login locked for 15 minutes: username='marie.curie'" in text
    assert "login refused, locked" in text
    assert "login unlocked by an administrator: username='marie.curie'" in text


def test_unlock_login_lets_the_user_in_again() -> None:
    for _ in range(3):
        post_login(Client(), "marie.curie", "wrong", SCHOOL)
    assert LOCKED in post_login(Client(), "marie.curie", "secret", SCHOOL).content.decode()
    call_command("unlock_login", "marie.curie")
    assert logged_in(post_login(Client(), "marie.curie", "secret", SCHOOL))
