"""Benchmark: two worker processes pull 2,000 orders through the ShipStation sandbox at a scaled limit.

Starts its own Django server on 127.0.0.1 (the shared harness: SQLite in a temp dir unless
DATABASE_URL is set, SANDBOX_ENABLED; REDIS_URL when given, else the product's embedded Redis). The
sandbox account runs a scaled clock (default 40 requests per 2 s instead of per 60 s). Each worker fetches its half of the orders
with `GET /orders/{id}` through `ShipStationClient`, sharing one Redis token bucket fed by the
sandbox's X-Rate-Limit-* headers.

Budget: throughput >= 95% of the limit and 429s <= 1% of calls; exits 1 otherwise.
    .venv/bin/python bench/shipstation_rate.py [--orders 2000] [--limit 40] [--window 1.0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import prepare, redis_client, start_server, stop  # noqa: E402

SEED_ACCOUNT = (
    "from accounts.models import Organization as O; "
    "from integrations.shipstation.sandbox.models import SandboxAccount as A; "
    "a = A.objects.create(name='bench', organization=O.objects.create(name='Bench'), rate_limit=100000, "
    "rate_window_seconds=60); print(a.api_key, a.api_secret)"
)


def seed(base: str, env: dict, count: int, limit: int, window: float) -> tuple[str, str, list[int]]:
    # The account is made in the sandbox's database (its _control endpoints need a signed-in
    # organisation); from here on it is driven by its own keys, as ShipStation's API is.
    made = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", SEED_ACCOUNT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    auth = tuple(made.stdout.split()[-2:])
    address = {
        "name": "Bench Buyer",
        "street1": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "postalCode": "78701",
        "country": "US",
    }
    for start in range(0, count, 100):
        batch = [
            {
                "orderNumber": f"B{n:05d}",
                "orderKey": f"bench-{n}",
                "orderDate": "2024-03-01 10:00:00",
                "orderStatus": "awaiting_shipment",
                "customerEmail": f"buyer{n % 50}@example.com",
                "billTo": address,
                "shipTo": address,
                "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 1, "unitPrice": 9.99}],
            }
            for n in range(start, min(count, start + 100))
        ]
        r = requests.post(base + "/orders/createorders", json=batch, auth=auth, timeout=60)
        r.raise_for_status()
    ids, page = [], 1
    while True:
        body = requests.get(base + "/orders", params={"page": page, "pageSize": 500}, auth=auth, timeout=60).json()
        ids += [o["orderId"] for o in body["orders"]]
        if page >= body["pages"]:
            break
        page += 1
    r = requests.post(
        base + "/_control/faults", json={"rate_limit": limit, "rate_window_seconds": window}, auth=auth, timeout=10
    )
    r.raise_for_status()
    return auth[0], auth[1], ids


def worker(base: str, key: str, secret: str, ids: list[int], redis_url: str, limit: int, window: float, out) -> None:
    from connector.ratelimit import Limit, RateLimiter
    from integrations.shipstation.client import ShipStationClient

    statuses: list[int] = []
    client = ShipStationClient(
        base,
        api_key=key,
        api_secret=secret,
        rate_limit=Limit(limit, window),
        limiter=RateLimiter(redis_client(redis_url)),
    )
    client.max_429_retries = 50
    send = client.session.send

    def counting(prepared, **kwargs):
        response = send(prepared, **kwargs)
        statuses.append(response.status_code)
        return response

    client.session.send = counting
    started = time.time()
    for order_id in ids:
        client.get_order(order_id)
    out.put({"started": started, "ended": time.time(), "statuses": statuses})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--window", type=float, default=2.0, help="seconds per rate-limit window (ShipStation: 60)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    bench = prepare("shipstation-rate")
    redis_url = bench.env["REDIS_URL"]
    base = bench.base_url + "/sandbox/shipstation"
    try:
        start_server(bench)
        key, secret, ids = seed(base, bench.env, args.orders, args.limit, args.window)
        bucket_store = redis_client(redis_url)
        for stale in bucket_store.keys("rl:shipstation:*"):
            bucket_store.delete(stale)
        time.sleep(args.window)  # start on a fresh window
        queue: multiprocessing.Queue = multiprocessing.Queue()
        shares = [ids[i :: args.workers] for i in range(args.workers)]
        procs = [
            multiprocessing.Process(
                target=worker, args=(base, key, secret, share, redis_url, args.limit, args.window, queue)
            )
            for share in shares
        ]
        for p in procs:
            p.start()
        results = [queue.get(timeout=3600) for _ in procs]
        for p in procs:
            p.join()
    finally:
        stop(bench)
    calls = sum(len(r["statuses"]) for r in results)
    too_many = sum(s == 429 for r in results for s in r["statuses"])
    ok = sum(s == 200 for r in results for s in r["statuses"])
    elapsed = max(r["ended"] for r in results) - min(r["started"] for r in results)
    allowed_rate = args.limit / args.window
    throughput = 100.0 * (ok / elapsed) / allowed_rate
    share_429 = 100.0 * too_many / max(1, calls)
    print(f"orders fetched: {ok} in {elapsed:.1f}s by {args.workers} workers; limit {args.limit} per {args.window:g}s")
    print(f"throughput: {throughput:.1f}% of the limit (budget >= 95%)")
    print(f"429s: {too_many} of {calls} calls = {share_429:.2f}% (budget <= 1%)")
    passed = throughput >= 95.0 and share_429 <= 1.0 and ok == args.orders
    if not passed:
        print("OVER BUDGET")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
