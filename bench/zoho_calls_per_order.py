"""Zoho calls per order in the steady state (customer and items already known). Budget: ≤ 1.2.

Standalone (the shared harness's environment: REDIS_URL or the product's embedded Redis): creates a
throw-away test database, the organisation's sandbox Zoho organisation connected by the sandbox's
own provisioning (no web server; the measured client's session answers through django.test.Client,
mounted on that one session), warms up with one order (learns the contact and the items), then
syncs ORDERS new orders and ORDERS edits of them through ZohoBooksTarget, counting the calls both
on the client side (on_call) and as the sandbox received them.

    python bench/zoho_calls_per_order.py        # prints the figures; exit 1 when over budget
"""

from __future__ import annotations

import dataclasses
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import prepare

BUDGET = 1.2
ORDERS = int(os.environ.get("BENCH_ORDERS", "50"))


def order(number: str, customer, total: Decimal = Decimal("36.47")):
    from connector.canonical import LineItem, Order, OrderStatus

    return Order(
        number=number,
        source_id=number,
        status=OrderStatus.OPEN,
        currency="USD",
        order_date=datetime(2026, 3, 1, tzinfo=UTC),
        customer=customer,
        lines=(
            LineItem(sku="MUG-1", name="Enamel mug", quantity=Decimal("2"), unit_price=Decimal("12.50")),
            LineItem(sku="STK-1", name="Sticker pack", quantity=Decimal("1"), unit_price=Decimal("3.99")),
        ),
        shipping=Decimal("5.95"),
        tax=Decimal("3.53"),
        discount=Decimal("2.00"),
        total=total,
    )


def run() -> int:
    from _inprocess import InProcessTransport
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from accounts.models import Membership, Organization
    from connector.canonical import Customer
    from connector.models import Connection
    from connector.registry import sandbox_of
    from integrations.zoho.adapter import ZohoBooksTarget
    from integrations.zoho.sandbox import faults
    from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoOrg

    user = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="x" * 20)
    org = Organization.objects.create(name="Bench Ltd")
    Membership.objects.create(user=user, organization=org, role="owner")
    facts = sandbox_of("zoho").provision(org, user)
    sandbox = SandboxZohoOrg.objects.get(organization_id=facts["organization_id"])
    sandbox.rate_limit_per_minute = sandbox.daily_limit = 10**6  # calls are measured here, not time
    sandbox.save()
    connection = Connection.objects.get(organization=org, system="zoho")
    connection.settings["rate_limit_per_minute"] = 10**6
    connection.save()

    calls = []
    customer = Customer(key="ada@example.com", email="ada@example.com", name="Ada Lovelace")
    target = ZohoBooksTarget(connection, on_call=calls.append)
    target.client.session.mount(settings.PUBLIC_BASE_URL + "/", InProcessTransport(settings.PUBLIC_BASE_URL))
    target.upsert("invoice", order("WARM-UP", customer), target_id=None)
    client_before, sandbox_before = len(calls), faults.total_calls(sandbox)
    ids = {}
    for n in range(ORDERS):
        new = order(f"B-{n}", customer)
        ids[new.number] = target.find("invoice", new)
        ids[new.number] = target.upsert("invoice", new, target_id=ids[new.number]).target_id
    for n in range(ORDERS):  # edits: the engine passes the stored target id
        edited = dataclasses.replace(order(f"B-{n}", customer), shipping=Decimal("6.95"), total=Decimal("37.47"))
        target.upsert("invoice", edited, target_id=ids[edited.number])
    client_calls = len(calls) - client_before
    sandbox_calls = faults.total_calls(sandbox) - sandbox_before
    invoices = SandboxZohoDocument.objects.filter(org=sandbox, kind="invoice").count()
    per_order = client_calls / (2 * ORDERS)
    print(f"orders: {ORDERS} new + {ORDERS} edits; invoices in Zoho: {invoices}")
    print(f"Zoho calls: client {client_calls}, sandbox received {sandbox_calls}")
    print(f"calls per order: {per_order:.2f} (budget {BUDGET})")
    ok = per_order <= BUDGET and sandbox_calls == client_calls and invoices == ORDERS + 1
    print("OK" if ok else "OVER BUDGET or inconsistent")
    return 0 if ok else 1


def main() -> int:
    prepare("zoho-calls")
    import django

    django.setup()
    from django.db import connection as db
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = db.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        return run()
    finally:
        db.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
