"""Audit log: filters, search and keyset pagination that never skips or repeats a row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connector.models import Record
from connector.web.audit import decode_cursor, filter_records, page_of
from connector.web.params import InvalidParam
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(alice):
    flow = make_flow(alice.org)
    rows = [make_record(flow, f"100{i:02d}", status="failed" if i % 3 == 0 else "synced") for i in range(23)]
    Record.objects.filter(pk__in=[r.pk for r in rows[:10]]).update(updated_at=rows[0].updated_at)  # ties
    make_record(flow, "EMAIL-1", search_text="jane@shop.example")
    return flow


def test_keyset_pages_cover_every_row_once(alice, records):
    qs = Record.objects.for_org(alice.org)
    seen, cursor = [], None
    while True:
        page = page_of(qs, cursor, size=5)
        seen += [r.pk for r in page.records]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == qs.count()


def test_filters_and_search(alice, records):
    qs = Record.objects.for_org(alice.org)
    assert filter_records(qs, {"status": "failed"}).count() == 8
    assert filter_records(qs, {"q": "10005"}).get().source_ref == "10005"
    assert filter_records(qs, {"q": "jane@shop"}).get().source_ref == "EMAIL-1"
    assert filter_records(qs, {"flow": str(records.pk), "object_type": "order"}).count() == 24
    # Malformed values are ignored, never a 500.
    # Malformed filters are refused with a message naming them (a 400 on the page), not dropped.
    for bad in ({"flow": "x"}, {"status": "bogus"}, {"since": "not-a-date"}, {"until": "2024-02-30"}):
        with pytest.raises(InvalidParam, match=next(iter(bad))):
            filter_records(qs, bad)


def test_garbage_cursor_is_a_400(alice_client, records):
    assert decode_cursor("%%%") is None
    response = alice_client.get(reverse("audit_log") + "?after=garbage")
    assert response.status_code == 400 and b"after" in response.content


def test_page_and_htmx_more(alice_client, records):
    response = alice_client.get(reverse("audit_log"))
    assert response.status_code == 200 and b"Load more" not in response.content  # 24 rows < page size
    record = Record.objects.first()
    detail = alice_client.get(reverse("record_detail", args=[record.pk]))
    assert detail.status_code == 200 and b"Timeline" in detail.content


def test_dashboard_shows_alerts_with_actions_and_they_can_be_dismissed(alice_client, alice, records):
    from connector.models import Alert, Connection, raise_alert

    conn = Connection.objects.for_org(alice.org).first()
    raise_alert(
        alice.org, f"reauth:{conn.pk}", "Books rejected our credentials.", remediation="Reconnect.", connection=conn
    )
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert "Books rejected our credentials." in page and "Dismiss" in page
    alert = Alert.objects.get()
    assert alice_client.post(reverse("alert_resolve", args=[alert.pk])).status_code == 302
    assert "Books rejected" not in alice_client.get(reverse("dashboard")).content.decode()
