"""A merchant finds a ShipStation order in the audit log by its buyer's email or name, as they
find WooCommerce, Exact and Zoho records (the record's `search_text`)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connector import engine
from connector.models import Connection, Flow, Record
from connector.web.audit import whole_key
from integrations.shipstation.adapter import ShipStationSource, order_search_text
from integrations.shipstation.mapping import order_from_shipstation

from .conftest import order_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(alice):
    store = Connection.objects.create(organization=alice.org, system="shipstation", label="SS")
    books = Connection.objects.create(organization=alice.org, system="zoho", label="Books")
    return Flow.objects.create(organization=alice.org, preset="shipstation_zoho", source=store, target=books)


def record_order(flow, number: str, email: str) -> None:
    data = order_body(number, email=email, orderId=int(number[1:]), modifyDate="2024-03-01T10:00:00.0000000")
    change = ShipStationSource(flow.source)._order_change(data)
    assert engine.record_change(flow, change) is not None


def found(client, q: str) -> bool:
    return "S1001" in client.get(reverse("audit_log"), {"q": q}).content.decode()


def test_the_audit_log_finds_a_shipstation_order_by_its_buyers_email_or_name(alice_client, flow):
    record_order(flow, "S1001", "Jane.Buyer@Example.com")
    record_order(flow, "S1002", "other@example.com")
    assert found(alice_client, "jane.buyer@example.com")
    assert found(alice_client, "Jane.Buyer@Example.com")  # as the merchant copies it from an email
    assert found(alice_client, "Buyer One")  # the name on the order (billTo)
    assert not found(alice_client, "other@example.com")  # the page lists the other order only


def test_the_email_leads_so_a_whole_address_takes_the_indexed_path(flow):
    record_order(flow, "S1001", "Jane.Buyer@Example.com")
    record = Record.objects.get(flow=flow, source_id="1001")
    assert record.search_text == "jane.buyer@example.com buyer one"
    assert Record.objects.filter(whole_key("Jane.Buyer@Example.com")).get() == record


def test_search_text_is_lower_cased_and_fits_the_column():
    body = order_body("S1", email="A@B.COM", orderId=1, billTo={"name": "Very Long " * 80})
    text = order_search_text(order_from_shipstation(body, currency="USD"))
    assert text.startswith("a@b.com very long") and len(text) == 500
