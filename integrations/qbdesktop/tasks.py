"""Celery task: push QuickBooks quantities to ShipStation's V2 inventory (inventory_push.py).

Queued after the receiveResponseXML transaction that compared the inventory commits; carries the
connection id only and re-reads what is pending. A transient V2 failure (5xx, timeout, 429) is retried
with backoff; the rows stay pending meanwhile, so nothing is lost even when the retries run out.
"""

from __future__ import annotations

from celery import shared_task

from connector.http import RateLimited, Transient
from integrations.qbdesktop import inventory_push

MAX_RETRIES = 5


@shared_task(name="qbdesktop.push_inventory", bind=True, ignore_result=True, acks_late=True, max_retries=MAX_RETRIES)
def push_inventory(self, connection_id: int) -> dict:
    report = inventory_push.push(connection_id)
    if isinstance(report.error, Transient) and self.request.retries < MAX_RETRIES:
        wait = report.error.retry_after if isinstance(report.error, RateLimited) else 30 * 2**self.request.retries
        raise self.retry(countdown=max(1.0, float(wait)))
    return {"pushed": len(report.pushed), "failed": len(report.failed)}
