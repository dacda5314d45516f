"""Celery app. Queues by kind (webhooks, sync, qbwc) so a slow vendor cannot starve webhooks.

Settings hold the core's routes and beat entries; each integration contributes its own through the
registry (`SystemInfo.periodic_tasks`, `task_routes`), read once Django's apps are ready: routes at
send time (`route_by_registry`, a router in CELERY_TASK_ROUTES), beat entries when beat sets up its
schedule (`RegistryScheduler`, the CELERY_BEAT_SCHEDULER).
"""

import logging
import os
from fnmatch import fnmatchcase

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings")

app = Celery("connector")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def route_by_registry(name, args=None, kwargs=None, options=None, task=None, **_kw) -> dict | None:
    """Celery router: the queue a registered system names for this task (first matching pattern)."""
    from connector.registry import task_routes

    for pattern, queue in task_routes():
        if fnmatchcase(name, pattern):
            return {"queue": queue}
    return None


def beat_schedule(core: dict) -> dict:
    """The core beat entries plus every registered system's periodic tasks."""
    from connector.registry import periodic_tasks

    entries = dict(core)
    for periodic in periodic_tasks():
        entry = {"task": periodic.task, "schedule": periodic.schedule}
        if entries.setdefault(periodic.name, entry) != entry:
            raise ValueError(f"beat entry {periodic.name!r} is defined twice, differently")
    return entries


class RegistryScheduler(PersistentScheduler):
    """Beat's scheduler with the registered systems' periodic tasks added to the configured ones.
    Beat sets Django up (and so fills the registry) before it builds its schedule."""

    def setup_schedule(self) -> None:
        self.app.conf.beat_schedule = beat_schedule(self.app.conf.beat_schedule)
        super().setup_schedule()


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
