"""Settings for Classe virtuelle, driven by the environment (see docs/configuration.md).

With no variable set the embedded default runs: SQLite, the in-memory channel
layer, Celery tasks run eagerly, the media forwarder in-process and the
directory read from the bundled demo school LDIF.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from dotenv import load_dotenv

from config.redis_clients import retry_options

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    key = envstr("DJANGO_SECRET_KEY")
    if key:
        return key
    path = BASE_DIR / ".secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")


def _https_origins(hosts: list[str]) -> list[str]:
    """https://<host> for each allowed host (`.example.fr` allows its subdomains), for CSRF's Origin check."""
    return [f"https://*{host}" if host.startswith(".") else f"https://{host}" for host in hosts if host != "*"]


# --- Behind a TLS proxy (docs/configuration.md) -------------------------------------
# Forwarded headers count only from these peers (config/proxy.py); nginx runs on the same machine.
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES", "127.0.0.1,::1")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip("[]"), strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is no address or network") from _error
# Forms posted from https://<an allowed host> pass the Origin check even if a proxy forgets
# X-Forwarded-Proto; no separate variable to keep in step with DJANGO_ALLOWED_HOSTS.
CSRF_TRUSTED_ORIGINS = _https_origins(ALLOWED_HOSTS)
# Sent by SecurityMiddleware on https requests only, so the http demo is unaffected.
# Set SECURE_HSTS_SECONDS=0 with a self-signed certificate: browsers then refuse to click through.
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 60 * 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# /metrics answers this process's loopback callers, or `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = envstr("METRICS_TOKEN")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "accounts",
    "classroom",
    "slides",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before the middleware that set cookies: it sees their cookies on the way out.
    "config.proxy.SecureCookiesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(envstr("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60)
}
# A kept connection is checked before reuse: after PostgreSQL restarts, the next request reconnects.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # the same backend, whose check looks at the connection instead of a round trip (config/postgresql)
    DATABASES["default"]["ENGINE"] = "config.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the ASGI server and the eager tasks share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Redis: channel layer, Celery broker, media-node bus ---------------------
REDIS_URL = envstr("REDIS_URL")
# A read on the channel layer's connections gives up after this long (redis-py 8 cuts at 5 s).
CHANNEL_LAYER_SOCKET_TIMEOUT = 15
# redis-py's asyncio pool raises "Too many connections" past 100 commands in flight; a join storm
# of 200 students on two processes went past it and sockets failed to open (bench/room_fanout.py).
# Each is one connection to Redis (maxclients 10,000 by default), opened only when needed.
CHANNEL_LAYER_MAX_CONNECTIONS = 1000
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: an event for a room is published once and each web process hands it to
            # its own sockets; the queue layer (channels_redis.core) stored a copy per socket and
            # each process took them back one by one, four round trips each (docs/architecture.md)
            "BACKEND": "config.layers.RedisPubSubChannelLayer",
            # Set here, not as `?socket_timeout=` in REDIS_URL, which Celery cannot parse.
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
                        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                        **retry_options(),
                    }
                ],
                # events waiting for one socket (one not reading): past this they are dropped
                "capacity": 1000,
            },
        }
    }
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": retry_options(asynchronous=False),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    "sync-directory": {
        "task": "accounts.tasks.sync_directory",
        "schedule": envint("DIRECTORY_SYNC_SECONDS", 15 * 60),
    },
    "end-expired-rooms": {"task": "classroom.tasks.end_expired_rooms", "schedule": 60},
    "purge-recess-logs": {"task": "classroom.tasks.purge_recess_logs", "schedule": 6 * 60 * 60},
    "fail-stuck-decks": {"task": "slides.tasks.fail_stuck_decks", "schedule": 5 * 60},
}

# --- School directory ---------------------------------------------------------
LDAP_URI = envstr("LDAP_URI")
LDAP_BASE_DN = envstr("LDAP_BASE_DN")
LDAP_BIND_DN = envstr("LDAP_BIND_DN")
LDAP_BIND_PASSWORD = envstr("LDAP_BIND_PASSWORD")
LDAP_START_TLS = envbool("LDAP_START_TLS", False)
LDAP_TIMEOUT = envint("LDAP_TIMEOUT", 5)
DIRECTORY_LDIF = envstr("DIRECTORY_LDIF", str(BASE_DIR / "directory" / "demo_school.ldif"))
DIRECTORY_STUDENT_GROUPS = envlist("DIRECTORY_STUDENT_GROUPS", "Eleves")
DIRECTORY_TEACHER_GROUPS = envlist("DIRECTORY_TEACHER_GROUPS", "Profs")
DIRECTORY_SUPERVISOR_GROUPS = envlist("DIRECTORY_SUPERVISOR_GROUPS", "Administratifs")
DIRECTORY_ADMIN_GROUPS = envlist("DIRECTORY_ADMIN_GROUPS", "se3_is_admin")
DIRECTORY_CLASS_PREFIX = envstr("DIRECTORY_CLASS_PREFIX", "Classe_")
DIRECTORY_TEAM_PREFIX = envstr("DIRECTORY_TEAM_PREFIX", "Equipe_")

AUTHENTICATION_BACKENDS = ["accounts.backends.SchoolLDAPBackend"] if LDAP_URI else ["accounts.backends.LDIFBackend"]

# django-auth-ldap: bind as the user; the directory is readable anonymously or
# with the service account. Roles and classes are applied by our own sync.
# accounts.backends.SchoolLDAPBackend passes the LDAP_* settings above to it.
AUTH_LDAP_ALWAYS_UPDATE_USER = False
AUTH_LDAP_USER_ATTR_MAP = {"first_name": "givenName", "last_name": "sn", "email": "mail"}

# Failed logins (accounts/ratelimit.py, docs/configuration.md): after LOGIN_FAILURES_PER_USER
# failures in the window, a username is locked for that address (or that device cookie) only;
# attempts for it slow down from LOGIN_SLOWDOWN_AFTER failures, and those from an address from
# LOGIN_FAILURES_PER_ADDRESS failures (never a lock). A browser that logged in as the user before
# (a device cookie, valid LOGIN_DEVICE_COOKIE_DAYS) is never slowed nor locked by others.
LOGIN_FAILURES_PER_USER = envint("LOGIN_FAILURES_PER_USER", 5)
LOGIN_FAILURES_PER_ADDRESS = envint("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW_SECONDS = envint("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
LOGIN_SLOWDOWN_AFTER = envint("LOGIN_SLOWDOWN_AFTER", 3)
LOGIN_SLOWDOWN_MAX_SECONDS = envint("LOGIN_SLOWDOWN_MAX_SECONDS", 8)
LOGIN_DEVICE_COOKIE_DAYS = envint("LOGIN_DEVICE_COOKIE_DAYS", 365)

# --- Rooms and media --------------------------------------------------------
POLL_RESULTS_SECONDS = float(envstr("POLL_RESULTS_SECONDS", "0.25"))
# While votes keep coming, a poll's votes in one process are written together at most this often
# (classroom/ballots.py); a lone vote is written at once.
VOTE_BATCH_SECONDS = float(envstr("VOTE_BATCH_SECONDS", "0.1"))
# Presence events (joined, left, updated) sent within this of the room's last one leave together
# (classroom/events.py Fanout); 0 sends each at once.
ROOM_PRESENCE_BATCH_SECONDS = float(envstr("ROOM_PRESENCE_BATCH_SECONDS", "0.25"))
RECESS_GRACE_SECONDS = envint("RECESS_GRACE_SECONDS", 120)
RECESS_SAFE_MODE_SECONDS = envint("RECESS_SAFE_MODE_SECONDS", 3)
# A recess socket silent this long is treated as gone (the page pings every RECESS_PING_SECONDS).
RECESS_HEARTBEAT_SECONDS = envint("RECESS_HEARTBEAT_SECONDS", 4)
RECESS_PING_SECONDS = envint("RECESS_PING_SECONDS", 2)
RECESS_LOG_RETENTION_DAYS = envint("RECESS_LOG_RETENTION_DAYS", 30)
# Room socket limits (classroom/ratelimit.py, docs/protocol.md "Errors, limits, close codes").
# Frames per user and room, counted before parsing: a burst, then a rate; over it they are dropped,
# and a socket that goes on for ROOM_FRAMES_DROPPED_BEFORE_CLOSE more frames is closed (4429).
ROOM_FRAME_BURST = envint("ROOM_FRAME_BURST", 40)
ROOM_FRAMES_PER_SECOND = envint("ROOM_FRAMES_PER_SECOND", 20)
ROOM_FRAMES_DROPPED_BEFORE_CLOSE = envint("ROOM_FRAMES_DROPPED_BEFORE_CLOSE", 200)
# Per WebSocket connection, in daphne's protocol before anything is queued to the application
# (config/daphne_seam.py): over this rate the connection is not read (its frames wait in its own
# TCP buffers); held back this long without a pause it is aborted (TCP reset). While its application
# queue holds more than WEBSOCKET_QUEUE_PAUSE messages it is not read either.
WEBSOCKET_FRAMES_PER_SECOND = envint("WEBSOCKET_FRAMES_PER_SECOND", 3 * ROOM_FRAMES_PER_SECOND)
WEBSOCKET_FRAME_BURST = envint("WEBSOCKET_FRAME_BURST", 3 * ROOM_FRAME_BURST)
WEBSOCKET_THROTTLED_SECONDS_BEFORE_ABORT = envint("WEBSOCKET_THROTTLED_SECONDS_BEFORE_ABORT", 10)
WEBSOCKET_QUEUE_PAUSE = envint("WEBSOCKET_QUEUE_PAUSE", 100)
# Sockets one user keeps open in one room; a newer one closes the oldest (4410).
ROOM_SOCKETS_PER_USER = envint("ROOM_SOCKETS_PER_USER", 3)
# `waiting.updated` after people come and go: at most one per room this often.
ROOM_WAITING_COALESCE_MS = envint("ROOM_WAITING_COALESCE_MS", 1000)
# Web processes' heartbeats (classroom/heartbeat.py, REDIS_URL set): the sockets of a process whose
# heartbeat expired (killed with -9) are counted out by the live ones. 0 turns the watch off.
WEB_HEARTBEAT_SECONDS = envint("WEB_HEARTBEAT_SECONDS", 5)
WEB_PROCESS_TTL_SECONDS = envint("WEB_PROCESS_TTL_SECONDS", 20)
WEB_SWEEP_SECONDS = envint("WEB_SWEEP_SECONDS", 10)
MEDIA_PUBLIC_IP = envstr("MEDIA_PUBLIC_IP")
MEDIA_LAST_N = envint("MEDIA_LAST_N", 6)
TURN_URL = envstr("TURN_URL")
TURN_SECRET = envstr("TURN_SECRET")

# --- Slides -------------------------------------------------------------------
SLIDES_MAX_BYTES = envint("SLIDES_MAX_BYTES", 50 * 1024 * 1024)
SLIDES_MAX_PAGES = envint("SLIDES_MAX_PAGES", 300)
SLIDES_PAGE_TIMEOUT_SECONDS = envint("SLIDES_PAGE_TIMEOUT_SECONDS", 20)
# Renders (LibreOffice conversion + page rendering) at once on one machine, across worker processes.
SLIDES_MAX_CONCURRENT_RENDERS = envint("SLIDES_MAX_CONCURRENT_RENDERS", 2)
# Address-space cap of the render child and of LibreOffice.
SLIDES_RENDER_MEMORY_BYTES = envint("SLIDES_RENDER_MEMORY_BYTES", 1024**3)
# Processor seconds one page may use (SIGXCPU past that).
SLIDES_PAGE_CPU_SECONDS = envint("SLIDES_PAGE_CPU_SECONDS", SLIDES_PAGE_TIMEOUT_SECONDS)
# An ODP/PPTX whose zip declares more than this unpacked is refused at upload.
SLIDES_MAX_UNPACKED_BYTES = envint("SLIDES_MAX_UNPACKED_BYTES", 256 * 1024**2)
SLIDES_CONVERT_TIMEOUT_SECONDS = envint("SLIDES_CONVERT_TIMEOUT_SECONDS", 180)
# A deck still rendering after this long (its worker was killed) is marked failed by slides.tasks.fail_stuck_decks.
SLIDES_STUCK_MINUTES = envint("SLIDES_STUCK_MINUTES", 30)
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(BASE_DIR / "var" / "uploads")))
MEDIA_URL = "/uploads/"

# --- i18n, static ---------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = envstr("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = True

# Shared school computers: the session ends with the browser, and at most SESSION_MAX_HOURS after
# the login whatever happens (the expiry is set at login and not pushed back on each request).
SESSION_EXPIRE_AT_BROWSER_CLOSE = envbool("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)
SESSION_COOKIE_AGE = min(envint("SESSION_MAX_HOURS", 12), 12) * 60 * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django_auth_ldap": {"level": "WARNING"}, "aioice": {"level": "WARNING"}},
}
