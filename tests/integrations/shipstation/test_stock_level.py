"""ShipStationTarget as a "stock_level" target: canonical StockLevels set ShipStation's V2 inventory
(`GET /v2/inventory?sku=...` then `POST /v2/inventory` adjust), against the sandbox over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector import engine
from connector.adapters import NotSupported
from connector.canonical import CANONICAL_TYPES, StockLevel, from_payload, natural_key, to_payload
from connector.http import AuthExpired, NeedsReview, Permanent
from connector.models import Alert, Connection
from connector.registry import get_system, target_unavailable
from integrations.shipstation.adapter import ShipStationTarget
from integrations.shipstation.sandbox import v2_views
from integrations.shipstation.sandbox.models import SandboxProduct


@pytest.fixture
def connection(account, sandbox_root, alice):
    return Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="Store",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret, "v2_api_key": account.v2_api_key},
        settings={"base_url": sandbox_root},
    )


@pytest.fixture
def products(account):
    for sku, on_hand in (("WIDGET-1", 50), ("GADGET-2", 3), ("BOLT-3", 7), ("NUT-4", 9)):
        SandboxProduct.objects.create(account=account, sku=sku, on_hand=on_hand)


def on_hand(account, sku: str) -> int:
    return SandboxProduct.objects.get(account=account, sku=sku).on_hand


def recording(connection, **kwargs) -> tuple[ShipStationTarget, list]:
    calls: list = []
    target = engine.target_adapter(connection, on_call=calls.append, **kwargs)
    return target, calls


def requests_made(calls) -> list[tuple[str, str]]:
    return [(c.method, c.url.split("/sandbox/shipstation/")[1].split("?")[0]) for c in calls]


def test_registered_as_a_stock_level_target_with_the_sku_as_natural_key(connection):
    assert get_system("shipstation").target_adapter is ShipStationTarget
    assert "stock_level" in ShipStationTarget.target_types
    assert target_unavailable(connection, "stock_level") is None
    level = StockLevel("WIDGET-1", Decimal("38"), "se-1")
    assert natural_key(level) == "WIDGET-1"
    assert from_payload(CANONICAL_TYPES["stock_level"], to_payload(level)) == level


def test_upsert_reads_the_level_and_adjusts_it(connection, account, products):
    target, calls = recording(connection)
    assert target.find("stock_level", StockLevel("WIDGET-1", Decimal("38"))) == "WIDGET-1"
    assert target.find("stock_level", StockLevel("NOPE-9", Decimal("1"))) is None
    calls.clear()

    result = target.upsert("stock_level", StockLevel("WIDGET-1", Decimal("38")), target_id="WIDGET-1")
    location = v2_views.location_id(account)
    assert (result.target_id, result.action) == ("WIDGET-1", "updated")
    assert result.data == {"from": 50, "to": 38, "location": location, "quantity": 38}
    assert on_hand(account, "WIDGET-1") == 38
    assert requests_made(calls) == [("GET", "v2/inventory"), ("POST", "v2/inventory")]

    calls.clear()
    again = target.upsert("stock_level", StockLevel("WIDGET-1", Decimal("38.000")), target_id="WIDGET-1")
    assert again.action == "unchanged" and requests_made(calls) == [("GET", "v2/inventory")]  # no write


def test_a_batch_reads_fifty_skus_a_call_skips_fractions_and_sets_negatives_to_zero(connection, account, products):
    for n in range(50):
        SandboxProduct.objects.create(account=account, sku=f"EXTRA-{n:02}", on_hand=1)
    target, calls = recording(connection)
    levels = [
        StockLevel("WIDGET-1", Decimal("38")),
        StockLevel("GADGET-2", Decimal("2.5")),  # ShipStation holds whole units
        StockLevel("BOLT-3", Decimal("-4")),  # QuickBooks may go negative; ShipStation cannot
        StockLevel("NUT-4", Decimal("9")),
    ] + [StockLevel(f"EXTRA-{n:02}", Decimal("1")) for n in range(50)]
    outcomes = {level.sku: result for level, result in target.write_stock_levels(levels, reason="Test")}

    assert outcomes["WIDGET-1"].action == "updated" and on_hand(account, "WIDGET-1") == 38
    assert outcomes["GADGET-2"].action == "skipped" and outcomes["GADGET-2"].data["reason"] == "fraction"
    assert on_hand(account, "GADGET-2") == 3
    assert outcomes["BOLT-3"].data == {"from": 7, "to": 0, "location": v2_views.location_id(account), "quantity": 0}
    assert on_hand(account, "BOLT-3") == 0
    assert outcomes["NUT-4"].action == "unchanged" and outcomes["EXTRA-07"].action == "unchanged"
    # 54 SKUs: two reads (50 + 4), then one adjust per SKU that differs.
    assert requests_made(calls) == [("GET", "v2/inventory")] * 2 + [("POST", "v2/inventory")] * 2


def test_location_from_the_level_or_the_option_else_the_accounts_first(connection, account, products):
    target, calls = recording(connection)
    with pytest.raises(Permanent, match="Inventory location 'se-elsewhere' was not found"):
        # (60: the 50 at the account's location count as "elsewhere", 10 go to the named one)
        target.upsert("stock_level", StockLevel("WIDGET-1", Decimal("60"), "se-elsewhere"), target_id=None)
    optioned, _ = recording(connection, options={"inventory_location_id": v2_views.location_id(account)})
    assert optioned.upsert("stock_level", StockLevel("WIDGET-1", Decimal("37")), target_id=None).action == "updated"
    assert on_hand(account, "WIDGET-1") == 37

    # A SKU ShipStation lists nowhere goes to the account's first location (read once per batch); the
    # sandbox then refuses the unknown SKU with V2's own message.
    calls.clear()
    with pytest.raises(Permanent, match="SKU 'NEW-5' was not found"):
        list(target.write_stock_levels([StockLevel("NEW-5", Decimal("4")), StockLevel("NEW-6", Decimal("4"))]))
    assert requests_made(calls) == [
        ("GET", "v2/inventory"),
        ("GET", "v2/inventory_locations"),
        ("POST", "v2/inventory"),
    ]


def test_several_locations_need_a_named_one_and_other_locations_count(connection, account, products):
    """The sandbox has one location per account; a second one is added to what the read returned."""
    target, _ = recording(connection)
    here = v2_views.location_id(account)
    found = [
        {"sku": "WIDGET-1", "on_hand": 50, "inventory_location_id": here},
        {"sku": "WIDGET-1", "on_hand": 30, "inventory_location_id": "se-other"},
    ]

    def write(level):
        return target._write_stock_level(level, found, [], reason="Test", notes="")

    review = write(StockLevel("WIDGET-1", Decimal("70")))
    assert isinstance(review, NeedsReview) and "is in 2 locations" in review.message
    assert "inventory location" in review.remediation
    skipped = write(StockLevel("WIDGET-1", Decimal("20"), here))  # se-other alone holds 30
    assert (skipped.action, skipped.data["reason"], skipped.data["elsewhere"]) == ("skipped", "elsewhere", 30)
    assert on_hand(account, "WIDGET-1") == 50
    result = write(StockLevel("WIDGET-1", Decimal("70"), here))
    assert result.data == {"from": 80, "to": 70, "location": here, "quantity": 40}
    assert on_hand(account, "WIDGET-1") == 40  # 40 here + 30 elsewhere = QuickBooks' 70


def test_without_a_v2_key_stock_levels_are_unavailable_and_nothing_is_called(connection, account, products):
    connection.credentials = {"api_key": account.api_key, "api_secret": account.api_secret}
    connection.save()
    error = target_unavailable(connection, "stock_level")
    assert isinstance(error, Permanent) and "needs a ShipStation V2 API key" in error.message
    assert "API Settings" in error.remediation
    assert target_unavailable(connection, "fulfilment_order") is None  # V1 orders are unaffected
    target, calls = recording(connection)
    with pytest.raises(Permanent, match="needs a ShipStation V2 API key"):
        target.upsert("stock_level", StockLevel("WIDGET-1", Decimal("38")), target_id=None)
    with pytest.raises(Permanent, match="needs a ShipStation V2 API key"):
        target.find("stock_level", StockLevel("WIDGET-1", Decimal("38")))
    assert calls == [] and on_hand(account, "WIDGET-1") == 50


def test_a_rejected_v2_key_marks_the_connection(connection, account, products):
    connection.credentials = {**connection.credentials, "v2_api_key": "wrong"}
    connection.save()
    target, _ = recording(connection)
    with pytest.raises(AuthExpired):
        target.upsert("stock_level", StockLevel("WIDGET-1", Decimal("38")), target_id=None)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert Alert.objects.filter(key=f"reauth:{connection.pk}", resolved_at=None).exists()


def test_stock_levels_cannot_be_cancelled_and_other_objects_are_refused(connection):
    target, calls = recording(connection)
    with pytest.raises(NotSupported):
        target.cancel("stock_level", StockLevel("WIDGET-1", Decimal("1")), target_id="WIDGET-1")
    with pytest.raises(Permanent, match="take a StockLevel"):
        target.upsert("stock_level", {"sku": "WIDGET-1"}, target_id=None)
    assert calls == []
