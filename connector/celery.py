"""Celery app. Queues by kind (webhooks, sync, qbwc) so a slow vendor cannot starve webhooks."""

import logging
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings")

app = Celery("connector")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def configure_worker_logging(loglevel=None, **_kwargs) -> None:
    """Worker and beat log through settings.LOGGING, the web's JSON lines with the same redaction.

    Connected to `setup_logging`, Celery leaves logging to us instead of installing its own plain-text
    handlers, which would print secrets in task arguments and vendor errors unredacted.
    """
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:  # `celery worker --loglevel INFO` still decides how much the worker says
        logging.getLogger().setLevel(loglevel)
