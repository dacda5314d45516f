"""A slow QuickBooks: answers that take time still complete; answers over the Web Connector's limit end
the run mid-request, and the next run re-sends the query with smaller pages until it fits."""

from __future__ import annotations

import pytest

from integrations.qbdesktop import inventory, qbxml
from integrations.qbdesktop.jobs import _shrink_page
from integrations.qbdesktop.models import QBWCSession, QBXMLJob

from .conftest import simulator

pytestmark = pytest.mark.django_db(transaction=True)


def sync_pages(connection):
    return list(QBXMLJob.objects.filter(connection=connection, handler=inventory.H_ITEM_SYNC).order_by("id"))


def test_slow_answers_within_the_limit_complete(live_server, qbd, company):
    company.latency, company.time_limit = 0.2, 1.0
    inventory.queue_item_sync(qbd[0], page_size=100)
    log = simulator(live_server, qbd, company).run()
    assert not log.timed_out and log.percentages == [100]
    assert [(p.status, p.result["count"]) for p in sync_pages(qbd[0])] == [
        ("done", 2)
    ]  # WIDGET-1, GADGET-2 (Shipping is a service item)


def test_answer_over_the_limit_is_resent_with_smaller_pages(live_server, qbd, company):
    connection = qbd[0]
    for n in range(150):
        company.add_item(f"BULK-{n:03d}", quantity_on_hand="1")
    company.latency_per_row, company.time_limit = 0.002, 0.15  # 100 rows: 0.2 s, too slow; 50 rows: 0.1 s
    inventory.queue_item_sync(connection, page_size=100)

    first = simulator(live_server, qbd, company).run()
    assert first.timed_out and "closeConnection" not in first.methods
    (page,) = sync_pages(connection)
    assert page.status == "sent"  # the server has not heard back: nothing is lost or invented

    second = simulator(live_server, qbd, company).run()
    assert not second.timed_out and second.percentages[-1] == 100
    pages = sync_pages(connection)
    assert all(p.status == "done" for p in pages)
    assert sum(p.result["count"] for p in pages) == 152  # every inventory item exactly once
    assert pages[0].attempts == 2 and "<MaxReturned>50</MaxReturned>" in pages[0].request_xml
    assert all("<MaxReturned>50</MaxReturned>" in rq for rq in company.requests_seen[1:])
    assert QBWCSession.objects.filter(connection=connection, closed_at=None).count() == 0


def test_page_size_shrinks_to_a_floor():
    request = qbxml.item_inventory_query(max_returned=15)
    assert qbxml.max_returned(qbxml.with_max_returned(request, 7)) == 7
    job = QBXMLJob(kind=request.kind, request_xml=request.xml)
    _shrink_page(job)
    assert qbxml.max_returned(qbxml.Request(job.kind, job.request_xml)) == qbxml.MIN_PAGE_SIZE
    _shrink_page(job)
    assert qbxml.max_returned(qbxml.Request(job.kind, job.request_xml)) == qbxml.MIN_PAGE_SIZE
    by_id = qbxml.item_inventory_query(full_names=["A"])
    with pytest.raises(ValueError):
        qbxml.with_max_returned(by_id, 5)
