"""Benchmark: a backlog of orders drains from ShipStation into Zoho Books at the Zoho limit.

Starts its own server on 127.0.0.1 (the sandboxes; the shared harness: SQLite in a temp dir unless
DATABASE_URL is set, REDIS_URL or the product's embedded Redis). The Zoho sandbox organisation runs a
scaled limit (default 300 calls a minute, below what this machine's server answers, so the limit
and not the machine sets the pace) and the connection's client is told the same. The orders share
one customer and one SKU. Four engine workers (threads, the same code Celery runs) take each record
as the poll enqueues it.

Measured honestly: the clock starts before the poll's first enqueue and stops at the last invoice
the Zoho sandbox wrote (its own timestamp); nothing is subtracted (the first order, which learns the
contact and the item, is inside it). Zoho calls are counted twice, by our api_call events and by the
sandbox's own call counter, and must agree. The bound is the time the limit needs for those calls:
calls / (limit per second).

Budget: elapsed <= 1.10 x the bound, Zoho 429s <= 1% of calls, every order synced, 0 duplicate
invoices, client and sandbox call counts equal. Exits 1 otherwise.
    .venv/bin/python bench/backlog_drain.py [--orders 2000] [--per-minute 300] [--workers 4]
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import prepare, start_server, stop, unique

BUDGET_RATIO = 1.10


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--per-minute", type=int, default=300)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    bench = prepare("backlog")
    try:
        start_server(bench)
        return run(args)
    finally:
        stop(bench)


def connect(args) -> tuple:
    """A user's organisation with Zoho (through its consent page, scaled limit on both sides) and a
    ShipStation sandbox account holding the backlog."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.models import Membership, Organization
    from connector.models import Connection
    from integrations.shipstation.sandbox.models import SandboxAccount
    from integrations.zoho.sandbox import state as zoho_state
    from tests.integrations.zoho.consent import connect_through_consent

    base = settings.PUBLIC_BASE_URL
    name = unique("bench")
    user = get_user_model().objects.create_user(name, f"{name}@example.com", "x")
    org = Organization.objects.create(name="Bench")
    Membership.objects.create(user=user, organization=org, role="owner")
    email = f"{name}@books.example"
    zoho_org = zoho_state.create_org("us", email, "Bench Books", organization=org)
    zoho_org.rate_limit_per_minute = args.per_minute
    zoho_org.daily_limit = 10**6
    zoho_org.save()
    client = Client(HTTP_HOST=base.split("//")[1])
    client.force_login(user)
    zoho = connect_through_consent(client, "us", email)
    zoho.settings = {**zoho.settings, "rate_limit_per_minute": args.per_minute}
    zoho.save()
    account = SandboxAccount.objects.create(name=name, organization=org, auto_deliver_webhooks=False)
    shipstation = Connection.objects.create(
        organization=org,
        system="shipstation",
        label="ShipStation",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": base + "/sandbox/shipstation"},
    )
    seed_orders(base, account, args.orders)
    return org, zoho_org, zoho, shipstation


def seed_orders(base: str, account, count: int) -> None:
    address = {"name": "Bench Buyer", "street1": "1 Main St", "city": "Austin", "state": "TX",
               "postalCode": "78701", "country": "US"}  # fmt: skip
    for start in range(0, count, 100):
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
            for n in range(start, min(count, start + 100))
        ]
        requests.post(
            base + "/sandbox/shipstation/orders/createorders",
            json=batch,
            auth=(account.api_key, account.api_secret),
            timeout=60,
        ).raise_for_status()


def drain(work: queue.Queue) -> None:
    """One engine worker: sync each record it is handed until told to stop (None), waiting out
    retries as the task would (capped, so a long back-off shows up as time, not a hang)."""
    from django.db import connection

    from connector import engine

    try:
        while (record_id := work.get()) is not None:
            while (outcome := engine.sync_record(record_id)).status in ("retry", "leased"):
                time.sleep(min(outcome.retry_in, 5))
    finally:
        connection.close()


def run(args) -> int:
    import django

    django.setup()
    from connector import engine
    from connector.models import Event, Flow
    from connector.redis import get_redis
    from integrations.zoho.sandbox import faults
    from integrations.zoho.sandbox.models import SandboxZohoDocument

    get_redis().flushdb()
    org, zoho_org, zoho, shipstation = connect(args)
    flow = Flow.objects.create(
        organization=org,
        preset="shipstation_zoho",
        source=shipstation,
        target=zoho,
        enabled=True,
        options={"backfill_from": "2026-01-01"},
    )
    first_event = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    sandbox_before = faults.total_calls(zoho_org)

    work: queue.Queue[int | None] = queue.Queue()
    threads = [threading.Thread(target=drain, args=(work,)) for _ in range(args.workers)]
    for t in threads:
        t.start()
    started = time.time()  # before the first enqueue; the workers are already waiting
    engine.run_flow(flow, enqueue=work.put)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    joined = time.time()

    invoices = SandboxZohoDocument.objects.filter(org=zoho_org, kind="invoice")
    last_write = max((d.timestamp() for d in invoices.values_list("created_time", flat=True)), default=joined)
    elapsed = last_write - started
    calls = Event.objects.filter(id__gt=first_event, kind="api_call", message__contains="/sandbox/zoho/")
    total = calls.count()
    sandbox_calls = faults.total_calls(zoho_org) - sandbox_before
    limited = calls.filter(data__status=429).count()
    bound = total / (args.per_minute / 60.0)
    duplicates = invoices.count() - invoices.values("reference_number").distinct().count()
    orders = flow.records.filter(object_type="order")
    synced = orders.filter(status="synced").count()
    print(f"backlog_drain: {args.orders} orders, {args.workers} workers, Zoho limit {args.per_minute}/min")
    print(
        f"  synced {synced}/{orders.count()}, invoices in Zoho {invoices.count()}, duplicates {duplicates} (budget 0)"
    )
    print(f"  Zoho calls: client {total}, sandbox counted {sandbox_calls} (must agree); "
          f"{total / max(1, args.orders):.2f} per order")  # fmt: skip
    print(f"  elapsed (first enqueue to last invoice) {elapsed:.1f} s, workers done at {joined - started:.1f} s")
    print(f"  bound {bound:.1f} s, ratio {elapsed / bound:.3f} (budget <= {BUDGET_RATIO})")
    print(f"  429s {limited} ({100 * limited / max(1, total):.2f}% of calls, budget <= 1%)")
    ok = (
        synced == args.orders == orders.count()
        and invoices.count() == args.orders
        and duplicates == 0
        and total == sandbox_calls
        and elapsed <= BUDGET_RATIO * bound
        and limited <= 0.01 * total
    )
    if not ok:
        print("OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
