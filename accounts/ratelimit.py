"""Failed logins slow attackers down without locking the school out (OWASP's device cookies).

- A browser that logged in as a user before carries a signed device cookie for that user. Its
  attempts for that user are never slowed, and only its own failures lock it (then it is treated
  like any other browser).
- Any other attempt for a username is slowed once that username has failed a few times (from
  anywhere), and locked after `LOGIN_FAILURES_PER_USER` failures for that username *from that
  address*: a student guessing a teacher's password from the classroom locks only that pair,
  never the teacher at home nor the rest of the school behind the same address.
- Per address, failures (unknown-user sprays included) only slow attempts down; they never lock.

Counters live in the cache (Redis with `REDIS_URL`), so every web process sees them. An attempt
is counted before its password is checked, so parallel guesses cannot slip past the lock; a right
password takes its own count back. Failures, locks and unlocks go to the `accounts.security` log.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

from config.proxy import client_address

log = logging.getLogger("accounts.security")

DEVICE_SALT = "accounts.device"
DEVICE_COOKIE_PREFIX = "cv_device_"


def _digest(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def _generation(username: str) -> int:
    """Bumped by `unlock`: every counter of the username before it stops counting."""
    return int(cache.get(f"login:gen:{_digest(username)}") or 0)


def _count(key: str) -> int:
    """Add one to a counter that lives for the failure window; return the new value."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    if cache.add(key, 1, window):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        return 1


def _uncount(key: str) -> None:
    try:
        if int(cache.decr(key)) <= 0:
            cache.delete(key)
    except ValueError:
        pass


def _curve(failures: int, after: int) -> float:
    """Seconds to wait: none before `after` failures, then 0.5 s doubling up to the cap."""
    if failures < after:
        return 0.0
    return float(min(settings.LOGIN_SLOWDOWN_MAX_SECONDS, 0.5 * 2 ** (failures - after)))


# --- device cookies ----------------------------------------------------------------


def device_cookie_name(username: str) -> str:
    """One cookie per user and browser; its name tells nothing about the user without the secret key."""
    return DEVICE_COOKIE_PREFIX + salted_hmac("accounts.device.name", username.strip().lower()).hexdigest()[:16]


def issue_device_cookie(response: HttpResponse, username: str) -> None:
    """Mark this browser as one that logged in as `username` (after a successful login)."""
    nonce = secrets.token_urlsafe(12)
    value = signing.TimestampSigner(salt=DEVICE_SALT).sign(f"{_digest(username)}.{nonce}")
    response.set_cookie(
        device_cookie_name(username),
        value,
        max_age=settings.LOGIN_DEVICE_COOKIE_DAYS * 24 * 60 * 60,
        httponly=True,
        samesite="Lax",
    )


def device_of(request: HttpRequest, username: str) -> str | None:
    """The nonce of this browser's valid device cookie for `username`, or None."""
    value = request.COOKIES.get(device_cookie_name(username))
    if not value:
        return None
    try:
        text = signing.TimestampSigner(salt=DEVICE_SALT).unsign(
            value, max_age=settings.LOGIN_DEVICE_COOKIE_DAYS * 24 * 60 * 60
        )
    except signing.BadSignature:
        return None
    digest, _, nonce = text.partition(".")
    return nonce if digest == _digest(username) and nonce else None


# --- attempts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One login attempt: who it is for, where it comes from, and the browser's device, if trusted."""

    username: str
    address: str
    device: str | None

    @classmethod
    def of(cls, request: HttpRequest, username: str) -> Attempt:
        username = username.strip().lower()
        device = device_of(request, username)
        if device is not None and _failures(_device_key(username, device)) >= settings.LOGIN_FAILURES_PER_USER:
            device = None  # a device cookie that kept failing is trusted no more
        return cls(username=username, address=client_address(request), device=device)

    @property
    def trusted(self) -> bool:
        return self.device is not None

    @property
    def lock_key(self) -> str:
        if self.device is not None:
            return _device_key(self.username, self.device)
        return f"login:pair:{_generation(self.username)}:{_digest(self.username)}:{_digest(self.address)}"

    def describe(self) -> str:
        return f"username={self.username!r} address={self.address} device={'yes' if self.trusted else 'no'}"


def _device_key(username: str, device: str) -> str:
    return f"login:dev:{_generation(username)}:{_digest(username)}:{_digest(device)}"


def _user_key(username: str) -> str:
    return f"login:user:{_generation(username)}:{_digest(username)}"


def _address_key(address: str) -> str:
    return f"login:addr:{_digest(address)}"


def _failures(key: str) -> int:
    return int(cache.get(key) or 0)


def delay(attempt: Attempt) -> float:
    """How long to hold this attempt before checking it (never for a trusted device)."""
    if attempt.trusted:
        return 0.0
    return max(
        _curve(_failures(_user_key(attempt.username)), settings.LOGIN_SLOWDOWN_AFTER),
        _curve(_failures(_address_key(attempt.address)), settings.LOGIN_FAILURES_PER_ADDRESS),
    )


def begin(attempt: Attempt) -> bool:
    """Count the attempt against its lock before the password is checked; False if locked."""
    if _count(attempt.lock_key) > settings.LOGIN_FAILURES_PER_USER:
        log.info("login refused, locked: %s", attempt.describe())
        return False
    return True


def failed(attempt: Attempt) -> None:
    """A wrong password (or unknown user): it stays counted; the slowdowns count it too."""
    log.warning("login failed: %s", attempt.describe())
    if not attempt.trusted:
        _count(_user_key(attempt.username))
        _count(_address_key(attempt.address))
    if _failures(attempt.lock_key) == settings.LOGIN_FAILURES_PER_USER:
        log.warning(
            "login locked for %d minutes: %s",
            max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60),
            attempt.describe(),
        )


def not_checked(attempt: Attempt) -> None:
    """The password could not be checked (directory down): the attempt does not count."""
    _uncount(attempt.lock_key)


def succeeded(attempt: Attempt) -> None:
    """A right password: this browser's or this address's count for the username starts over."""
    cache.delete(attempt.lock_key)


def unlock(username: str) -> None:
    """Lift every lock and slowdown of a username (an administrator's decision)."""
    key = f"login:gen:{_digest(username)}"
    if not cache.add(key, 1, None):
        cache.incr(key)
    log.warning("login unlocked by an administrator: username=%r", username.strip().lower())
