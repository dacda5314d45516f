"""Pull-back's write-backs are Records the engine runs: a store outage is retried with the engine's
RetryPolicy, then fails visibly; Replay writes the tracking once; nothing is written twice, not by a
second run, not by a replay, not after a crash between the store's answer and our commit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connector import engine, retry
from connector.models import Connection, Event, Link, Record
from connector.web.audit import filter_records
from integrations.zoho.sandbox import state
from tests.integrations.zoho.test_pullback import (  # noqa: F401 (flow and store are fixtures)
    flow,
    pull_back,
    run,
    store,
    submit,
    tracking_record,
)

pytestmark = pytest.mark.django_db(transaction=True)


class _HighestDice:
    """The random module inside connector.retry, always drawing the longest wait."""

    @staticmethod
    def uniform(low: float, high: float) -> float:
        return high


@pytest.fixture
def shipped_in_zoho(flow, sandbox_org):  # noqa: F811
    """Order 2001 is a sales order in Zoho whose tracking a person just filled in."""
    state.add_tracking_fields(sandbox_org)
    order = submit(flow)
    state.set_sales_order(sandbox_org, order.target_id, tracking_number="1Z77", carrier="UPS", shipping_method="Air")
    return order


@pytest.fixture
def replays(monkeypatch) -> list[tuple[int, bool]]:
    """What a Replay press queues (no worker here: the test runs it)."""
    queued: list[tuple[int, bool]] = []
    monkeypatch.setattr(engine, "_enqueue", lambda record_id, replay=False: queued.append((record_id, replay)))
    return queued


def test_a_store_outage_is_retried_by_the_engine_then_fails_visibly(
    flow,  # noqa: F811
    store,  # noqa: F811
    shipped_in_zoho,
    settings,
    monkeypatch,
    alice_client,
):
    settings.SYNC_MAX_ATTEMPTS = 3
    monkeypatch.setattr(retry, "random", _HighestDice)
    store.fail = 99  # the store answers 503 to every call
    assert pull_back(flow, retries=False)["outcomes"] == ["retry"]
    tracked = tracking_record(flow, shipped_in_zoho)
    assert (tracked.status, tracked.attempts) == ("pending", 1)
    (first,) = Event.objects.filter(record=tracked, kind="failed")
    # The wait is the engine's RetryPolicy (SYNC_BACKOFF_SECONDS doubling, jittered), not a second loop.
    assert first.data["retry_in"] == engine.sync_retry_policy().delay(1) and first.data["status"] == 503
    assert run(tracked.pk, retries=False) == "retry" and run(tracked.pk, retries=False) == "failed"
    tracked.refresh_from_db()
    assert (tracked.status, tracked.attempts) == ("failed", 3) and "store is down" in tracked.last_error
    assert "kept failing after 3 tries" in tracked.remediation and "press Replay" in tracked.remediation
    assert Event.objects.filter(record=tracked, kind="failed").count() == 3 and store.shipped == []
    # Visible like any other record: the audit log's failed filter and its page.
    assert tracked in filter_records(Record.objects.for_org(flow.organization), {"status": "failed"})
    page = alice_client.get(reverse("record_detail", args=[tracked.pk]))
    assert page.status_code == 200 and "store is down" in page.content.decode()
    # The order itself is not shipped, and the next pull-back run leaves the failed record for Replay.
    assert not Event.objects.filter(record=shipped_in_zoho, data__stage="shipped").exists()
    assert pull_back(flow)["already"] == 1
    tracked.refresh_from_db()
    assert tracked.status == "failed" and store.shipped == []


def test_replay_of_a_failed_write_back_writes_the_tracking_once(flow, store, shipped_in_zoho, settings, replays):  # noqa: F811
    settings.SYNC_MAX_ATTEMPTS = 2
    store.fail = 2
    assert pull_back(flow)["outcomes"] == ["failed"]
    tracked = tracking_record(flow, shipped_in_zoho)
    engine.replay(tracked)
    assert replays == [(tracked.pk, True)]
    assert run(tracked.pk, replay=True) == "synced"  # fresh from Zoho, then the store
    (info,) = store.shipped
    assert (info.order_id, info.order_number, info.carrier, info.tracking_number, info.shipping_method) == (
        "5512",
        "2001",
        "UPS",
        "1Z77",
        "Air",
    )
    tracked.refresh_from_db()
    assert tracked.status == "synced" and tracked.last_error == ""
    assert Event.objects.filter(record=tracked, kind="replayed").count() == 1
    assert Event.objects.filter(record=tracked, kind="fetched").count() == 1
    # Replaying the synced record again writes nothing: the store already holds this version.
    engine.replay(tracked)
    assert run(tracked.pk, replay=True) == "unchanged" and len(store.shipped) == 1
    assert Event.objects.filter(record=tracked, kind="unchanged").count() == 1
    sent = Event.objects.filter(record=shipped_in_zoho, data__stage="shipped", message__startswith="Shipped:")
    assert sent.count() == 1


def test_a_second_pull_back_run_writes_nothing_twice(flow, store, shipped_in_zoho):  # noqa: F811
    assert pull_back(flow)["outcomes"] == ["synced"]
    tracked = tracking_record(flow, shipped_in_zoho)
    events = Event.objects.filter(record=tracked).count()
    second = pull_back(flow)
    assert (second["queued"], second["already"], len(store.shipped)) == (0, 1, 1)
    assert Event.objects.filter(record=tracked).count() == events  # not even a "received"
    assert Record.objects.filter(flow=flow, object_type="tracking").count() == 1


def test_tracking_corrected_in_zoho_after_it_was_sent_is_not_sent_again(flow, store, shipped_in_zoho, sandbox_org):  # noqa: F811
    pull_back(flow)
    state.set_sales_order(sandbox_org, shipped_in_zoho.target_id, tracking_number="1Z78")
    assert pull_back(flow)["outcomes"] == ["synced"] and len(store.shipped) == 1
    tracked = tracking_record(flow, shipped_in_zoho)
    assert "already has this tracking" in Event.objects.filter(record=tracked, kind="unchanged").get().data["reason"]


def test_a_crash_between_the_stores_answer_and_our_commit_heals_without_a_second_write(
    flow,  # noqa: F811
    store,  # noqa: F811
    shipped_in_zoho,
):
    assert pull_back(flow)["outcomes"] == ["synced"]
    tracked = tracking_record(flow, shipped_in_zoho)
    # As if the worker died after the store answered: no Link, the record still pending.
    Link.objects.filter(object_type="store_tracking").delete()
    Record.objects.filter(pk=tracked.pk).update(status="pending", payload_hash="")
    assert run(tracked.pk) == "synced" and len(store.shipped) == 1
    assert Link.objects.filter(object_type="store_tracking", external_id="5512").exists()


def test_a_shipment_sent_before_pull_back_ran_through_the_engine_is_not_sent_again(flow, store, shipped_in_zoho):  # noqa: F811
    Link.objects.create(
        organization=flow.organization,
        connection=Connection.objects.get(pk=flow.source_id),
        object_type="store_shipment",
        canonical_key=shipped_in_zoho.target_id,
        external_id=shipped_in_zoho.target_id,
        data={"state": "sent", "tracking_number": "1Z77", "carrier": "UPS"},
    )
    assert pull_back(flow)["outcomes"] == ["synced"] and store.shipped == []
