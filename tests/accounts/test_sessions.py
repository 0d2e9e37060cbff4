"""Shared school computers: sessions end with the browser and within 12 hours (issue 14, point 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts import ratelimit

pytestmark = pytest.mark.django_db


def post_login(client: Client, **extra: object):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"username": "lea.martin", "password": "secret"}, **extra)  # type: ignore[arg-type]


def test_the_session_cookie_ends_with_the_browser() -> None:
    response = post_login(Client())
    cookie = response.cookies["sessionid"]
    assert cookie["expires"] == "" and cookie["max-age"] == ""


def test_the_session_ends_12_hours_after_login_and_use_does_not_extend_it() -> None:
    client = Client()
    before = timezone.now()
    post_login(client)
    session = Session.objects.get(session_key=client.cookies["sessionid"].value)
    assert timedelta(hours=11, minutes=59) < session.expire_date - before <= timedelta(hours=12, seconds=5)
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert Session.objects.get(session_key=session.session_key).expire_date == session.expire_date


def test_session_and_device_cookies_are_secure_behind_tls() -> None:
    response = post_login(Client(), secure=True)
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] is True
    assert response.cookies[ratelimit.device_cookie_name("lea.martin")]["secure"] is True
    assert response.cookies[ratelimit.device_cookie_name("lea.martin")]["httponly"] is True


def test_the_device_cookie_outlives_the_browser_session() -> None:
    response = post_login(Client())
    assert int(response.cookies[ratelimit.device_cookie_name("lea.martin")]["max-age"]) >= 30 * 24 * 60 * 60
