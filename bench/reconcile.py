"""A month of 10,000 WooCommerce orders reconciled against 10,000 Zoho Books invoices, over HTTP.

Budgets: the run reads list pages only, at most 1 vendor call per 100 documents on each side
(WooCommerce pages hold 100 orders, Zoho Books pages 200 documents), counted both by the run itself
(every ApiClient call, connector.http.observe_calls) and, for Zoho, by the sandbox's own counter;
and the stored run's page renders in under 1 s (Django's test Client, logged in), whichever view of
its lines is asked for.

Standalone, on the shared harness's environment: a throw-away database (SQLite in a temp dir, or a
test database beside DATABASE_URL's), the WooCommerce and Zoho sandboxes served by `runserver` on a
free port. The store's orders and the Books invoices are seeded straight into the sandboxes' tables
(a few invoices left out or changed by hand, so the page has problems to show first); the run then
goes through the real clients over HTTP, Zoho's at Zoho's rate limit (100 calls a minute per
organisation, the sandbox enforcing the same).

    python bench/reconcile.py        # prints the figures; exit 1 when over budget
    BENCH_ORDERS=2000 python bench/reconcile.py
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import prepare, start_server, stop

ORDERS = int(os.environ.get("BENCH_ORDERS", "10000"))
MONTH = (date(2026, 10, 1), date(2026, 10, 31))
MISSING, DIFFERS = 12, 7  # invoices deleted / edited by hand in the books
CALLS_PER_DOCUMENTS = 100  # at most one call per this many documents, on each side
PAGE_BUDGET = 1.0  # seconds


def seed_store(org, base_url: str):
    """A WooCommerce sandbox store holding ORDERS orders spread over the month (copies of one real
    order, renumbered and redated)."""
    from integrations.woocommerce.sandbox.models import SandboxOrder
    from integrations.woocommerce.sandbox.store import create_order, wc_time
    from integrations.woocommerce.sandbox.views import create_store

    store = create_store("bench-recon", name="Bench shop", currency="USD", tax_rate="0.1", organization=org)
    billing = {"first_name": "Ann", "last_name": "Buyer", "email": "ann@example.com", "country": "GB"}
    template = create_order(
        store, {"status": "processing", "billing": billing, "line_items": [{"sku": "WOO-MUG", "quantity": 2}]}
    )
    SandboxOrder.objects.filter(pk=template.pk).delete()
    first = template.pk + 1
    start = datetime.combine(MONTH[0], datetime.min.time(), tzinfo=UTC)
    step = (timedelta(days=(MONTH[1] - MONTH[0]).days + 1) - timedelta(seconds=1)) / ORDERS
    rows = []
    for n in range(ORDERS):
        pk, created = first + n, start + step * n
        stamp = wc_time(created.replace(microsecond=0))
        data = {**template.data, "id": pk, "number": str(pk), "date_created": stamp, "date_created_gmt": stamp}
        data.update(date_modified=stamp, date_modified_gmt=stamp, date_paid=stamp, date_paid_gmt=stamp)
        rows.append(
            SandboxOrder(
                pk=pk, store=store, status="processing", data=data, date_created_gmt=created, date_modified_gmt=created
            )
        )
    SandboxOrder.objects.bulk_create(rows, batch_size=1000)
    store.url = f"{base_url}/sandbox/woocommerce/{store.slug}"
    return store, rows


def seed_books(sandbox_org, orders) -> None:
    """One invoice per order, dated on its day, with the order's total; a few deleted or changed."""
    from integrations.zoho.sandbox import state
    from integrations.zoho.sandbox.models import SandboxZohoDocument

    docs = []
    for n, order in enumerate(orders[MISSING:]):
        object_id, number = state.new_id(), f"INV-{n + 1:06d}"
        total = order.data["total"] if n >= DIFFERS else str(float(order.data["total"]) + 1)
        data = {
            "invoice_id": object_id,
            "invoice_number": number,
            "reference_number": order.data["number"],
            "date": order.data["date_created_gmt"][:10],
            "total": total,
            "currency_code": "USD",
            "status": "sent",
            "customer_name": "Ann Buyer",
        }
        docs.append(
            SandboxZohoDocument(
                org=sandbox_org,
                kind="invoice",
                object_id=object_id,
                number=number,
                reference_number=order.data["number"],
                data=data,
            )  # fmt: skip
        )
    SandboxZohoDocument.objects.bulk_create(docs, batch_size=1000)


def run(base_url: str) -> int:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.models import Membership, Organization
    from connector import reconcile_runs
    from connector.http import observe_calls
    from connector.models import Connection, Flow, ReconciliationRun
    from connector.reconcile import Period
    from connector.registry import get_preset, sandbox_of
    from integrations.zoho.sandbox import faults
    from integrations.zoho.sandbox.models import SandboxZohoOrg

    user = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="x" * 20)
    org = Organization.objects.create(name="Bench Ltd")
    Membership.objects.create(user=user, organization=org, role="owner")
    facts = sandbox_of("zoho").provision(org, user)
    sandbox = SandboxZohoOrg.objects.get(organization_id=facts["organization_id"])
    zoho = Connection.objects.get(organization=org, system="zoho")
    assert sandbox.rate_limit_per_minute == 100 and not zoho.settings.get("rate_limit_per_minute")  # Zoho's own

    seeded = time.perf_counter()
    store, orders = seed_store(org, base_url)
    seed_books(sandbox, orders)
    seeded = time.perf_counter() - seeded
    key = store.keys.first()
    woo = Connection.objects.create(
        organization=org,
        system="woocommerce",
        label="Bench shop",
        credentials={"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        settings={"store_url": store.url},
    )
    preset = get_preset("woocommerce_zoho")
    flow = Flow.objects.create(
        organization=org,
        preset=preset.key,
        name=preset.name,
        source=woo,
        target=zoho,
        options=dict(preset.default_options),
    )

    period = Period(*MONTH)
    assert not reconcile_runs.small_enough(flow, period) or ORDERS <= reconcile_runs.INLINE_ORDERS
    recon, _ = reconcile_runs.start_run(flow, period, ReconciliationRun.Trigger.MANUAL, queue=False)
    seen = []
    zoho_before = faults.total_calls(sandbox)
    took = time.perf_counter()
    with observe_calls(seen.append):
        outcome = reconcile_runs.execute(recon.pk)  # what the worker's task does
    took = time.perf_counter() - took
    recon.refresh_from_db()
    zoho_sandbox = faults.total_calls(sandbox) - zoho_before
    zoho_client = sum(1 for c in seen if "/sandbox/zoho/" in c.url)
    woo_client = sum(1 for c in seen if "/sandbox/woocommerce/" in c.url)
    invoices = ORDERS - MISSING

    client = Client()
    client.force_login(user)
    url = f"/flows/{flow.pk}/reconciliation/"
    views = {"problems first": {"run": recon.pk}, "all lines": {"run": recon.pk, "show": "all"},
             "matched": {"run": recon.pk, "show": "matched"}, "last page": {"run": recon.pk, "show": "all", "after": ORDERS - 50}}  # fmt: skip
    renders: dict[str, list[float]] = {}
    for name, params in views.items():
        for _ in range(3):
            started = time.perf_counter()
            answer = client.get(url, params)
            renders.setdefault(name, []).append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.status_code
    html = client.get(url, {"run": recon.pk}).content.decode()
    started = time.perf_counter()
    export = client.get(url, {"run": recon.pk, "format": "csv"})
    export_s = time.perf_counter() - started

    print(f"orders in the store: {ORDERS} (October 2026); invoices in Zoho Books: {invoices} "
          f"({MISSING} deleted, {DIFFERS} edited by hand); seeded in {seeded:.1f} s")  # fmt: skip
    print(f"run: {outcome.status} in {took:.1f} s; lines {recon.line_count}; counts {recon.counts}")
    print(f"vendor calls: run counted {recon.vendor_calls}; client saw WooCommerce {woo_client} + Zoho {zoho_client}; "
          f"Zoho sandbox received {zoho_sandbox}")  # fmt: skip
    woo_budget = math.ceil(ORDERS / CALLS_PER_DOCUMENTS)
    zoho_budget = math.ceil(invoices / CALLS_PER_DOCUMENTS)
    print(f"calls per 100 documents: WooCommerce {100 * woo_client / ORDERS:.2f} ({woo_client} calls, budget {woo_budget}), "
          f"Zoho {100 * zoho_client / invoices:.2f} ({zoho_client} calls, budget {zoho_budget}); "
          f"over the whole run {zoho_client / took * 60:.0f} Zoho calls a minute (limit 100)")  # fmt: skip
    for name, times in renders.items():
        print(f"page, {name}: {' / '.join(f'{t * 1000:.0f}' for t in times)} ms (budget {PAGE_BUDGET * 1000:.0f} ms)")
    print(f"CSV export of {recon.line_count} lines: {export_s * 1000:.0f} ms, {len(export.content) // 1024} KiB")
    print("measured under load (a shared machine)")
    ok = (
        outcome.status == "done"
        and recon.line_count == ORDERS
        and recon.counts.get("missing") == MISSING
        and recon.counts.get("amount_differs") == DIFFERS
        and recon.vendor_calls == woo_client + zoho_client
        and zoho_sandbox == zoho_client
        and woo_client <= woo_budget
        and zoho_client <= zoho_budget
        and max(max(t) for t in renders.values()) < PAGE_BUDGET
        and f"{MISSING + DIFFERS} of {ORDERS} lines need your attention" in html
        and statistics.median(renders["problems first"]) < PAGE_BUDGET
    )
    print("OK" if ok else "OVER BUDGET or inconsistent")
    return 0 if ok else 1


def main() -> int:
    bench = prepare("reconcile")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection as db
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = None
    if db.vendor == "postgresql":  # a throw-away database beside DATABASE_URL's, for the server too
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"bench_reconcile_{os.getpid()}"
        old_name = db.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        url = bench.env["DATABASE_URL"]
        bench.env["DATABASE_URL"] = url[: url.rfind("/") + 1] + settings.DATABASES["default"]["NAME"]
    try:
        start_server(bench)
        return run(bench.base_url)
    finally:
        stop(bench)
        if old_name is not None:
            db.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
