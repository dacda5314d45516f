"""Celery app. Queues by kind (webhooks, sync, qbwc) so a slow vendor cannot starve webhooks.

Signals here carry the request id of whoever queued a task into the task's log lines (a message
header, bound again around the task; a webhook delivery's processing takes the id the delivery
arrived with) and count failed tasks where every worker adds to the same number (connector.metrics).

Settings hold the core's routes and beat entries; each integration contributes its own through the
registry (`SystemInfo.periodic_tasks`, `task_routes`), read once Django's apps are ready: routes at
send time (`route_by_registry`, a router in CELERY_TASK_ROUTES), beat entries when beat sets up its
schedule (`RegistryScheduler`, the CELERY_BEAT_SCHEDULER).
"""

import logging
import os
from contextvars import Token
from fnmatch import fnmatchcase

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import (
    before_task_publish,
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    worker_shutting_down,
)

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


# --- Request ids and failure counts -------------------------------------------------------------

# The request id bound for each running task, by task id, so postrun restores what was there before
# (an eager task inside a web request gives the request its id back).
_bound: dict[str, Token] = {}


@before_task_publish.connect
def carry_request_id(headers: dict | None = None, **_kwargs) -> None:
    """A task queued while serving a request (or running a task) carries that request's id."""
    from connector.logs import TASK_HEADER, current_request_id

    request_id = current_request_id()
    if request_id and headers is not None and not headers.get(TASK_HEADER):
        headers[TASK_HEADER] = request_id


@task_prerun.connect
def bind_task_request_id(task_id: str | None = None, task=None, args=None, **_kwargs) -> None:
    from connector.logs import bind_request_id

    if task_id is not None and task is not None:
        _bound[task_id] = bind_request_id(task_request_id(task, args or ()))


@task_postrun.connect
def unbind_task_request_id(task_id: str | None = None, **_kwargs) -> None:
    from connector.logs import unbind_request_id

    token = _bound.pop(task_id, None) if task_id is not None else None
    if token is not None:
        unbind_request_id(token)


def task_request_id(task, args) -> str | None:
    """The id a task logs under: a delivery's own (the request it arrived in, though one drain task
    fans out deliveries from many requests), else its message header, else the current one (eager)."""
    from connector.dispatch import PROCESS_DELIVERY
    from connector.logs import TASK_HEADER, current_request_id, sane_request_id

    if task.name == PROCESS_DELIVERY and args and (stored := delivery_request_id(args[0])):
        return stored
    request = task.request
    carried = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return sane_request_id(carried) or current_request_id()


def delivery_request_id(delivery_pk) -> str | None:
    """The request id a webhook delivery was stored with (the inbox keeps the X-Request-ID header)."""
    from connector.logs import REQUEST_ID_HEADER, sane_request_id
    from connector.models import Delivery

    try:
        pk = int(delivery_pk)
    except (TypeError, ValueError):
        return None
    headers = Delivery.objects.filter(pk=pk).values_list("headers", flat=True).first()
    return sane_request_id((headers or {}).get(REQUEST_ID_HEADER.lower())) if isinstance(headers, dict) else None


@task_failure.connect
def count_failed_task(sender=None, **_kwargs) -> None:
    from connector.metrics import count_task_failure

    count_task_failure(getattr(sender, "name", "") or "")
