"""Periodic room tasks (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from .actions.lifecycle import do_end_expired_rooms


@shared_task(name="classroom.tasks.end_expired_rooms")
def end_expired_rooms() -> int:
    """End lessons left open whose time is up, even when no socket is open on any process."""
    return do_end_expired_rooms()
