from django.apps import AppConfig


class SlidesConfig(AppConfig):
    name = "slides"
    default_auto_field = "django.db.models.BigAutoField"
