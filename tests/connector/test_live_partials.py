"""Live pages: the partials poll (htmx `every 2s`) while work is pending and stop once idle.

The server decides: a partial answered while something is pending carries the polling attributes,
one answered when nothing is pending has none, so the browser stops asking by itself.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from connector import engine
from connector.models import Connection, Delivery, Event, Record
from connector.redis import get_redis
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
POLLING = 'hx-trigger="every 2s"'


@pytest.fixture
def flow(alice):
    return make_flow(alice.org)


def settle(record: Record, status: str = Record.Status.SYNCED) -> None:
    Record.objects.filter(pk=record.pk).update(status=status)


def test_record_partial_polls_while_pending_and_stops_when_synced(alice_client, flow):
    record = make_record(flow, "1001", status=Record.Status.PENDING)
    live = alice_client.get(reverse("record_live", args=[record.pk]), **HTMX).content.decode()
    assert POLLING in live and reverse("record_live", args=[record.pk]) in live
    settle(record)
    idle = alice_client.get(reverse("record_live", args=[record.pk]), **HTMX).content.decode()
    assert POLLING not in idle and 'id="record-live"' in idle
    # The full page embeds the same partial: a synced record's page does not poll at all.
    assert POLLING not in alice_client.get(reverse("record_detail", args=[record.pk])).content.decode()


def test_replay_from_the_page_swaps_in_a_polling_partial(alice_client, flow, monkeypatch):
    queued: list[tuple[int, bool]] = []
    monkeypatch.setattr(engine, "_enqueue", lambda pk, replay=False: queued.append((pk, replay)))
    record = make_record(flow, "1002", status=Record.Status.FAILED, last_error="Zoho Books server error 503")
    answer = alice_client.post(reverse("record_replay", args=[record.pk]), **HTMX)
    html = answer.content.decode()
    assert answer.status_code == 200 and 'id="record-live"' in html and POLLING in html
    assert "Replaying" in html  # not the old failure: it is running again
    assert queued == [(record.pk, True)]
    assert Event.objects.filter(record=record, kind=Event.Kind.REPLAYED).exists()
    # Without htmx (no JavaScript) Replay still works: back to the page.
    assert alice_client.post(reverse("record_replay", args=[record.pk])).status_code == 302


def test_audit_rows_poll_while_a_record_in_the_filter_is_pending(alice_client, flow):
    pending = make_record(flow, "2001", status=Record.Status.PENDING)
    make_record(flow, "2002", status=Record.Status.SYNCED)
    page = alice_client.get(reverse("audit_log")).content.decode()
    assert POLLING in page and "live=1" in page
    rows = alice_client.get(reverse("audit_log"), {"live": "1"}, **HTMX).content.decode()
    assert rows.lstrip().startswith("<") and 'id="audit-rows"' in rows and POLLING in rows
    assert "<html" not in rows  # only the rows, not the page
    # A filter with nothing pending does not poll.
    synced_only = alice_client.get(reverse("audit_log"), {"status": "synced", "live": "1"}, **HTMX).content.decode()
    assert POLLING not in synced_only and "2002" in synced_only
    settle(pending)
    idle = alice_client.get(reverse("audit_log"), {"live": "1"}, **HTMX).content.decode()
    assert POLLING not in idle and "2001" in idle


def test_deliveries_poll_while_one_is_being_processed(alice_client, alice):
    shop = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    waiting = Delivery.objects.create(
        organization=alice.org, connection=shop, topic="order.created", dedupe_key="k1", body=b"{}"
    )
    listing = alice_client.get(reverse("deliveries"), {"live": "1"}, **HTMX).content.decode()
    assert POLLING in listing and "<html" not in listing
    detail = alice_client.get(reverse("delivery_live", args=[waiting.pk]), **HTMX).content.decode()
    assert POLLING in detail
    Delivery.objects.filter(pk=waiting.pk).update(status=Delivery.Status.PROCESSED, processed_at=timezone.now())
    assert POLLING not in alice_client.get(reverse("deliveries"), {"live": "1"}, **HTMX).content.decode()
    assert POLLING not in alice_client.get(reverse("delivery_live", args=[waiting.pk]), **HTMX).content.decode()


def test_flow_progress_polls_while_work_is_under_way(alice_client, flow):
    url = reverse("flow_progress", args=[flow.pk])
    # Paused and empty: nothing will happen, nothing to poll.
    assert POLLING not in alice_client.get(url, **HTMX).content.decode()
    # Started but its first run has not happened yet: the card waits for it (the bug: "No records
    # yet" for two minutes while records had synced).
    flow.enabled = True
    flow.next_run_at = timezone.now()
    flow.save()
    first = alice_client.get(url, **HTMX).content.decode()
    assert POLLING in first and "No records yet" not in first
    # The run finished and found nothing: idle.
    flow.last_run_at = timezone.now()
    flow.next_run_at = timezone.now() + timezone.timedelta(minutes=5)
    flow.save()
    assert POLLING not in alice_client.get(url, **HTMX).content.decode()
    # A poll is queued or running (the keys the tasks set): live again, and says so.
    get_redis().set(f"poll:running:{flow.pk}", "token")
    running = alice_client.get(url, **HTMX).content.decode()
    assert POLLING in running and "Checking" in running
    get_redis().delete(f"poll:running:{flow.pk}")
    # Records pending: live until they have settled, and the latest ones are listed with results.
    record = make_record(flow, "3001", status=Record.Status.PENDING)
    busy = alice_client.get(url, **HTMX).content.decode()
    assert POLLING in busy and "3001" in busy and "Waiting to sync" in busy
    Record.objects.filter(pk=record.pk).update(
        status=Record.Status.SYNCED,
        result={"kind": "invoice", "label": "Invoice", "number": "INV-3001", "total": "9.50", "currency": "EUR"},
    )
    done = alice_client.get(url, **HTMX).content.decode()
    assert POLLING not in done and "Invoice INV-3001 · 9.50 EUR" in done


def test_live_partials_of_another_tenant_are_404(alice_client, bob):
    theirs = make_record(make_flow(bob.org), "9001", status=Record.Status.PENDING)
    bob_shop = Connection.objects.for_org(bob.org).first()
    delivery = Delivery.objects.create(organization=bob.org, connection=bob_shop, dedupe_key="b", body=b"{}")
    for url in (
        reverse("record_live", args=[theirs.pk]),
        reverse("delivery_live", args=[delivery.pk]),
        reverse("delivery_detail", args=[delivery.pk]),
        reverse("flow_progress", args=[theirs.flow_id]),
    ):
        assert alice_client.get(url, **HTMX).status_code == 404, url
    assert alice_client.post(reverse("record_replay", args=[theirs.pk]), **HTMX).status_code == 404
