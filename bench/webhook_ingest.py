"""Benchmark: signed WooCommerce webhook deliveries into gunicorn, against a bare view in the same run.

Starts two gunicorns with the Procfile's web shape on 127.0.0.1, against DATABASE_URL (PostgreSQL
recommended) or SQLite in a temp dir, with REDIS_URL or an embedded Redis: the product
(`/hooks/woocommerce/<token>/`, production settings, gunicorn.conf.py) and the bare anchor
(`bench/bare_ingest/app.py`: verify the signature, INSERT, LPUSH, nothing else). wrk (2 threads, 16
connections: the load of the issue's side-by-side anchor script) POSTs distinct signed `order.updated`
deliveries on loopback, product and bare interleaved for `--rounds` legs of `--seconds` each. Needs
wrk (`apt-get install -y wrk`): the load processes in Python it replaces took a third of the two
cores from the servers they measured. Nothing processes the deliveries (no worker): this measures
the receive path — verify, store, enqueue, answer.

Absolute rates move with the machine; the budget is the ratio in the same run: the product answers
>= 0.8x the bare view's deliveries/s, with p99 <= 1.5x the bare p99 and < 100 ms, every accepted
delivery stored once (rows counted), none stored twice as "received", no non-2xx answer. Exits 1 otherwise.
    .venv/bin/python bench/webhook_ingest.py [--seconds 15] [--rounds 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
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


def signed_deliveries(secret: str, first_id: int, count: int) -> list[tuple[str, str, bytes]]:
    """(signature, delivery id, body) of distinct signed deliveries, built before the clock starts."""
    out = []
    for n in range(first_id, first_id + count):
        body = json.dumps(
            {
                "id": n,
                "status": "processing",
                "date_modified_gmt": "2026-11-01T10:00:00",
                "total": "10.00",
                "line_items": [],
            }  # fmt: skip
        ).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        out.append((signature, f"d-{n}", body))
    return out


# wrk's script: each wrk thread reads every `step`-th line of the deliveries file (signature, delivery
# id, body; tab-separated) and sends each once, so no delivery is sent twice in a leg.
WRK_SCRIPT = """
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args)
  local path, file, step = args[1], args[2], tonumber(args[3])
  queue, next_one = {}, 1
  local n = 0
  for line in io.lines(file) do
    if n % step == tid then
      local signature, id, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
      queue[#queue + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json", ["X-WC-Webhook-Topic"] = "order.updated",
        ["X-WC-Webhook-Resource"] = "order", ["X-WC-Webhook-Event"] = "updated",
        ["X-WC-Webhook-Signature"] = signature, ["X-WC-Webhook-Delivery-ID"] = id}, body)
    end
    n = n + 1
  end
end
function request()
  local r = queue[next_one]
  if r == nil then error("out of deliveries: raise DELIVERIES_PER_SECOND") end
  next_one = next_one + 1
  return r
end
"""
WRK_THREADS, WRK_CONNECTIONS = 2, 16  # the load the side-by-side anchor script uses
DELIVERIES_PER_SECOND = 5000  # written per leg second: more than one server answers here


def run_leg(side: str, port: int, path: str, seconds: float, first_id: int, tmp: Path) -> Leg:
    """One leg of wrk load on one server; delivery ids never repeat across legs, so every delivery is
    distinct. wrk (C, two threads) leaves the two cores to the servers, as a vendor's traffic would."""
    data = tmp / f"{side}-{first_id}.tsv"
    with open(data, "wb") as f:
        for signature, delivery_id, body in signed_deliveries(SECRET, first_id, int(seconds * DELIVERIES_PER_SECOND)):
            f.write(f"{signature}\t{delivery_id}\t".encode() + body + b"\n")
    script = tmp / "deliveries.lua"
    script.write_text(WRK_SCRIPT)
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    command += [f"http://127.0.0.1:{port}", "--", path, str(data), str(WRK_THREADS)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(side, out)


def parse_wrk(side: str, out: str) -> Leg:
    """Answers, non-2xx and socket errors, the rate of 2xx answers and p99 from wrk's report."""
    completed = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    elapsed = _seconds(re.search(r"requests in ([\d.]+\w+),", out).group(1))
    p99 = _seconds(re.search(r"^\s+99%\s+([\d.]+\w+)", out, re.M).group(1)) * 1000
    accepted = completed - non_2xx
    statuses = {"2xx": accepted, "other": non_2xx, "socket errors": errors}
    return Leg(side, accepted, statuses, accepted / elapsed, p99)


def _seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


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
    parser.add_argument("--workers", type=int, default=2)  # as the Procfile
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("webhook_ingest needs wrk, the load generator the issue's anchor uses: apt-get install -y wrk")

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
        first_id = 1
        for side in ("product", "bare"):  # warm-up: connections, caches, first inserts
            legs.append(run_leg(side, ports[side], paths[side], 3, first_id, tmp))
            first_id += 3 * DELIVERIES_PER_SECOND
        for _ in range(args.rounds):
            for side in ("product", "bare"):
                legs.append(run_leg(side, ports[side], paths[side], args.seconds, first_id, tmp))
                first_id += int(args.seconds * DELIVERIES_PER_SECOND)
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
        f"webhook_ingest: {args.rounds} x {args.seconds:.0f} s a side, wrk {WRK_THREADS} threads x {WRK_CONNECTIONS} connections, gunicorn {args.workers}x4"
    )
    print(
        f"  product {rate['product']:.0f}/s p99 {p99['product']:.1f} ms; bare {rate['bare']:.0f}/s p99 {p99['bare']:.1f} ms"
    )
    print(
        f"  ratio {ratio:.2f} (budget >= {MIN_RATIO}); p99 ratio {p99_ratio:.2f} (budget <= {MAX_P99_RATIO}, and < {MAX_P99_MS:.0f} ms)"
    )
    # wrk stops with up to one request in flight per connection: the server may still store those.
    in_flight = WRK_CONNECTIONS * sum(1 for x in legs if x.side == "product")
    refused = sum(x.statuses["other"] + x.statuses["socket errors"] for x in legs if x.side == "product")
    print(
        f"  stored {stored} rows for {accepted['product']} answered 2xx (+ at most {in_flight} in flight when a leg"
        f" ended); stored twice {twice} (budget 0); non-2xx or socket errors {refused} (budget 0)"
    )
    print(f"  bare stored {bare_stored} rows for {accepted['bare']} accepted")
    ok = (
        ratio >= MIN_RATIO
        and p99_ratio <= MAX_P99_RATIO
        and p99["product"] < MAX_P99_MS
        and accepted["product"] <= stored <= accepted["product"] + in_flight
        and refused == 0
        and twice == 0
    )
    if not ok:
        print("OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
