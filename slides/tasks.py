from __future__ import annotations

from celery import shared_task


@shared_task(name="slides.render_deck", ignore_result=True)
def render_deck(deck_id: int) -> None:
    """Render a deck's pages (see slides.actions.do_render)."""
    from .actions import do_render

    do_render(deck_id)
