from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.directory import sources, sync


class Command(BaseCommand):
    help = "Import or update users, classes and teams from the school directory."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            snapshot = sources.current_snapshot()
        except sources.DirectoryUnavailable as exc:
            raise CommandError(f"directory unavailable: {exc}") from exc
        self.stdout.write(sync.sync_all(snapshot).summary())
