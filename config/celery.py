"""Celery application: directory sync, slide rendering, recess log purge."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("classe_virtuelle")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
