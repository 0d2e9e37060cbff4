from django.apps import AppConfig


class SlidesConfig(AppConfig):
    name = "slides"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The room's messages and state for slides, added once models are ready.
        from classroom.actions import dispatch, presence

        from . import room

        dispatch.add_handlers(room.HANDLERS)
        presence.add_state_part(room.slides_state)
