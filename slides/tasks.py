from __future__ import annotations

from celery import shared_task

from .actions import do_fail_stuck_decks, do_render


@shared_task(name="slides.render_deck", ignore_result=True)
def render_deck(deck_id: int) -> None:
    """Render a deck's pages (see slides.actions.do_render)."""
    do_render(deck_id)


@shared_task(name="slides.tasks.fail_stuck_decks", ignore_result=True)
def fail_stuck_decks() -> int:
    """Mark failed the decks left rendering by a killed worker (see slides.actions.do_fail_stuck_decks)."""
    return do_fail_stuck_decks()
