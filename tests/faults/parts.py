"""Stop and start again the stack's Redis and PostgreSQL on the same port, with the same files.

tests/services.py starts them on a free port and removes their files on stop(); here the
running instance is taken from the stack and its server process replaced in place, so that the
stack's own stop() still stops whichever process runs last.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from typing import Any

from tests.production.stack import Stack
from tests.services import (
    PostgresInstance,
    RedisInstance,
    _as_postgres_user,
    _postgres_answers,
    _redis_answers,
    _which,
    postgres_bin_dir,
    postgres_command,
)


def _instance(stack: Stack, kind: type[Any]) -> Any:
    for stopper in stack._stoppers:
        owner = getattr(stopper, "__self__", None)
        if isinstance(owner, kind):
            return owner
    raise LookupError(f"no {kind.__name__} in the stack")


def redis_of(stack: Stack) -> RedisInstance:
    instance: RedisInstance = _instance(stack, RedisInstance)
    return instance


def postgres_of(stack: Stack) -> PostgresInstance:
    instance: PostgresInstance = _instance(stack, PostgresInstance)
    return instance


def _wait(ready: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come back within {timeout} s")
        time.sleep(0.02)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def restart_redis(instance: RedisInstance) -> float:
    """What `systemctl restart redis-server` does to a server without persistence; return seconds down."""
    began = time.monotonic()
    instance.process.send_signal(signal.SIGTERM)
    instance.process.wait(timeout=10)
    _wait(lambda: _port_free(instance.port), "the Redis port")
    log = open(instance.workdir / "redis-restarted.log", "ab")  # the server keeps it open
    instance.process = subprocess.Popen(
        [
            _which("redis-server") or "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(instance.port),
            "--dir",
            str(instance.workdir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    _wait(lambda: _redis_answers(instance.port), "redis-server")
    return time.monotonic() - began


def stop_postgres(instance: PostgresInstance) -> None:
    """PostgreSQL's fast shutdown (what `systemctl stop postgresql` does): clients are cut off."""
    instance.process.send_signal(signal.SIGINT)
    instance.process.wait(timeout=20)


def start_postgres_again(instance: PostgresInstance) -> None:
    """The same cluster, port and settings as tests/services.py started it with."""
    bin_dir = postgres_bin_dir()
    assert bin_dir is not None
    as_postgres = _as_postgres_user(instance.workdir)
    log = open(instance.workdir / "postgres-restarted.log", "ab")  # the server keeps it open
    instance.process = subprocess.Popen(
        postgres_command(as_postgres, bin_dir, instance.workdir / "data", instance.port, instance.workdir),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
        cwd=instance.workdir,
    )
    _wait(lambda: _postgres_answers(instance.port), "postgres", timeout=30)
