"""Benchmark: a backlog of orders drains from ShipStation into Zoho Books at the Zoho limit.

Starts its own server on 127.0.0.1 (the sandboxes; SQLite in a temp dir unless DATABASE_URL is set)
and uses REDIS_URL when given, else an embedded Redis. The Zoho sandbox organisation runs a scaled
limit (default 1,200 calls a minute) and the connection's client is told the same. The orders share
one customer and one SKU (steady state: one Zoho call per order once the contact and item are known).
Four engine workers (threads, the same code Celery runs) drain the records the poll found.

Budget: elapsed <= 1.10 x the bound the Zoho limit sets (Zoho calls / limit), Zoho 429s <= 1% of
calls, 0 duplicate invoices. Exits 1 otherwise.
    .venv/bin/python bench/backlog_drain.py [--orders 2000] [--per-minute 1200] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import prepare, start_server, stop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--per-minute", type=int, default=1200)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    tmp, redis_server = prepare("backlog")
    server = start_server(dict(os.environ), tmp)
    try:
        return run(args, tmp)
    finally:
        stop(server, redis_server)


def run(args, tmp: Path) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.models import Membership, Organization
    from connector import engine
    from connector.models import Connection, Event, Flow
    from connector.redis import get_redis
    from integrations.shipstation.sandbox.models import SandboxAccount
    from integrations.zoho.sandbox import state as zoho_state
    from integrations.zoho.sandbox.models import SandboxZohoDocument
    from tests.integrations.zoho.consent import connect_through_consent

    get_redis().flushdb()
    base = settings.PUBLIC_BASE_URL
    user = get_user_model().objects.create_user("bench", "bench@example.com", "x")
    org = Organization.objects.create(name="Bench")
    Membership.objects.create(user=user, organization=org, role="owner")

    # Zoho through its consent page, with a scaled limit on both sides.
    zoho_org = zoho_state.create_org("us", "books@bench.example", "Bench Books", organization=org)
    zoho_org.rate_limit_per_minute = args.per_minute
    zoho_org.daily_limit = 10**6
    zoho_org.save()
    client = Client(HTTP_HOST=base.split("//")[1])
    client.force_login(user)
    zoho = connect_through_consent(client, "us", "books@bench.example")
    zoho.settings = {**zoho.settings, "rate_limit_per_minute": args.per_minute}
    zoho.save()

    # ShipStation with the backlog: one customer, one SKU.
    account = SandboxAccount.objects.create(name="bench", organization=org, auto_deliver_webhooks=False)
    shipstation = Connection.objects.create(
        organization=org,
        system="shipstation",
        label="ShipStation",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": base + "/sandbox/shipstation"},
    )
    address = {"name": "Bench Buyer", "street1": "1 Main St", "city": "Austin", "state": "TX",
               "postalCode": "78701", "country": "US"}  # fmt: skip
    for start in range(0, args.orders, 100):
        batch = [
            {
                "orderNumber": f"D{n:05d}",
                "orderKey": f"drain-{n}",
                "orderDate": "2026-11-01 10:00:00",
                "orderStatus": "awaiting_shipment",
                "customerEmail": "buyer@example.com",
                "billTo": address,
                "shipTo": address,
                "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 1, "unitPrice": 9.99}],
                "amountPaid": 9.99,
            }
            for n in range(start, min(args.orders, start + 100))
        ]
        requests.post(
            base + "/sandbox/shipstation/orders/createorders",
            json=batch,
            auth=(account.api_key, account.api_secret),
            timeout=60,
        ).raise_for_status()

    flow = Flow.objects.create(
        organization=org,
        preset="shipstation_zoho",
        source=shipstation,
        target=zoho,
        enabled=True,
        options={"backfill_from": "2026-01-01"},
    )
    found: list[int] = []
    engine.run_flow(flow, enqueue=found.append)
    orders = list(flow.records.filter(object_type="order").order_by("id").values_list("id", flat=True))
    engine.sync_record(orders[0])  # learns the contact and the item, like any steady state
    work: queue.Queue[int] = queue.Queue()
    for record_id in orders[1:]:
        work.put(record_id)
    first_event = Event.objects.order_by("-id").values_list("id", flat=True).first()

    def drain() -> None:
        from django.db import connection

        try:
            while True:
                try:
                    record_id = work.get_nowait()
                except queue.Empty:
                    return
                while (outcome := engine.sync_record(record_id)).status in ("retry", "leased"):
                    time.sleep(min(outcome.retry_in, 5))
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=drain) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    calls = Event.objects.filter(id__gt=first_event, kind="api_call", message__contains="/sandbox/zoho/")
    total = calls.count()
    limited = calls.filter(data__status=429).count()
    bound = total / (args.per_minute / 60.0)
    invoices = SandboxZohoDocument.objects.filter(org=zoho_org, kind="invoice")
    duplicates = invoices.count() - invoices.values("reference_number").distinct().count()
    synced = flow.records.filter(object_type="order", status="synced").count()
    print(f"backlog_drain: {len(orders)} orders, {args.workers} workers, Zoho limit {args.per_minute}/min")
    print(f"  synced {synced}/{len(orders)}, Zoho calls {total} ({total / max(1, len(orders) - 1):.2f} per order)")
    print(f"  elapsed {elapsed:.1f} s, bound {bound:.1f} s, ratio {elapsed / bound:.3f} (budget <= 1.10)")
    print(f"  429s {limited} ({100 * limited / max(1, total):.2f}% of calls, budget <= 1%)")
    print(f"  duplicate invoices {duplicates} (budget 0)")
    ok = synced == len(orders) and elapsed <= 1.10 * bound and limited <= 0.01 * total and duplicates == 0
    if not ok:
        print("OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
