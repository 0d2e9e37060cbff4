"""Behind the TLS proxy: a real daphne, run with the web unit's command, sent what nginx sends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.client import HTTPMessage
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.livesite import LiveSite, Server

DOMAIN = "classe.example.test"
CLIENT = "203.0.113.7"
# What deploy/'s nginx site sends: its own Host, the peer's address, the scheme it was reached by.
PROXY = {"Host": DOMAIN, "X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}
ORIGIN = f"https://{DOMAIN}"
TOKEN = "metrics-test-token"
LOCKED = "Trop de tentatives échouées"


def _site(tmp: Path, **env: str) -> Iterator[Server]:
    site = LiveSite(
        tmp,
        DJANGO_ALLOWED_HOSTS=f"{DOMAIN},127.0.0.1,localhost",
        LOGIN_FAILURES_PER_ADDRESS="100",
        LOGIN_FAILURES_PER_USER="3",
        METRICS_TOKEN=TOKEN,
        **env,
    )
    try:
        yield site.start()
    finally:
        site.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The site behind its proxy on 127.0.0.1 (TRUSTED_PROXIES left at its default)."""
    yield from _site(tmp_path_factory.mktemp("proxied"))


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same site where 127.0.0.1 is no trusted proxy: its callers are plain clients."""
    yield from _site(tmp_path_factory.mktemp("exposed"), TRUSTED_PROXIES="192.0.2.1")


def cookies(headers: HTTPMessage) -> dict[str, str]:
    """name -> the whole Set-Cookie line."""
    return {line.split("=", 1)[0]: line for line in headers.get_all("Set-Cookie") or []}


def login_form(server: Server, headers: dict[str, str]) -> tuple[str, str]:
    """GET the login page; return the CSRF cookie and the form's token."""
    status, response, body = server.request("GET", "/accounts/login/", headers)
    assert status == 200
    cookie = cookies(response)["csrftoken"].split(";", 1)[0].split("=", 1)[1]
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert match is not None
    return cookie, match.group(1)


def post_login(
    server: Server, username: str, password: str, headers: dict[str, str], origin: str = ORIGIN
) -> tuple[int, HTTPMessage, str]:
    cookie, token = login_form(server, headers)
    form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    return server.request(
        "POST",
        "/accounts/login/",
        {
            **headers,
            "Origin": origin,
            "Cookie": f"csrftoken={cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        form,
    )


def test_login_through_the_proxy_redirects_home_with_secure_cookies(server: Server) -> None:
    status, headers, _ = post_login(server, "lea.martin", "secret", PROXY)
    assert status == 302 and headers["Location"] == "/"
    session = cookies(headers)["sessionid"]
    assert "; Secure" in session and "HttpOnly" in session


def test_the_login_page_through_the_proxy_has_hsts_and_a_secure_csrf_cookie(server: Server) -> None:
    status, headers, _ = server.request("GET", "/accounts/login/", PROXY)
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "; Secure" in cookies(headers)["csrftoken"]


def test_a_post_from_another_origin_is_still_refused(server: Server) -> None:
    status, headers, _ = post_login(server, "lea.martin", "secret", PROXY, origin="https://evil.example")
    assert status == 403
    assert "sessionid" not in cookies(headers)


def test_the_plain_http_demo_keeps_plain_cookies_and_no_hsts(server: Server) -> None:
    host = f"127.0.0.1:{server.port}"
    status, headers, _ = post_login(server, "lea.martin", "secret", {"Host": host}, origin=f"http://{host}")
    assert status == 302
    assert "Secure" not in cookies(headers)["sessionid"]
    assert "Strict-Transport-Security" not in headers


def test_an_untrusted_peer_cannot_claim_https(exposed: Server) -> None:
    status, headers, _ = exposed.request("GET", "/accounts/login/", PROXY)
    assert status == 200
    assert "Strict-Transport-Security" not in headers
    assert "Secure" not in cookies(headers)["csrftoken"]


def test_the_login_throttle_counts_the_forwarded_address(server: Server) -> None:
    # a username is locked per client address (accounts/ratelimit.py): the forwarded one
    attacker = {**PROXY, "X-Forwarded-For": "203.0.113.66"}
    for _attempt in range(3):
        status, _, _ = post_login(server, "zoe.bernard", "wrong", attacker)
        assert status == 200
    _, _, page = post_login(server, "zoe.bernard", "secret", attacker)
    assert LOCKED in page
    # everyone else behind the same proxy still logs in
    status, _, _ = post_login(server, "zoe.bernard", "secret", {**PROXY, "X-Forwarded-For": "203.0.113.67"})
    assert status == 302


def test_a_forged_forwarded_address_from_an_untrusted_peer_is_ignored(exposed: Server) -> None:
    for attempt in range(3):
        forged = {**PROXY, "X-Forwarded-For": f"198.51.100.{attempt + 1}"}
        status, _, _ = post_login(exposed, "zoe.bernard", "wrong", forged)
        assert status == 200
    # a fresh forged address does not reset the count: the peer's own address is locked
    _, _, page = post_login(exposed, "zoe.bernard", "secret", {**PROXY, "X-Forwarded-For": "198.51.100.99"})
    assert LOCKED in page


def test_metrics_refuse_a_client_forwarded_by_the_proxy(server: Server) -> None:
    status, _, _ = server.request("GET", "/metrics", PROXY)
    assert status == 403


def test_metrics_answer_the_proxy_with_the_token(server: Server) -> None:
    status, headers, body = server.request("GET", "/metrics", {**PROXY, "Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert 'cv_rooms_live{kind="lesson"}' in body


def test_metrics_answer_a_local_caller_without_a_token(server: Server) -> None:
    status, _, body = server.request("GET", "/metrics", {"Host": "127.0.0.1"})
    assert status == 200 and "cv_login_failures_total" in body
