"""A deck left rendering by a killed worker is marked failed by the beat task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from slides.models import Deck
from slides.tasks import fail_stuck_decks

pytestmark = pytest.mark.django_db


def _rendering(school_class, minutes_ago: int) -> Deck:  # type: ignore[no-untyped-def]
    deck = Deck.objects.create(school_class=school_class, title="t", original_name="t.pdf", source_kind="pdf")
    Deck.objects.filter(pk=deck.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago), progress=2)
    deck.pages_directory.mkdir(parents=True)
    (deck.pages_directory / "1-large.webp").write_bytes(b"half")
    return deck


def test_old_rendering_decks_fail_and_fresh_ones_are_left_alone(class_6a, django_capture_on_commit_callbacks):
    stuck = _rendering(class_6a, 31)
    fresh = _rendering(class_6a, 5)
    ready = Deck.objects.create(
        school_class=class_6a, title="r", original_name="r.pdf", source_kind="pdf", status="ready", pages=1
    )
    Deck.objects.filter(pk=ready.pk).update(created_at=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert fail_stuck_decks.delay().get() == 1
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    ready.refresh_from_db()
    assert (stuck.status, stuck.error) == ("failed", "internal")
    assert stuck.error_message
    assert not stuck.pages_directory.exists()
    assert fresh.status == "rendering" and fresh.pages_directory.exists()
    assert ready.status == "ready"


def test_the_limit_is_a_setting(class_6a, settings):
    settings.SLIDES_STUCK_MINUTES = 3
    stuck = _rendering(class_6a, 5)
    fail_stuck_decks()
    stuck.refresh_from_db()
    assert stuck.status == "failed"


def test_beat_runs_it_every_five_minutes():
    entry = django_settings.CELERY_BEAT_SCHEDULE["fail-stuck-decks"]
    assert entry == {"task": "slides.tasks.fail_stuck_decks", "schedule": 300}


def test_the_failure_is_sent_to_the_class_rooms(class_6a, lesson, django_capture_on_commit_callbacks):
    _rendering(class_6a, 60)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        fail_stuck_decks()
    assert len(callbacks) == 1
