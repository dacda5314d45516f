"""Benchmark: from a WooCommerce order to its Zoho Books invoice, through the whole product.

Starts gunicorn and a Celery worker (as in the Procfile) on 127.0.0.1 with the sandboxes, SQLite in a
temp dir unless DATABASE_URL is set, REDIS_URL or an embedded Redis. The demo hooks create a
connected WooCommerce sandbox store and Zoho Books organisation; a WooCommerce → Zoho flow is on.
Orders are placed through the store's REST API one after another; the store sends its signed
webhook; the worker writes the invoice. Latency = invoice row created in the Zoho sandbox minus the
moment the store answered the order POST (same clock: this machine).

Budget: p50 < 1 s and p99 < 3 s, every order invoiced once. Exits 1 otherwise.
    .venv/bin/python bench/webhook_to_invoice.py [--orders 100] [--gap 0.2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import embedded_redis, free_port  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.2)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-w2i-"))
    redis_server = None
    if not os.environ.get("REDIS_URL"):
        redis_server, os.environ["REDIS_URL"] = embedded_redis(tmp)
    port = free_port()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    env = dict(os.environ)
    bin_dir = Path(sys.executable).parent
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], env=env, check=True)

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from accounts.models import Membership, Organization
    from connector.models import Connection, Flow
    from connector.redis import get_redis
    from connector.registry import sandbox_of
    from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoOrg

    get_redis().flushdb()
    user = get_user_model().objects.create_user("bench", "bench@example.com", "x")
    org = Organization.objects.create(name="Bench")
    Membership.objects.create(user=user, organization=org, role="owner")
    store = sandbox_of("woocommerce").provision(org, user)  # what the Try buttons make, connected
    zoho = sandbox_of("zoho").provision(org, user)
    # "Instant" vendors: Zoho's 100 calls a minute would set the pace otherwise (its own benchmark).
    zoho_org = SandboxZohoOrg.objects.get(organization_id=zoho["organization_id"])
    SandboxZohoOrg.objects.filter(pk=zoho_org.pk).update(rate_limit_per_minute=100_000)
    zoho_connection = Connection.objects.get(organization=org, system="zoho")
    zoho_connection.settings = {**zoho_connection.settings, "rate_limit_per_minute": 100_000}
    zoho_connection.save(update_fields=["settings"])
    Flow.objects.create(
        organization=org,
        preset="woocommerce_zoho",
        source=Connection.objects.get(organization=org, system="woocommerce"),
        target=Connection.objects.get(organization=org, system="zoho"),
        enabled=True,
        interval_seconds=3600,  # webhooks only: no poll during the run
    )

    logs = [open(tmp / "web.log", "w"), open(tmp / "worker.log", "w")]  # noqa: SIM115 - closed below
    processes = [
        subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "connector.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
            ],  # fmt: skip
            env=env,
            cwd=ROOT,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                str(bin_dir / "celery"),
                "-A",
                "connector",
                "worker",
                "-Q",
                "webhooks,polls,sync,qbwc",
                "-P",
                "threads",
                "-c",
                "4",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "WARNING",
            ],  # fmt: skip
            env=env,
            cwd=ROOT,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        for _ in range(300):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        time.sleep(2)  # the worker connects to the broker
        session = requests.Session()
        auth = (store["consumer_key"], store["consumer_secret"])
        placed: dict[str, float] = {}
        for _ in range(args.orders):
            body = {
                "status": "processing",
                "billing": {
                    "first_name": "Bench",
                    "last_name": "Buyer",
                    "email": "buyer@example.com",
                    "country": "GB",
                },  # fmt: skip
                "line_items": [{"sku": "WOO-HAT", "quantity": 1}],
            }
            response = session.post(store["store_url"] + "/wp-json/wc/v3/orders", json=body, auth=auth, timeout=30)
            response.raise_for_status()
            placed[str(response.json()["number"])] = time.time()
            time.sleep(args.gap)
        deadline = time.time() + 60
        invoices = {}
        while time.time() < deadline:
            invoices = {
                d.reference_number: d.created_time.timestamp()
                for d in SandboxZohoDocument.objects.filter(org=zoho_org, kind="invoice")
            }
            if set(placed) <= set(invoices):
                break
            time.sleep(0.5)
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(timeout=30)
        for log in logs:
            log.close()
        if redis_server is not None:
            redis_server.shutdown()

    latencies = sorted(invoices[n] - t for n, t in placed.items() if n in invoices)
    total = SandboxZohoDocument.objects.filter(org=zoho_org, kind="invoice").count()
    missing = len(placed) - len(latencies)
    p50 = latencies[len(latencies) // 2] if latencies else float("inf")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("inf")
    print(f"webhook_to_invoice: {len(placed)} orders, one every {args.gap} s")
    print(f"  invoiced {len(latencies)} (missing {missing}), invoices in Zoho {total} (must equal orders)")
    print(f"  latency p50 {p50:.2f} s, p99 {p99:.2f} s (budget p50 < 1 s, p99 < 3 s)")
    ok = missing == 0 and total == len(placed) and p50 < 1 and p99 < 3
    if not ok:
        print("OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
