"""The flow picker lists every pairing with a line on what it does, and says why a pair is not offered."""

from __future__ import annotations

from django.urls import reverse

from connector import pairings
from connector.models import Connection
from connector.registry import AuthKind, FlowPreset, Role, SystemInfo


def _system(key: str, role: Role) -> SystemInfo:
    return SystemInfo(key=key, name=key.title(), auth_kind=AuthKind.API_KEY, role=role)


SHOP, WAREHOUSE = _system("shop", Role.STORE), _system("warehouse", Role.SHIPPING)
BOOKS, LEDGER = _system("books", Role.ACCOUNTING), _system("ledger", Role.ACCOUNTING)
SHOP_TO_BOOKS = FlowPreset(
    key="shop_books",
    name="Shop → Books",
    source_system="shop",
    target_system="books",
    capabilities=(("order", "invoice"),),
    description="Orders become invoices. Customers become contacts.",
)


def test_every_flow_type_is_listed_ready_first_with_its_first_sentence():
    ledger_to_warehouse = FlowPreset(
        key="ledger_warehouse", name="A ledger flow", source_system="ledger", target_system="warehouse",
        capabilities=(("order", "order"),), description="Sales orders go out",
    )  # fmt: skip
    found = pairings.offered([SHOP, WAREHOUSE, BOOKS, LEDGER], [ledger_to_warehouse, SHOP_TO_BOOKS], {"shop", "books"})
    assert [(p.preset.key, p.ready, p.missing) for p in found] == [
        ("shop_books", True, ()),
        ("ledger_warehouse", False, ("Ledger", "Warehouse")),
    ]
    assert found[0].summary == "Orders become invoices."
    assert found[1].summary == "Sales orders go out"


def test_pairs_without_a_flow_type_say_why():
    reasons = {
        (n.first.key, n.second.key): n.reason
        for n in pairings.not_offered([SHOP, WAREHOUSE, BOOKS, LEDGER], [SHOP_TO_BOOKS])
    }
    assert ("books", "shop") not in reasons  # offered
    assert reasons[("books", "ledger")] == pairings.BOTH_LEDGERS
    assert reasons[("shop", "warehouse")] == pairings.BOTH_SOURCES
    assert reasons[("books", "warehouse")] == pairings.NOT_BUILT


def test_a_flow_type_of_a_system_not_installed_is_left_out():
    assert pairings.offered([SHOP], [SHOP_TO_BOOKS], set()) == []


def test_the_wizard_shows_the_pairings_of_the_installed_systems(alice_client, alice):
    Connection.objects.create(organization=alice.org, system="zoho", label="Books")
    Connection.objects.create(organization=alice.org, system="exact", label="Exact")
    html = alice_client.get(reverse("flow_create")).content.decode()
    assert "Which systems pair" in html
    assert "WooCommerce → Zoho Books" in html and "Connect WooCommerce first" in html
    assert "Exact Online and Zoho Books" in html and pairings.BOTH_LEDGERS in html
