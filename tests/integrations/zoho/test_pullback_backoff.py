"""Pull-back's store calls retry through the shared RetryPolicy: a failed call waits its jittered
backoff (stored as retry_at on the shipment Link) before a later run tries it again."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from connector import retry
from connector.models import Link
from integrations.zoho import pullback
from integrations.zoho.salesorders import SHIPMENT_LINK
from integrations.zoho.sandbox import state
from tests.integrations.zoho.test_pullback import FakeStore, flow, submit  # noqa: F401 (flow is a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


class _HighestDice:
    """The random module inside connector.retry, always drawing the longest wait."""

    @staticmethod
    def uniform(low: float, high: float) -> float:
        return high


def test_a_failed_store_call_waits_its_backoff_before_the_next_run_tries_again(flow, sandbox_org, monkeypatch):  # noqa: F811
    monkeypatch.setattr(retry, "random", _HighestDice)
    state.add_tracking_fields(sandbox_org)
    record = submit(flow)
    state.set_sales_order(sandbox_org, record.target_id, tracking_number="TRK9", carrier="UPS")
    store = FakeStore(fail=1)
    now = timezone.now()
    assert pullback.pull_back(flow, store=store, now=now)["failed"] == 1
    link = Link.objects.get(connection=flow.source, object_type=SHIPMENT_LINK)
    assert datetime.fromisoformat(link.data["retry_at"]) == now + timedelta(hours=1)  # attempt 1: up to an hour

    # Half an hour later the sales order is still in the window, but its wait is not over: no store call.
    summary = pullback.pull_back(flow, store=store, now=now + timedelta(minutes=30))
    assert summary["sent"] == 0 and summary["failed"] == 0 and store.shipped == []
    due = pullback.pull_back(flow, store=store, now=now + timedelta(minutes=61))
    assert due["sent"] == 1 and len(store.shipped) == 1


def test_the_retry_by_id_pass_waits_for_retry_at_too(flow, sandbox_org, monkeypatch):  # noqa: F811
    monkeypatch.setattr(retry, "random", _HighestDice)
    state.add_tracking_fields(sandbox_org)
    record = submit(flow)
    state.set_sales_order(sandbox_org, record.target_id, tracking_number="TRK8", carrier="UPS")
    store = FakeStore(fail=4)
    now = timezone.now()
    for hours in (0, 1.1, 3.2, 7.3):  # four failures: waits of up to 1, 2, 4 and then 8 hours
        assert pullback.pull_back(flow, store=store, now=now + timedelta(hours=hours))["failed"] == 1
    link = Link.objects.get(connection=flow.source, object_type=SHIPMENT_LINK)
    assert link.data["attempts"] == 4
    assert datetime.fromisoformat(link.data["retry_at"]) == now + timedelta(hours=15.3)
    # Hours later the sales order is outside the look-back window: only the retry-by-id pass sees it.
    early = pullback.pull_back(flow, store=store, now=now + timedelta(hours=15))
    assert early["retried"] == 0 and store.shipped == []
    due = pullback.pull_back(flow, store=store, now=now + timedelta(hours=15.4))
    assert due["retried"] == 1 and due["sent"] == 1 and len(store.shipped) == 1


def test_the_store_retry_policy_is_five_calls():
    assert pullback.STORE_RETRY.max_attempts == pullback.MAX_STORE_ATTEMPTS == 5
    assert not pullback._due({"state": "failed", "attempts": 5}, timezone.now())
    assert pullback._due({"state": "sending", "attempts": 1, "retry_at": "2999-01-01T00:00:00+00:00"}, timezone.now())
