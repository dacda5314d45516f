"""Scheduled webhook repair: WooCommerce disables a webhook after repeated failed deliveries.

`repair_all_webhooks` fans out one task per active WooCommerce connection; beat runs it hourly (the
system's `periodic_tasks`, apps.py). Tasks carry ids only and re-read state.
"""

from __future__ import annotations

import logging

from celery import shared_task

from connector.http import ApiError, AuthExpired
from connector.models import Connection, raise_alert

from .connect import mark_needs_reauth, repair_webhooks, store_error_text

logger = logging.getLogger(__name__)


@shared_task(name="integrations.woocommerce.tasks.repair_all_webhooks", ignore_result=True)
def repair_all_webhooks() -> int:
    ids = list(
        Connection.objects.filter(system="woocommerce", status=Connection.Status.ACTIVE).values_list("pk", flat=True)
    )
    for connection_id in ids:
        repair_connection_webhooks.delay(connection_id)
    return len(ids)


@shared_task(name="integrations.woocommerce.tasks.repair_connection_webhooks", ignore_result=True, acks_late=True)
def repair_connection_webhooks(connection_id: int) -> dict | None:
    connection = Connection.objects.filter(
        pk=connection_id, system="woocommerce", status=Connection.Status.ACTIVE
    ).first()
    if connection is None:
        return None
    try:
        return repair_webhooks(connection)
    except AuthExpired as exc:
        mark_needs_reauth(connection, exc)
    except ApiError as exc:
        raise_alert(
            connection.organization,
            f"woocommerce-webhooks:{connection.pk}",
            f"Could not check the webhooks of {connection.label}: {store_error_text(exc)}",
            remediation="Open the connection and press Repair webhooks; orders are still polled meanwhile.",
            connection=connection,
        )
    return None
