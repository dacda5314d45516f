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
from celery.signals import setup_logging, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings")

logger = logging.getLogger(__name__)

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


@worker_shutting_down.connect
def log_what_shutdown_waits_for(sig=None, how=None, **_kwargs) -> None:
    """Say which tasks a stopping worker is finishing (CELERY_* shutdown notes in settings).

    A warm shutdown (SIGTERM) lets them finish: each releases its record lease or poll lock itself,
    and the reserved ones go back to the broker. A platform that kills the worker after a grace
    period cuts these short; the log names them, and their leases and locks lapse on their own.
    """
    from celery.worker import state

    running = sorted(f"{request.name}{list(request.args)}" for request in list(state.active_requests))
    logger.warning(
        "worker shutting down (%s, %s): finishing %d running task(s)",
        how,
        sig,
        len(running),
        extra={"running": running[:50], "reserved": len(state.reserved_requests)},
    )
