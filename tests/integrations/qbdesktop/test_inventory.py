"""Inventory reconciliation page (per connection, tenant-scoped) and the paged item sync behind it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from lxml import etree

from connector.canonical import LineItem
from integrations.qbdesktop import inventory
from integrations.qbdesktop.models import QBDInventoryLevel, QBXMLJob

from .conftest import make_qbd_connection
from .test_flow import feed, make_order, run


def rows(response) -> dict[str, dict[str, str]]:
    html = etree.HTML(response.content)
    out = {}
    for tr in html.findall(".//table[@id='inventory']/tbody/tr"):
        cells = {td.get("class"): "".join(td.itertext()).strip() for td in tr.findall("td") if td.get("class")}
        out[tr.get("data-sku")] = cells
    return out


@pytest.mark.django_db
def test_page_requires_login_and_stays_in_its_tenant(client, alice, bob):
    connection, _user, _password = make_qbd_connection(alice.org)
    QBDInventoryLevel.objects.create(
        organization=alice.org, connection=connection, sku="SECRET-SKU", quantity_on_hand=Decimal("7")
    )
    url = reverse("qbdesktop_inventory", args=[connection.pk])
    response = client.get(url)
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(bob)
    assert client.get(url).status_code == 404
    bob_connection, _u, _p = make_qbd_connection(bob.org, label="Bob's file")
    own = client.get(reverse("qbdesktop_inventory", args=[bob_connection.pk]))
    assert own.status_code == 200 and b"SECRET-SKU" not in own.content and b"No SKUs checked yet" in own.content
    client.force_login(alice)
    mine = client.get(url)
    assert mine.status_code == 200 and rows(mine)["SECRET-SKU"]["qoh"] == "7"


@pytest.mark.django_db(transaction=True)
def test_page_shows_the_last_reconciliation_per_sku(live_server, alice_client, qbd, books, qbd_flow_):
    connection = qbd[0]
    feed(qbd_flow_, make_order("1601"))  # WIDGET-1 × 2 of 40
    run(live_server, qbd, books)
    books.item_by_name("WIDGET-1").quantity_on_hand = Decimal("30")  # a stock adjustment in QuickBooks
    lines = (
        LineItem("WIDGET-1", "Widget", Decimal("1"), Decimal("12.50")),
        LineItem("GADGET-2", "Gadget", Decimal("5"), Decimal("99.00")),  # QuickBooks holds 3
    )
    feed(qbd_flow_, make_order("1602", lines=lines))
    run(live_server, qbd, books)

    detail = alice_client.get(reverse("qbdesktop_detail", args=[connection.pk]))
    url = reverse("qbdesktop_inventory", args=[connection.pk])
    assert f'href="{url}"'.encode() in detail.content
    table = rows(alice_client.get(url))
    # 38 after the first check; QuickBooks then says 29 where 38 − 1 = 37 was expected.
    assert table["WIDGET-1"] == {
        "qoh": "29",
        "took": "1",
        "expected": "37",
        "difference": "-8",
        "since": "0",
    }
    # GADGET-2 was first seen at 3 (before the invoice took 5): -2 is expected, no difference.
    assert table["GADGET-2"]["qoh"] == "-2" and table["GADGET-2"]["took"] == "5"
    assert table["GADGET-2"]["difference"] == "0"
    only = rows(alice_client.get(url, {"differences": "1"}))
    assert list(only) == ["WIDGET-1"]


@pytest.mark.django_db(transaction=True)
def test_item_sync_pages_through_the_catalogue_and_reconciles_tracked_skus(live_server, alice, qbd, company):
    connection = qbd[0]
    for n in range(250):
        company.add_item(f"BULK-{n:03d}", price="1.00", quantity_on_hand=str(n))
    QBDInventoryLevel.objects.create(
        organization=alice.org, connection=connection, sku="BULK-123", quantity_on_hand=Decimal("125")
    )
    first = inventory.queue_item_sync(connection, page_size=100)
    assert inventory.queue_item_sync(connection, page_size=100) == first  # one sync at a time
    log = run(live_server, qbd, company)
    pages = QBXMLJob.objects.filter(connection=connection, handler=inventory.H_ITEM_SYNC).order_by("id")
    assert [p.status for p in pages] == ["done"] * 3
    assert [p.result["count"] for p in pages] == [100, 100, 52]  # 250 + WIDGET-1 and GADGET-2
    assert log.percentages[-1] == 100
    assert sum("MaxReturned>100<" in rq for rq in company.requests_seen) == 3
    level = QBDInventoryLevel.objects.get(connection=connection, sku="BULK-123")
    assert level.quantity_on_hand == 123 and level.difference == -2 and level.checked_at is not None
