"""Benchmark: signed WooCommerce webhook deliveries into gunicorn, against a bare view in the same run.

Starts two gunicorns with the Procfile's web shape on 127.0.0.1, against DATABASE_URL (PostgreSQL
recommended) or SQLite in a temp dir, with REDIS_URL or an embedded Redis: the product
(`/hooks/woocommerce/<token>/`, production settings, gunicorn.conf.py) and the bare anchor
(`bench/bare_ingest/app.py`: verify the signature, INSERT, LPUSH, nothing else). Load processes POST
distinct signed `order.updated` deliveries on loopback, product and bare interleaved for `--rounds`
legs of `--seconds` each. Nothing processes the deliveries (no worker): this measures the receive
path — verify, store, enqueue, answer.

Absolute rates move with the machine; the budget is the ratio in the same run: the product answers
>= 0.8x the bare view's deliveries/s, with p99 <= 1.5x the bare p99 and < 100 ms, every accepted
delivery stored once (rows counted), none stored twice as "received". Exits 1 otherwise.
    .venv/bin/python bench/webhook_ingest.py [--seconds 15] [--rounds 2] [--clients 6] [--workers 2]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = ROOT / "bench" / "bare_ingest"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import embedded_broker_url, free_port, shutdown_embedded  # noqa: E402

SECRET = "bench-webhook-secret"
BARE_TABLE = "bench_bare_delivery"
MIN_RATIO, MAX_P99_RATIO, MAX_P99_MS = 0.8, 1.5, 100.0


@dataclass
class Leg:
    side: str
    accepted: int
    statuses: dict
    rate: float
    p99: float


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


def load(port: int, path: str, seconds: float, client_id: int, start, out) -> None:
    deliveries = signed_deliveries(SECRET, client_id, int(seconds * 400))  # more than one client can send
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


def run_leg(side: str, port: int, path: str, seconds: float, clients: int, first_client: int) -> Leg:
    """One leg of load on one server; client ids never repeat, so every delivery is distinct."""
    out: multiprocessing.Queue = multiprocessing.Queue()
    start = multiprocessing.Barrier(clients + 1)
    procs = [
        multiprocessing.Process(target=load, args=(port, path, seconds, first_client + i, start, out))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    start.wait()
    started = time.monotonic()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    statuses: dict[int, int] = {}
    for _, s in results:
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
    accepted = statuses.get(200, 0)
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("inf")
    return Leg(side, accepted, statuses, accepted / elapsed, p99)


def gunicorn(app: str, port: int, workers: int, env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "gunicorn"), app, "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--threads", "4", "--keep-alive", "5"]
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_until_up(port: int) -> None:
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on {port} did not start")


def server_env(env: dict, encryption_keys: list[str]) -> dict:
    """The product runs the production settings (persistent DB connections, DEBUG off), not the test
    settings this process uses to create the connection row; the same key reads its secret."""
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "connector.settings",
        "ENV_FILE": "",
        "DEBUG": "false",
        "SANDBOX_ENABLED": "false",
        "SECRET_KEY": "bench-" + "x" * 50,
        "FIELD_ENCRYPTION_KEYS": ",".join(encryption_keys),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }


def create_bare_table() -> None:
    from django.db import connection

    key = "bigserial" if connection.vendor == "postgresql" else "integer"
    with connection.cursor() as c:
        c.execute(f"DROP TABLE IF EXISTS {BARE_TABLE}")
        c.execute(f"CREATE TABLE {BARE_TABLE} (id {key} primary key, token text, delivery_id text, body text)")


def count_bare() -> int:
    from django.db import connection

    with connection.cursor() as c:
        c.execute(f"SELECT count(*) FROM {BARE_TABLE}")
        return c.fetchone()[0]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15, help="length of each leg")
    parser.add_argument("--rounds", type=int, default=2, help="product/bare leg pairs, interleaved")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)  # as the Procfile
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    embedded = None
    if not os.environ.get("REDIS_URL"):
        embedded = os.environ["REDIS_URL"] = embedded_broker_url(tmp)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}",
    )
    env = dict(os.environ)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], env=env, check=True)

    import django

    django.setup()
    from django.conf import settings as django_settings

    from accounts.models import Organization
    from connector.models import Connection, Delivery
    from connector.redis import get_redis

    get_redis().flushdb()
    create_bare_table()
    org = Organization.objects.create(name="Bench")
    connection = Connection.objects.create(organization=org, system="woocommerce", label="Bench", webhook_secret=SECRET)
    paths = {"product": f"/hooks/woocommerce/{connection.webhook_token}/", "bare": "/hooks/woocommerce/bare/"}
    ports = {"product": free_port(), "bare": free_port()}
    before = Delivery.objects.count()
    product_env = server_env(env, django_settings.FIELD_ENCRYPTION_KEYS)
    product_env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{ports['product']}"
    servers = [
        gunicorn("connector.wsgi:application", ports["product"], args.workers, product_env, ROOT, tmp / "product.log"),
        gunicorn("app:application", ports["bare"], args.workers, env, BARE, tmp / "bare.log"),
    ]
    legs: list[Leg] = []
    try:
        for port in ports.values():
            wait_until_up(port)
        client = 1
        for side in ("product", "bare"):  # warm-up: connections, caches, first inserts
            legs.append(run_leg(side, ports[side], paths[side], 2, args.clients, client))
            client += args.clients
        for _ in range(args.rounds):
            for side in ("product", "bare"):
                legs.append(run_leg(side, ports[side], paths[side], args.seconds, args.clients, client))
                client += args.clients
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=20)
        if embedded is not None:
            shutdown_embedded(embedded)
    return report(args, legs, stored=Delivery.objects.count() - before, bare_stored=count_bare(), connection=connection)


def report(args, legs: list[Leg], *, stored: int, bare_stored: int, connection) -> int:
    from connector.models import Delivery

    measured = legs[2:]
    for n, leg in enumerate(measured):
        print(f"  round {n // 2 + 1} {leg.side:7s}: {leg.rate:6.0f}/s  p99 {leg.p99:6.1f} ms  answers {leg.statuses}")
    rate = {s: mean([x.rate for x in measured if x.side == s]) for s in ("product", "bare")}
    p99 = {s: mean([x.p99 for x in measured if x.side == s]) for s in ("product", "bare")}
    accepted = {s: sum(x.accepted for x in legs if x.side == s) for s in ("product", "bare")}
    received = Delivery.objects.filter(connection=connection, status="received")
    twice = received.count() - received.values("dedupe_key").distinct().count()
    ratio, p99_ratio = rate["product"] / rate["bare"], p99["product"] / p99["bare"]
    print(
        f"webhook_ingest: {args.rounds} x {args.seconds:.0f} s a side, {args.clients} load processes, gunicorn {args.workers}x4"
    )
    print(
        f"  product {rate['product']:.0f}/s p99 {p99['product']:.1f} ms; bare {rate['bare']:.0f}/s p99 {p99['bare']:.1f} ms"
    )
    print(
        f"  ratio {ratio:.2f} (budget >= {MIN_RATIO}); p99 ratio {p99_ratio:.2f} (budget <= {MAX_P99_RATIO}, and < {MAX_P99_MS:.0f} ms)"
    )
    print(f"  stored {stored} rows for {accepted['product']} accepted (must be equal); stored twice {twice} (budget 0)")
    print(f"  bare stored {bare_stored} rows for {accepted['bare']} accepted")
    ok = (
        ratio >= MIN_RATIO
        and p99_ratio <= MAX_P99_RATIO
        and p99["product"] < MAX_P99_MS
        and stored == accepted["product"]
        and twice == 0
    )
    if not ok:
        print("OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
