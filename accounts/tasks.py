from __future__ import annotations

import logging

from celery import shared_task

from .directory import sources, sync

log = logging.getLogger(__name__)


@shared_task(name="accounts.tasks.sync_directory")
def sync_directory() -> str:
    """Import or update every user, class and team from the directory."""
    result = sync.sync_all(sources.current_snapshot())
    log.info("directory sync: %s", result.summary())
    return result.summary()
