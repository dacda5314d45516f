"""Incremental sync of QuickBooks customers, items and invoices (sync.py) against the simulated company.

QuickBooks reads FromModifiedDate in the QuickBooks PC's local time (QBWC.md §4.2): the cursor is
QuickBooks' own TimeModified read in the company's zone, and each pass asks from cursor − OVERLAP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from lxml import etree

from connector import engine
from connector.canonical import LineItem
from connector.models import Alert, Connection, Event, Flow, Link, Record
from integrations.qbdesktop import flow as qbd_flow
from integrations.qbdesktop import jobs, qbxml, service, sync
from integrations.qbdesktop.models import QBDSyncCursor, QBXMLJob
from integrations.qbdesktop.sandbox.client import make_service, strings
from integrations.qbdesktop.sandbox.company import SimulatedHResult

from .conftest import make_qbd_connection, simulator
from .test_flow import feed, invoices, make_order

pytestmark = pytest.mark.django_db(transaction=True)
NY = ZoneInfo("America/New_York")


def run(live_server, qbd, company, **kwargs):
    return simulator(live_server, qbd, company, **kwargs).run()


def cursor(connection, kind) -> QBDSyncCursor:
    return QBDSyncCursor.objects.get(connection=connection, kind=kind)


def make_due(connection) -> None:
    """The last passes completed long ago: the next authenticate queues the sync again."""
    QBDSyncCursor.objects.filter(connection=connection).update(last_synced_at=timezone.now() - timedelta(days=1))


def request_text(xml: str, path: str) -> str | None:
    return etree.fromstring(xml).findtext(path)


def sent(company, needle: str) -> list[str]:
    return [r for r in company.requests_seen if needle in r]


def linked(connection, link_type: str) -> dict[str, str]:
    return dict(
        Link.objects.filter(connection=connection, object_type=link_type).values_list("canonical_key", "external_id")
    )


def test_bounds_are_sent_in_company_local_time_minus_the_overlap(alice):
    connection, _user, _password = make_qbd_connection(alice.org)
    connection.settings = {**connection.settings, "time_zone": "America/Los_Angeles"}
    connection.save()
    mark = datetime(2024, 7, 1, 18, 0, tzinfo=UTC)  # 11:00 in Los Angeles (PDT, UTC-7)
    for kind in ("customers", "items"):
        QBDSyncCursor.objects.create(
            organization=alice.org, connection=connection, kind=kind, modified_since=mark, deleted_since=mark
        )
    customers, deleted = sync.queue_kind(connection, "customers")
    assert customers.kind == "CustomerQuery" and customers.handler == sync.H_MODIFIED
    assert request_text(customers.request_xml, "FromModifiedDate") == "2024-07-01T10:55:00"  # local, 5 min back
    assert request_text(customers.request_xml, "ActiveStatus") == "All"  # inactive ones must be forgotten
    assert 'iterator="Start"' in customers.request_xml and request_text(customers.request_xml, "MaxReturned")
    assert deleted.kind == "ListDeletedQuery"
    assert request_text(deleted.request_xml, "DeletedDateRangeFilter/FromDeletedDate") == "2024-07-01T10:55:00"
    assert [e.text for e in etree.fromstring(deleted.request_xml).iter("ListDelType")] == ["Customer"]
    items, item_deleted = sync.queue_kind(connection, "items")
    assert items.kind == "ItemQuery" and request_text(items.request_xml, "FromModifiedDate") == "2024-07-01T10:55:00"
    assert "ItemInventory" in item_deleted.request_xml and "ItemService" in item_deleted.request_xml
    assert sync.queue_kind(connection, "customers") == []  # one pass at a time
    # No invoice written yet: nothing of ours can have changed, so no invoice pass is queued.
    assert sync.queue_kind(connection, "invoices") == []


def test_local_time_helpers_handle_dst():
    # 01:30 on 3 Nov 2024 happens twice in New York: QuickBooks might read the later one, so the lower
    # bound steps back an hour rather than risk losing that hour.
    assert qbxml.qb_from_datetime(datetime(2024, 11, 3, 5, 30, tzinfo=UTC), NY) == "2024-11-03T00:30:00"
    assert qbxml.qb_from_datetime(datetime(2024, 7, 1, 14, 0, tzinfo=UTC), NY) == "2024-07-01T10:00:00"
    # QuickBooks reports the standard-time offset during DST: the company's zone decides, not the offset.
    assert qbxml.parse_qb_time("2024-07-01T10:00:00-05:00", NY) == datetime(2024, 7, 1, 14, 0, tzinfo=UTC)
    assert qbxml.parse_qb_time("2024-01-15T10:00:00-05:00", NY) == datetime(2024, 1, 15, 15, 0, tzinfo=UTC)
    assert qbxml.parse_qb_time("garbage", NY) is None


def test_simulated_company_filters_by_local_modified_time(company):
    company.advance_clock(3600)
    late = company.add_customer("Late Co")
    query = qbxml.customer_query(max_returned=50, from_modified=datetime(2024, 3, 1, 5, 30, tzinfo=UTC), company_tz=NY)
    answer = company.process(qbxml.message_set([("1", query)]))
    names = [o.full_name for o in qbxml.iter_response(answer) if isinstance(o, qbxml.Customer)]
    assert names == ["Late Co"]  # 00:30 New York time: only what changed after it
    assert f"<TimeModified>{late.time_modified}-05:00</TimeModified>" in answer
    summer = type(company)("Summer books", clock_start=datetime(2024, 7, 1, 9, 0))
    row = summer.add_customer("Sunny")
    answer = summer.process(qbxml.message_set([("1", qbxml.customer_query(list_ids=[row.list_id]))]))
    # QuickBooks' DST quirk: the standard offset (-05:00) though New York is at -04:00 in July.
    assert "<TimeModified>2024-07-01T09:00:00-05:00</TimeModified>" in answer
    xml = (
        "<CustomerQueryRq><MaxReturned>5</MaxReturned><FromModifiedDate>yesterday</FromModifiedDate></CustomerQueryRq>"
    )
    with pytest.raises(SimulatedHResult, match="0x80040400"):  # not a qbXML date-time: the request does not parse
        company.process(qbxml.message_set([("1", qbxml.Request("CustomerQuery", xml))]))


def test_customer_added_in_quickbooks_is_synced_and_a_replayed_order_passes(live_server, qbd, books, qbd_flow_):
    connection = qbd[0]
    books.advance_clock(3600)
    books.touch_customer(books.customer_by_name("Globex").list_id)  # an hour after Acme Ltd was last changed
    review = feed(qbd_flow_, make_order("2001", "Missing Co"))
    run(live_server, qbd, books)  # the first run also syncs the lists in full
    review.refresh_from_db()
    assert review.status == Record.Status.NEEDS_REVIEW
    first = cursor(connection, "customers")
    assert first.last_synced_at is not None and first.last_count == 2 and first.last_error == ""
    newest = max(c.time_modified for c in books.customers.values())
    assert first.modified_since == qbxml.parse_qb_time(newest, NY)
    assert set(linked(connection, "qbd_customer")) == {"acme ltd", "globex"}
    assert {"widget-1", "gadget-2", "shipping", "discount", "sales tax"} <= set(linked(connection, "qbd_item"))

    books.advance_clock(3600)  # an hour later the merchant creates the customer in QuickBooks
    added = books.add_customer("Missing Co")
    make_due(connection)
    before = len(books.requests_seen)
    run(live_server, qbd, books)
    (query,) = [r for r in books.requests_seen[before:] if "<CustomerQueryRq" in r]
    expected_from = qbxml.qb_datetime(first.modified_since - sync.OVERLAP, NY)
    assert f"<FromModifiedDate>{expected_from}</FromModifiedDate>" in query
    second = cursor(connection, "customers")
    # Globex again (inside the overlap) and the new customer; Acme Ltd, unchanged for hours, is not re-read.
    assert second.last_count == 2
    assert second.modified_since == qbxml.parse_qb_time(added.time_modified, NY) > first.modified_since
    assert linked(connection, "qbd_customer")["missing co"] == added.list_id

    # Replay: the cached ListID means no customer lookup at all; the invoice is created.
    Record.objects.filter(pk=review.pk).update(status=Record.Status.PENDING)
    assert engine.sync_record(review.pk).status == "queued"
    before = len(books.requests_seen)
    run(live_server, qbd, books)
    review.refresh_from_db()
    assert review.status == Record.Status.SYNCED and len(invoices(books, "2001")) == 1
    assert not [r for r in books.requests_seen[before:] if "<CustomerQueryRq" in r]


def test_deleted_and_inactive_list_entries_are_forgotten(live_server, qbd, books, qbd_flow_):
    connection = qbd[0]
    run(live_server, qbd, books)
    widget = books.item_by_name("WIDGET-1")
    globex = books.customer_by_name("Globex")
    acme = books.customer_by_name("Acme Ltd")
    assert linked(connection, "qbd_item")["widget-1"] == widget.list_id
    first_deleted = [r for r in sent(books, "<ListDeletedQueryRq") if "<ListDelType>Customer" in r]
    assert first_deleted and "FromDeletedDate" not in first_deleted[-1]  # no cursor yet: everything

    books.advance_clock(600)
    books.delete_item(widget.list_id)
    books.delete_customer(globex.list_id)
    books.touch_customer(acme.list_id, is_active=False)
    make_due(connection)
    run(live_server, qbd, books)
    assert "widget-1" not in linked(connection, "qbd_item")
    assert set(linked(connection, "qbd_customer")) == set()  # Globex deleted, Acme inactive
    assert cursor(connection, "customers").last_deleted_count == 1
    deleted_mark = cursor(connection, "items").deleted_since
    assert deleted_mark == qbxml.parse_qb_time(books.deleted_lists[0]["deleted"], NY)

    # The next deleted-list query asks only from that mark (minus the overlap), in local time.
    make_due(connection)
    run(live_server, qbd, books)
    last = [r for r in sent(books, "<ListDeletedQueryRq") if "ItemInventory" in r][-1]
    assert f"<FromDeletedDate>{qbxml.qb_datetime(deleted_mark - sync.OVERLAP, NY)}</FromDeletedDate>" in last

    # Acme Ltd is active again (not synced yet) but the item is gone: looked up again, put in review.
    books.touch_customer(acme.list_id, is_active=True)
    record = feed(qbd_flow_, make_order("2101", "Acme Ltd"))
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert record.status == Record.Status.NEEDS_REVIEW and "'WIDGET-1' not in QuickBooks" in record.last_error
    assert invoices(books, "2101") == []


def test_an_iteration_cut_short_restarts_from_the_cursor(live_server, qbd, company):
    connection = qbd[0]
    for i in range(10):
        company.add_customer(f"Customer {i:02}")
    sync.queue_kind(connection, "customers", page_size=4)  # 12 customers: 3 pages
    # The run ends after the first page (the user stopped the Web Connector).
    log = run(live_server, qbd, company, max_calls=5)
    assert log.requests_sent == 1
    mid = cursor(connection, "customers")
    assert mid.modified_since is None and mid.last_synced_at is None  # half a pass moves nothing
    assert mid.pass_count == 4 and mid.pass_high is not None
    page = QBXMLJob.objects.get(connection=connection, handler=sync.H_MODIFIED, status="queued")
    assert 'iterator="Start"' in page.request_xml and page.page == 1  # restarts, from the same cursor

    company.add_customer("Arrived Between Runs")
    run(live_server, qbd, company)
    done = cursor(connection, "customers")
    assert done.last_count == 13 and done.pass_high is None  # the restarted pass counts from zero
    newest = max(c.time_modified for c in company.customers.values())
    assert done.modified_since == qbxml.parse_qb_time(newest, NY)
    assert len(linked(connection, "qbd_customer")) == 13


def test_an_invalid_iterator_restarts_the_pass_in_the_same_session(live_server, qbd, company):
    connection, user, password = qbd
    for i in range(6):
        company.add_customer(f"Customer {i:02}")
    sync.queue_kind(connection, "customers", page_size=3)
    svc = make_service(live_server.url)
    ticket = strings(svc.authenticate(user.username, password))[0]
    percentages = []
    for step in range(12):
        request = svc.sendRequestXML(ticket, "", "C:\\x.QBW", "US", 13, 0)
        if not request:
            break
        if step == 1:
            company.iterators.clear()  # QuickBooks lost the iterator: the Continue page gets status 3120
        percentages.append(svc.receiveResponseXML(ticket, company.process(request), "", ""))
        if percentages[-1] >= 100:
            break
    assert percentages[-1] == 100
    continues = [r for r in company.requests_seen if 'iterator="Continue"' in r and "<CustomerQueryRq" in r]
    starts = [r for r in company.requests_seen if 'iterator="Start"' in r and "<CustomerQueryRq" in r]
    assert len(starts) == 2 and len(continues) >= 3
    done = cursor(connection, "customers")
    assert done.last_count == 8 and done.last_synced_at is not None
    assert len(linked(connection, "qbd_customer")) == 8


def test_authenticate_queues_the_sync_when_due_and_only_then(qbd, alice):
    connection, user, password = qbd

    def authenticate():
        assert service.authenticate(user.username, password)[0]

    def sync_jobs():
        return list(
            QBXMLJob.objects.filter(connection=connection, handler__in=(sync.H_MODIFIED, sync.H_DELETED_LISTS))
            .exclude(status="cancelled")
            .values_list("kind", flat=True)
        )

    authenticate()
    assert sync_jobs() == []  # no flow uses this connection: nothing to sync for
    source = Connection.objects.create(organization=alice.org, system="shipstation", label="Store")
    Flow.objects.create(
        organization=alice.org,
        preset=qbd_flow.PRESET,
        source=source,
        target=connection,
        options={"list_sync_minutes": 30},
    )
    authenticate()
    assert sorted(sync_jobs()) == ["CustomerQuery", "ItemQuery", "ListDeletedQuery", "ListDeletedQuery"]
    authenticate()
    assert len(sync_jobs()) == 4  # pending: not queued twice

    for job in jobs.pending(connection):
        jobs.cancel(job)
    now = timezone.now()
    for kind in ("customers", "items", "invoices"):
        QBDSyncCursor.objects.update_or_create(
            connection=connection,
            kind=kind,
            defaults={"organization": alice.org, "last_synced_at": now - timedelta(minutes=20)},
        )
    authenticate()
    assert jobs.pending(connection).filter(handler=sync.H_MODIFIED).count() == 0  # synced 20 of 30 minutes ago
    QBDSyncCursor.objects.filter(connection=connection, kind="items").update(last_synced_at=now - timedelta(minutes=31))
    authenticate()
    assert sorted(jobs.pending(connection).values_list("kind", flat=True)) == ["ItemQuery", "ListDeletedQuery"]


def test_our_invoice_changed_in_quickbooks_is_shown_and_alerted(live_server, qbd, books, qbd_flow_):
    connection = qbd[0]
    record = feed(qbd_flow_, make_order("2201"))
    run(live_server, qbd, books)
    make_due(connection)
    run(live_server, qbd, books)  # the first invoice pass: our own invoice, unchanged
    record.refresh_from_db()
    assert record.status == Record.Status.SYNCED
    (query,) = sent(books, "<InvoiceQueryRq")[-1:]
    assert "<ModifiedDateRangeFilter><FromModifiedDate>" in query
    assert not Event.objects.filter(record=record, message__contains="changed in QuickBooks").exists()

    (inv,) = invoices(books, "2201")
    books.advance_clock(60)
    inv.lines = [(inv.lines[0][0], "WIDGET-1", Decimal("3"), Decimal("12.50"))]  # someone adds a unit
    books.touch_invoice(inv.txn_id)
    make_due(connection)
    run(live_server, qbd, books)
    event = Event.objects.get(record=record, message__contains="changed in QuickBooks")
    assert event.kind == "alert" and "now totals 37.50, the order posted 25.00" in event.message
    alert = Alert.objects.get(key=f"qbd-changed:{record.pk}", resolved_at=None)
    assert "2201" in alert.message
    assert cursor(connection, "invoices").modified_since == qbxml.parse_qb_time(inv.time_modified, NY)

    make_due(connection)
    run(live_server, qbd, books)  # seen once: not noted again
    assert Event.objects.filter(record=record, message__contains="changed in QuickBooks").count() == 1


def test_deleted_transaction_check_asks_from_its_own_cursor(live_server, qbd, books, qbd_flow_):
    connection = qbd[0]
    record = feed(qbd_flow_, make_order("2301"))
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert "FromDeletedDate" not in sent(books, "<TxnDeletedQueryRq")[-1]  # no cursor yet
    books.delete_invoice(record.target_id)
    feed(qbd_flow_, make_order("2302"))  # a batch of orders: the deleted check runs with it
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert record.status == Record.Status.FAILED
    mark = cursor(connection, "invoices").deleted_since
    assert mark == qbxml.parse_qb_time(books.deleted_txns[0]["deleted"], NY)
    feed(qbd_flow_, make_order("2303", lines=(LineItem("GADGET-2", "Gadget", Decimal("1"), Decimal("99.00")),)))
    run(live_server, qbd, books)
    last = sent(books, "<TxnDeletedQueryRq")[-1]
    assert f"<FromDeletedDate>{qbxml.qb_datetime(mark - sync.OVERLAP, NY)}</FromDeletedDate>" in last
