from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "classroom"
    verbose_name = "Classes and rooms"

    def ready(self) -> None:
        # Models are ready only now: the receivers and the action layer are imported here.
        from . import directory, media, signals  # noqa: F401  (directory and signals connect receivers)
        from .actions import dispatch, groups, presence
        from .actions.publishing import do_set_publishing, publish_permissions

        media.connect_actions(media.ActionHooks(set_publishing=do_set_publishing, permissions=publish_permissions))
        # breakout groups: their messages and the `groups`/`group` parts of `state`
        dispatch.add_handlers(groups.HANDLERS)
        presence.add_state_part(groups.state_part)
