"""Celery tasks for failure mails (accounts.notifications)."""

from __future__ import annotations

from celery import shared_task

from accounts import notifications


@shared_task(name=notifications.NEEDS_REVIEW_MAIL_TASK, ignore_result=True)
def send_needs_review_mail(alert_id: int) -> int:
    return notifications.send_needs_review(alert_id)


@shared_task(name="accounts.tasks.send_daily_digests", ignore_result=True)
def send_daily_digests() -> int:
    return notifications.send_digests()


@shared_task(name=notifications.RECONCILIATION_MAIL_TASK, ignore_result=True)
def send_reconciliation_mail(alert_id: int) -> int:
    return notifications.send_reconciliation(alert_id)
