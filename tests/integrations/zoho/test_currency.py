"""Orders in another currency: a contact per currency, the invoice in the order's currency.

Zoho Books gives an invoice its contact's currency (one currency per contact, contacts.yml
`currency_id`); the organisation must have added the currency (Settings → Currencies,
https://www.zoho.com/books/api/v3/currency/). Effects are asserted in the sandbox's own state.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest

from connector.canonical import Order, from_payload
from connector.http import NeedsReview
from connector.models import Link
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.sandbox import currencies
from integrations.zoho.sandbox.models import SandboxZohoDocument

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = Path(__file__).parent / "fixtures"


def order(**changes) -> Order:
    base = from_payload(Order, json.loads((FIXTURES / "order_1001.json").read_text()))
    return dataclasses.replace(base, **changes)


def contacts(org) -> list[SandboxZohoDocument]:
    return list(SandboxZohoDocument.objects.filter(org=org, kind="contact").order_by("id"))


def invoice(org, number: str) -> SandboxZohoDocument:
    return SandboxZohoDocument.objects.get(org=org, kind="invoice", reference_number=number)


@pytest.fixture
def target(zoho_connection):
    zoho_connection.settings = {**(zoho_connection.settings or {}), "currency_code": "USD"}
    zoho_connection.save(update_fields=["settings"])
    calls: list = []
    adapter = ZohoBooksTarget(zoho_connection, on_call=calls.append)
    adapter.calls = calls
    yield adapter
    if adapter._client is not None:
        adapter._client.session.close()


def test_a_foreign_currency_order_gets_a_contact_and_invoice_in_that_currency(target, sandbox_org):
    usd = target.upsert("invoice", order(), target_id=None)
    eur = target.upsert("invoice", order(number="1002", currency="EUR"), target_id=None)
    assert invoice(sandbox_org, "1001").data["currency_code"] == "USD"
    eur_invoice = invoice(sandbox_org, "1002")
    assert eur_invoice.data["currency_code"] == "EUR"
    assert Decimal(eur_invoice.data["total"]) == order().total  # the order's own amounts, to the cent
    base_contact, eur_contact = contacts(sandbox_org)
    assert base_contact.data["currency_code"] == "USD" and eur_contact.data["currency_code"] == "EUR"
    assert eur_contact.name.endswith("(EUR)") and eur_contact.email == base_contact.email
    assert eur_invoice.data["customer_id"] == eur_contact.object_id
    assert usd.target_id != eur.target_id

    # A second EUR order: the EUR contact and the currency id come from Links, no search, no listing.
    target.calls.clear()
    target.upsert("invoice", order(number="1003", currency="EUR"), target_id=None)
    urls = [f"{c.method} {c.url}" for c in target.calls]
    assert not any("currencies" in u or "/contacts" in u for u in urls), urls
    assert invoice(sandbox_org, "1003").data["customer_id"] == eur_contact.object_id
    assert len(contacts(sandbox_org)) == 2


def test_the_contact_in_the_right_currency_is_found_by_email_when_links_are_lost(target, sandbox_org, zoho_connection):
    target.upsert("invoice", order(currency="EUR"), target_id=None)
    target.upsert("invoice", order(number="1002"), target_id=None)
    Link.objects.filter(connection=zoho_connection, object_type="contact").delete()
    target.upsert("invoice", order(number="1004", currency="EUR"), target_id=None)
    target.upsert("invoice", order(number="1005"), target_id=None)
    eur_contact = next(c for c in contacts(sandbox_org) if c.data["currency_code"] == "EUR")
    usd_contact = next(c for c in contacts(sandbox_org) if c.data["currency_code"] == "USD")
    assert invoice(sandbox_org, "1004").data["customer_id"] == eur_contact.object_id
    assert invoice(sandbox_org, "1005").data["customer_id"] == usd_contact.object_id
    assert len(contacts(sandbox_org)) == 2


def test_a_currency_the_organisation_has_not_added_is_held_for_review(target, sandbox_org):
    currencies.remove_currency(sandbox_org, "GBP")
    with pytest.raises(NeedsReview) as held:
        target.upsert("invoice", order(currency="GBP"), target_id=None)
    assert "GBP" in held.value.message and "Settings → Currencies" in held.value.remediation
    assert not SandboxZohoDocument.objects.filter(org=sandbox_org, kind="invoice").exists()
    assert not contacts(sandbox_org), "nothing written in the base currency"


def test_sandbox_refuses_an_unknown_currency_id_on_a_contact(target, sandbox_org):
    from integrations.zoho.client import ZohoBooksClient

    client = ZohoBooksClient(target.connection)
    with pytest.raises(Exception) as refused:
        client.create_contact({"contact_name": "X", "currency_id": "999"})
    assert "currency_id" in str(refused.value)
    listed = {c["currency_code"]: c for c in client.currencies()}
    assert listed["USD"]["is_base_currency"] is True and listed["EUR"]["is_base_currency"] is False
    client.session.close()
