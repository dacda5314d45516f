"""Sending Celery tasks by name (DESIGN §5, §7).

Domain code (the engine, the inbox) queues work through here and never imports `connector.tasks`:
only the task modules import the domain code, so the import graph has no engine ↔ tasks ↔ inbox
cycle. A task registered in this process is sent through its own `delay` (its options, and anything
a test put in its place); one not imported here (a web process that never loaded the task module)
is sent by name, routed by `CELERY_TASK_ROUTES` like any other.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

from connector.retry import recovery_seconds

SYNC_RECORD = "connector.tasks.sync_record"
POLL_FLOW = "connector.tasks.poll_flow"
DRAIN_INBOX = "connector.tasks.drain_inbox"
PROCESS_DELIVERY = "connector.tasks.process_delivery"

# A record already waiting in the queue is not queued again for this long (its task clears the key):
# as long as the broker may hold a message before handing it back (the visibility timeout). Shorter,
# a backlog longer than the key's life got one more message per record from every poll that saw the
# record again, each costing a source fetch, and the backlog fed itself (the chaos run found it).
COALESCE_TTL = recovery_seconds(1800)


def send(name: str, *args, **kwargs) -> None:
    """Queue the task called `name` with these arguments."""
    task = current_app.tasks.get(name)
    if task is not None:
        task.delay(*args, **kwargs)
    else:
        current_app.send_task(name, args=args, kwargs=kwargs)


def sync_queued_key(record_id: int) -> str:
    return f"sync:queued:{record_id}"


def enqueue_sync(record_id: int, *, replay: bool = False) -> bool:
    """Queue `sync_record` once, after commit: a record already waiting is not queued again (a
    person's replay always is)."""
    from connector.redis import get_redis

    if not get_redis().set(sync_queued_key(record_id), "1", nx=True, ex=COALESCE_TTL) and not replay:
        return False
    transaction.on_commit(lambda: send(SYNC_RECORD, record_id, replay=replay))
    return True
