"""Periodic room tasks (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from .actions.groups import do_close_due_groups
from .actions.lifecycle import do_end_expired_rooms
from .actions.recess import do_check_recesses, do_purge_recess_logs


@shared_task(name="classroom.tasks.end_expired_rooms")
def end_expired_rooms() -> int:
    """End expired lessons, close groups whose time is up, follow recesses: with or without sockets."""
    ended = do_end_expired_rooms()
    do_close_due_groups()
    do_check_recesses()
    return ended


@shared_task(name="classroom.tasks.purge_recess_logs")
def purge_recess_logs() -> int:
    """Delete recess log entries older than RECESS_LOG_RETENTION_DAYS."""
    return do_purge_recess_logs()
