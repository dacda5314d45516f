"""Event retention: a record's timeline keeps its recent past, not every step of the last years.

Events older than EVENT_RETENTION_DAYS (default 180; 0 keeps everything) are deleted by a daily beat
task (`prune_old_events`), except:

- each record's latest event, so its page still says what last happened to it;
- every event of a record that is not done (pending, failed, needs review): whoever fixes it needs
  its whole history, however old.

Events that belong to no record (a connection's API calls while connecting, webhook-address
rotations, inventory pushes) go by age alone. Deletion runs per organisation in small batches, and
each batch re-applies the rules in its DELETE, so a record that turns pending meanwhile keeps its events.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.apps import apps
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from connector.models import Event, Record

# Statuses whose old history may go: the record reached its end (written, or skipped on purpose).
DONE = (Record.Status.SYNCED, Record.Status.SKIPPED)
BATCH = 2000


def retention_period() -> timedelta | None:
    """How long events are kept, from EVENT_RETENTION_DAYS; None when retention is off (0 or less)."""
    days = settings.EVENT_RETENTION_DAYS
    return timedelta(days=days) if days > 0 else None


def prunable(organization_id: int, cutoff: datetime) -> QuerySet:
    """One organisation's events that may be deleted: older than `cutoff`, and either of no record,
    or of a done record that has a newer event (so never a record's latest one)."""
    newer = Event.objects.filter(record_id=OuterRef("record_id"), id__gt=OuterRef("pk"))
    kept_by_record = Q(record__status__in=DONE) & Exists(newer)
    return Event.objects.filter(organization_id=organization_id, created_at__lt=cutoff).filter(
        Q(record__isnull=True) | kept_by_record
    )


def prune_organization(organization_id: int, cutoff: datetime, *, batch: int = BATCH) -> int:
    pruned = 0
    while True:
        ids = list(prunable(organization_id, cutoff).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return pruned
        deleted, _ = prunable(organization_id, cutoff).filter(pk__in=ids).delete()
        pruned += deleted


def prune_events(older_than: timedelta | None = None, *, now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete the events the retention rules let go, older than `older_than` (default: the setting).
    Returns how many were deleted."""
    period = older_than if older_than is not None else retention_period()
    if period is None:
        return 0
    cutoff = (now or timezone.now()) - period
    organizations = apps.get_model("accounts", "Organization").objects.order_by("pk").values_list("pk", flat=True)
    return sum(prune_organization(org_id, cutoff, batch=batch) for org_id in organizations)


@shared_task(name="connector.retention.prune_old_events", ignore_result=True)
def prune_old_events() -> int:
    """Beat, daily: apply the event retention rules."""
    return prune_events()
