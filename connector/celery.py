"""Celery app. Queues by kind (webhooks, sync, qbwc) so a slow vendor cannot starve webhooks."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings")

app = Celery("connector")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
