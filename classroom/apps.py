from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "classroom"
    verbose_name = "Classes and rooms"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the receivers)
