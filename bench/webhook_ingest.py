"""Benchmark: signed WooCommerce webhook deliveries into gunicorn on this machine's 2 cores.

Starts gunicorn (the Procfile's web command shape) on 127.0.0.1 against DATABASE_URL (PostgreSQL
recommended) or SQLite in a temp dir, with REDIS_URL or the product's embedded Redis (the shared
harness); creates one WooCommerce connection with a webhook secret; then load processes POST distinct signed `order.updated`
deliveries on loopback for `--seconds`. Nothing processes the deliveries (no worker): this measures
the receive path — verify, store, enqueue, answer.

Budget: >= 500 accepted deliveries/s, p99 < 100 ms, every accepted delivery stored (rows counted),
none stored twice as "received". Exits 1 otherwise.
    .venv/bin/python bench/webhook_ingest.py [--seconds 60] [--clients 6] [--workers 2]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import migrate, prepare, start_gunicorn, stop  # noqa: E402


def signed_deliveries(secret: str, client_id: int, count: int) -> list[tuple[bytes, dict]]:
    """Distinct signed deliveries, built before the clock starts so the load generator (sharing the
    two cores with the server) spends its time sending, not hashing."""
    out = []
    for n in range(1, count + 1):
        body = json.dumps(
            {
                "id": client_id * 10_000_000 + n,
                "status": "processing",
                "date_modified_gmt": "2026-11-01T10:00:00",
                "total": "10.00",
                "line_items": [],
            }  # fmt: skip
        ).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "updated",
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-Delivery-ID": f"{client_id}-{n}",
        }
        out.append((body, headers))
    return out


def load(port: int, path: str, secret: str, seconds: float, client_id: int, start, out) -> None:
    deliveries = signed_deliveries(secret, client_id, int(seconds * 400))  # more than one client can send
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start.wait()
    deadline = time.monotonic() + seconds
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for body, headers in deliveries:
        if time.monotonic() >= deadline:
            break
        started = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            status = 0
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
    out.put((latencies, statuses))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)  # as the Procfile
    args = parser.parse_args()

    bench = prepare("ingest", sandbox=False)
    migrate(bench)

    import django

    django.setup()
    from django.conf import settings as django_settings

    from accounts.models import Organization
    from connector.models import Connection, Delivery
    from connector.redis import get_redis

    get_redis().flushdb()
    org = Organization.objects.create(name="Bench")
    secret = "bench-webhook-secret"
    connection = Connection.objects.create(
        organization=org, system="woocommerce", label="Bench store", webhook_secret=secret
    )
    path = f"/hooks/woocommerce/{connection.webhook_token}/"
    before = Delivery.objects.count()

    # The server runs the production settings (persistent DB connections, DEBUG off), not the test
    # settings this process uses to create the connection row; the same key reads its secret.
    server_env = {
        **bench.env,
        "DJANGO_SETTINGS_MODULE": "connector.settings",
        "ENV_FILE": "",
        "DEBUG": "false",
        "SANDBOX_ENABLED": "false",
        "SECRET_KEY": "bench-" + "x" * 50,
        "FIELD_ENCRYPTION_KEYS": ",".join(django_settings.FIELD_ENCRYPTION_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    try:
        start_gunicorn(bench, workers=args.workers, env=server_env)
        out: multiprocessing.Queue = multiprocessing.Queue()
        start = multiprocessing.Barrier(args.clients + 1)
        procs = [
            multiprocessing.Process(target=load, args=(bench.port, path, secret, args.seconds, i, start, out))
            for i in range(args.clients)
        ]
        for p in procs:
            p.start()
        start.wait()
        started = time.monotonic()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.monotonic() - started
    finally:
        stop(bench)

    latencies = sorted(x for lat, _ in results for x in lat)
    statuses: dict[int, int] = {}
    for _, s in results:
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
    accepted = statuses.get(200, 0)
    stored = Delivery.objects.count() - before
    received_ids = Delivery.objects.filter(connection=connection, status="received")
    twice = received_ids.count() - received_ids.values("dedupe_key").distinct().count()
    rate = accepted / elapsed
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"webhook_ingest: {args.seconds:.0f} s, {args.clients} load processes, gunicorn {args.workers}x4")
    print(f"  answers {statuses}")
    print(f"  accepted {accepted} = {rate:.0f}/s (budget >= 500/s)")
    print(f"  latency p50 {p50:.1f} ms, p99 {p99:.1f} ms (budget p99 < 100 ms)")
    print(f"  stored {stored} rows for {accepted} accepted (must be equal); stored twice {twice} (budget 0)")
    ok = rate >= 500 and p99 < 100 and stored == accepted and twice == 0
    if not ok:
        print("OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
