"""client_address(): the forwarded address counts only from a trusted proxy, right-most first."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from config.proxy import client_address, forwarded_client


@pytest.fixture(autouse=True)
def _proxies(settings):  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1", "10.0.0.0/8"]


def test_it_takes_the_address_that_the_local_proxy_forwards() -> None:
    assert forwarded_client("127.0.0.1", "203.0.113.7") == "203.0.113.7"


def test_it_ignores_the_header_from_a_peer_that_is_no_proxy() -> None:
    assert forwarded_client("198.51.100.3", "203.0.113.7") == "198.51.100.3"


def test_it_skips_what_the_client_wrote_before_the_proxy_appended() -> None:
    # `$proxy_add_x_forwarded_for`: the client's forged entry first, then the real peer
    assert forwarded_client("127.0.0.1", "1.2.3.4, 203.0.113.7") == "203.0.113.7"


def test_it_walks_back_through_a_chain_of_trusted_proxies() -> None:
    assert forwarded_client("::1", "203.0.113.7, 10.1.2.3") == "203.0.113.7"


def test_it_trusts_an_ipv4_mapped_loopback_peer() -> None:
    assert forwarded_client("::ffff:127.0.0.1", "203.0.113.7") == "203.0.113.7"


def test_a_garbled_header_gives_the_proxy_address() -> None:
    assert forwarded_client("127.0.0.1", "not-an-address") == "127.0.0.1"


def test_client_address_reads_the_request() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_address(request) == "203.0.113.7"
