from django.apps import AppConfig


class SlidesConfig(AppConfig):
    name = "slides"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The room's messages and state for slides, added once models are ready.
        from classroom import protocol
        from classroom.actions import dispatch, presence, serialize

        from . import annotation_protocol, annotations, room

        dispatch.add_handlers(room.HANDLERS)
        presence.add_state_part(room.slides_state)
        # Drawing on the page shown and the whiteboard (docs/protocol.md, "Annotations").
        protocol.add_client_messages(*annotation_protocol.CLIENT_MESSAGES)
        dispatch.add_handlers(annotations.HANDLERS)
        dispatch.add_live_handlers(annotations.LIVE_HANDLERS)
        dispatch.OWN_UPDATE_HOOKS.append(annotations.own_participant_updated)
        dispatch.CLOSE_HOOKS.append(annotations.end_user_strokes)
        serialize.add_participant_part(annotations.draw_part)
