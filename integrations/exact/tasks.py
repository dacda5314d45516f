"""Celery task: keep idle Exact connections alive within the 30-day refresh-token life (EXACT.md §2.5)."""

from __future__ import annotations

import logging

from celery import shared_task

from connector.http import ApiError
from connector.models import Connection
from integrations.exact.oauth import provider

logger = logging.getLogger(__name__)


def keep_alive_all() -> dict:
    """Refresh every active Exact connection whose tokens are older than a week. Run daily."""
    refreshed = failed = 0
    for connection in Connection.objects.filter(system="exact", status=Connection.Status.ACTIVE):
        try:
            refreshed += int(provider.keep_alive(connection))
        except ApiError as exc:
            failed += 1
            logger.warning("exact keep-alive failed for connection %s: %s", connection.pk, type(exc).__name__)
    return {"refreshed": refreshed, "failed": failed}


@shared_task(name="exact.keep_alive", acks_late=True)
def keep_alive() -> dict:
    return keep_alive_all()
