from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from classroom.models import SchoolClass


class Command(BaseCommand):
    help = "Serve the app (HTTP and WebSocket) with daphne and print how to log in to the demo school."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        from daphne.cli import CommandLineInterface

        shown = f"[{host}]" if ":" in host else host
        self.stdout.write(self.style.SUCCESS(f"\nClasse virtuelle is running: http://{shown}:{port}/"))
        self.stdout.write(self._logins())
        sys.stdout.flush()
        CommandLineInterface().run(["-b", host, "-p", str(port), "config.asgi:application"])

    def _logins(self) -> str:
        if settings.LDAP_URI:
            return "  Log in with your school account.\n"
        lines = [
            "  Demo school logins (password: demo):",
            "    teacher   marie.curie      (teaches 6A)",
            "    student   lea.martin       (class 6A)",
        ]
        other = SchoolClass.objects.filter(name="5B").first()
        other_student = other.students.order_by("username").first() if other else None
        if other_student is not None:
            lines.append(
                f"    student   {other_student.username:<16} (class 5B: waits to be admitted into 6A's lesson)"
            )
        lines += ["    CPE       claire.fontaine  (runs supervised recess)", "    admin     admin", ""]
        return "\n".join(lines)
