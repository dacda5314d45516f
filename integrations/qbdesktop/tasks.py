"""Celery task: push QuickBooks quantities to the flow source's inventory (inventory_push.py).

Queued after the receiveResponseXML transaction that compared the inventory commits; carries the
connection id only and re-reads what is pending. A transient V2 failure (5xx, timeout, 429) is retried
with backoff; the rows stay pending meanwhile, so nothing is lost even when the retries run out.
"""

from __future__ import annotations

from celery import shared_task

from connector.http import Transient
from connector.retry import RetryPolicy
from integrations.qbdesktop import inventory_push

# Six pushes in all; jittered waits up to 30 s, 60 s, 2 min ... (never under a second, never before a
# 429's Retry-After), so the pushes of connections that failed together do not return together.
PUSH_RETRY = RetryPolicy(max_attempts=6, base=30.0, cap=3600.0, floor=1.0)
MAX_RETRIES = PUSH_RETRY.max_attempts - 1


@shared_task(name="qbdesktop.push_inventory", bind=True, ignore_result=True, acks_late=True, max_retries=MAX_RETRIES)
def push_inventory(self, connection_id: int) -> dict:
    report = inventory_push.push(connection_id)
    attempts = self.request.retries + 1
    if isinstance(report.error, Transient) and PUSH_RETRY.retries_left(attempts):
        wait = PUSH_RETRY.delay(attempts, at_least=getattr(report.error, "retry_after", 0.0))
        raise self.retry(countdown=wait)
    return {"pushed": len(report.pushed), "failed": len(report.failed)}
