"""Lift the login locks and slowdowns of a username: `manage.py unlock_login marie.curie`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts import ratelimit


class Command(BaseCommand):
    help = "Lift every login lock and slowdown of these usernames (logged to accounts.security)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="+", metavar="USERNAME")

    def handle(self, *args: Any, **options: Any) -> None:
        if "locmem" in settings.CACHES["default"]["BACKEND"].lower():
            self.stderr.write(
                "warning: without REDIS_URL each web process keeps its own login counters;"
                " this command cannot reach them (restarting the server clears them)."
            )
        for username in options["usernames"]:
            ratelimit.unlock(username)
            self.stdout.write(f"unlocked {username.strip().lower()}")
