"""Flow option push_inventory: after QuickBooks' inventory check, ShipStation's V2 inventory is set to
QuickBooks' QuantityOnHand for differing SKUs, over real HTTP to the ShipStation sandbox (live_server)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Organization
from connector.canonical import LineItem
from connector.models import Alert, Connection, Event, Flow
from connector.registry import get_preset
from connector.web.forms import options_form_for
from integrations.qbdesktop import flow as qbd_flow
from integrations.qbdesktop import inventory_push, tasks
from integrations.qbdesktop.adapter import QBDesktopTarget
from integrations.qbdesktop.models import QBDInventoryLevel
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxProduct

from .conftest import simulator
from .test_flow import feed, make_order
from .test_inventory import rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def store(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    account = SandboxAccount.objects.create(
        name="Store", seed=3, organization=Organization.objects.create(name="Store owner")
    )
    SandboxProduct.objects.create(account=account, sku="WIDGET-1", on_hand=50)
    SandboxProduct.objects.create(account=account, sku="GADGET-2", on_hand=3)
    return account


def shipstation(alice, live_server, account, *, v2: bool = True) -> Connection:
    credentials = {"api_key": account.api_key, "api_secret": account.api_secret}
    if v2:
        credentials["v2_api_key"] = account.v2_api_key
    return Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="Store",
        credentials=credentials,
        settings={"base_url": live_server.url + "/sandbox/shipstation"},
    )


@pytest.fixture
def queued(monkeypatch):
    """Push tasks queued after commit (the test runs them; no broker needed)."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.push_inventory, "delay", ids.append)
    return ids


def make_flow(alice, qbd, source, **options) -> Flow:
    return Flow.objects.create(
        organization=alice.org,
        preset=qbd_flow.PRESET,
        source=source,
        target=qbd[0],
        options={"posting": "invoice", **options},
    )


def ship_widgets(live_server, qbd, books, flow, number="3001", quantity="2"):
    feed(flow, make_order(number, lines=(LineItem("WIDGET-1", "Widget", Decimal(quantity), Decimal("12.50")),)))
    return simulator(live_server, qbd, books).run()


def form_for_the_flow(flow: Flow):
    return options_form_for(get_preset(flow.preset), None, initial=flow.options, flow=flow)


def on_hand(account, sku) -> int:
    return SandboxProduct.objects.get(account=account, sku=sku).on_hand


def test_quantities_are_pushed_after_the_inventory_check(live_server, alice, alice_client, qbd, books, store, queued):
    source = shipstation(alice, live_server, store)
    flow = make_flow(alice, qbd, source, push_inventory=True)
    ship_widgets(live_server, qbd, books, flow)  # QuickBooks: 40 − 2 = 38; ShipStation says 50
    assert queued and set(queued) == {qbd[0].pk}  # queued after the receiveResponseXML commit
    level = QBDInventoryLevel.objects.get(connection=qbd[0], sku="WIDGET-1")
    assert level.push_pending and level.quantity_on_hand == 38

    tasks.push_inventory.apply(args=(qbd[0].pk,))
    assert on_hand(store, "WIDGET-1") == 38
    assert on_hand(store, "GADGET-2") == 3  # never checked in QuickBooks: left alone
    level.refresh_from_db()
    assert not level.push_pending and level.source_on_hand == 38 and level.pushed_at is not None
    event = Event.objects.get(connection=source, kind="updated")
    assert event.message.startswith("ShipStation inventory WIDGET-1: 50 → 38") and event.data["to"] == 38
    page = alice_client.get(reverse("qbdesktop_inventory", args=[qbd[0].pk]))
    assert rows(page)["WIDGET-1"]["source"].startswith("38 pushed")
    detail = alice_client.get(reverse("qbdesktop_detail", args=[qbd[0].pk])).content.decode()
    assert "QuickBooks customers" in detail and "2 changed, 0 deleted" in detail

    # Next batch: equal quantities are not pushed again; only the difference moves.
    ship_widgets(live_server, qbd, books, flow, number="3002", quantity="3")
    report = inventory_push.push(qbd[0].pk)
    assert report.pushed == ["WIDGET-1"] and on_hand(store, "WIDGET-1") == 35
    assert inventory_push.push(qbd[0].pk).pushed == []  # nothing pending any more
    assert Event.objects.filter(connection=source, kind="updated").count() == 2


def test_option_off_pushes_nothing(live_server, alice, qbd, books, store, queued):
    source = shipstation(alice, live_server, store)
    make_flow(alice, qbd, source)
    flow = Flow.objects.get(target=qbd[0])
    ship_widgets(live_server, qbd, books, flow)
    assert QBDInventoryLevel.objects.get(connection=qbd[0], sku="WIDGET-1").quantity_on_hand == 38
    assert queued == []
    assert not QBDInventoryLevel.objects.filter(push_pending=True).exists()
    assert inventory_push.push(qbd[0].pk).pushed == []
    assert on_hand(store, "WIDGET-1") == 50
    assert not Event.objects.filter(connection=source).exists()


def test_a_v2_failure_alerts_and_loses_nothing(live_server, alice, qbd, books, store, queued):
    source = shipstation(alice, live_server, store)
    flow = make_flow(alice, qbd, source, push_inventory=True)
    SandboxAccount.objects.filter(pk=store.pk).update(fault_5xx_rate=1.0)  # ShipStation V2 is down
    ship_widgets(live_server, qbd, books, flow)
    report = inventory_push.push(qbd[0].pk)
    assert report.failed == ["WIDGET-1"] and report.error is not None
    alert = Alert.objects.get(key=inventory_push.alert_key(flow), resolved_at=None)
    assert alert.level == "error" and "Pushing QuickBooks quantities to ShipStation failed" in alert.message
    assert Event.objects.filter(connection=source, kind="failed").exists()
    level = QBDInventoryLevel.objects.get(connection=qbd[0], sku="WIDGET-1")
    assert level.push_pending and level.push_error  # still pending: pushed once ShipStation answers
    assert on_hand(store, "WIDGET-1") == 50

    SandboxAccount.objects.filter(pk=store.pk).update(fault_5xx_rate=0.0)
    assert inventory_push.push(qbd[0].pk).pushed == ["WIDGET-1"]
    assert on_hand(store, "WIDGET-1") == 38
    assert not Alert.objects.filter(key=inventory_push.alert_key(flow), resolved_at=None).exists()
    level.refresh_from_db()
    assert not level.push_pending and level.push_error == ""


def test_a_refused_update_alerts_with_shipstations_message(live_server, alice, qbd, books, store, queued):
    SandboxProduct.objects.filter(account=store, sku="WIDGET-1").delete()  # ShipStation has no such SKU
    source = shipstation(alice, live_server, store)
    flow = make_flow(alice, qbd, source, push_inventory=True)
    ship_widgets(live_server, qbd, books, flow)
    report = inventory_push.push(qbd[0].pk)
    assert report.failed == ["WIDGET-1"]
    alert = Alert.objects.get(key=inventory_push.alert_key(flow), resolved_at=None)
    assert "SKU 'WIDGET-1' was not found" in alert.message  # the V2 error body, not just "HTTP 400"
    assert QBDInventoryLevel.objects.get(connection=qbd[0], sku="WIDGET-1").push_pending


def test_without_a_v2_key_the_option_is_unavailable(live_server, alice, qbd, books, store, queued):
    source = shipstation(alice, live_server, store, v2=False)
    flow = make_flow(alice, qbd, source, push_inventory=True)
    preset = get_preset(qbd_flow.PRESET)

    def form_for(current):
        adapter = QBDesktopTarget(current.target, options=current.options)
        return options_form_for(preset, None, initial=current.options, target_choices=adapter.choices)

    form = form_for(flow)
    assert form.push_unavailable and form.fields["push_inventory"].disabled
    help_text = form.fields["push_inventory"].help_text  # the source's own reason and remedy
    assert "needs a ShipStation V2 API key" in help_text and "API Settings" in help_text
    assert form_for_the_flow(flow).push_unavailable  # the flow page asks the flow's own source
    # Pushing anyway (option set before the key was removed) is a visible failure, and keeps the SKUs.
    ship_widgets(live_server, qbd, books, flow)
    assert inventory_push.push(qbd[0].pk).failed == ["WIDGET-1"]
    alert = Alert.objects.get(key=inventory_push.alert_key(flow), resolved_at=None)
    assert "needs a ShipStation V2 API key" in alert.message and "API Settings" in alert.remediation
    assert QBDInventoryLevel.objects.get(connection=qbd[0], sku="WIDGET-1").push_pending
    assert on_hand(store, "WIDGET-1") == 50

    source.credentials = {**source.credentials, "v2_api_key": store.v2_api_key}
    source.save()
    available = form_for(flow)
    assert not available.push_unavailable and not available.fields["push_inventory"].disabled
    assert not form_for_the_flow(flow).push_unavailable
    assert inventory_push.push(qbd[0].pk).pushed == ["WIDGET-1"]
    assert on_hand(store, "WIDGET-1") == 38


def test_per_sku_outcomes_without_a_sandbox_path_are_kept(live_server, alice, qbd, books, store, queued):
    """Outcomes the one-location sandbox cannot produce (the adapter's own tests cover how they arise):
    no location to use alerts for that SKU only; a SKU other locations already hold is skipped."""
    from connector.adapters import WriteResult
    from connector.http import NeedsReview

    source = shipstation(alice, live_server, store)
    flow = make_flow(alice, qbd, source, push_inventory=True)
    ship_widgets(live_server, qbd, books, flow)
    row = QBDInventoryLevel.objects.get(connection=qbd[0], sku="WIDGET-1")
    report = inventory_push.PushReport()
    review = NeedsReview("ShipStation inventory WIDGET-1: no inventory location", remediation="Set the location.")
    inventory_push._record(flow, row, review, report)
    assert report.failed == ["WIDGET-1"]
    assert Alert.objects.get(key=inventory_push.alert_key(flow), resolved_at=None).remediation == "Set the location."
    assert QBDInventoryLevel.objects.get(pk=row.pk).push_error.startswith("ShipStation inventory WIDGET-1")
    skipped = WriteResult("WIDGET-1", "skipped", data={"reason": "elsewhere", "from": 50, "to": 38, "elsewhere": 45})
    inventory_push._record(flow, row, skipped, report)
    event = Event.objects.get(connection=source, kind="skipped")
    assert (
        event.message
        == "ShipStation inventory WIDGET-1: not pushed, other locations already hold 45 of the 38 QuickBooks has."
    )
    assert report.skipped == ["WIDGET-1"]


def test_qbdesktop_never_imports_the_shipstation_app():
    """DESIGN §5: integrations reach each other only through the registry and adapters."""
    import ast
    from pathlib import Path

    import integrations.qbdesktop

    root = Path(integrations.qbdesktop.__file__).parent
    imported = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            imported += [(path.name, n) for n in names if n.startswith("integrations.shipstation")]
    assert imported == []
