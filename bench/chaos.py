"""Benchmark: the books stay right under infrastructure faults, with nobody pressing Replay.

Starts its own processes on 127.0.0.1 (tests/chaos.py is the driver, shared with the in-suite test
tests/reliability/test_chaos.py): a redis-server on a free port (started empty again mid-run),
gunicorn serving the product and the sandboxes, Celery workers on the Procfile's queues, beat; on a
PostgreSQL database it creates and drops itself (`chaos_<pid>`, on the server DATABASE_URL names,
default postgres://postgres@127.0.0.1:5432). Per flow (`--flows`) one organisation with its own
sandbox accounts; `--orders` orders in each source, with edits, cancellations, shipments and voided
labels, while the vendors answer 10% 5xx and 5% 429, send half their webhooks twice and some out
of order, a worker is SIGKILLed three times, Redis is stopped for 10 s and started empty, every
PostgreSQL connection is terminated once, and gunicorn is restarted. Then the faults are lifted and
the run waits for calm.

Vendor rate windows and the product's recovery clock (leases, claims, sweep) run on the same scaled
clock (`--time-scale`, 0.2 by default: ShipStation 40 calls per 12 s, Zoho 500 a minute, Exact 300 a
minute; see tests/chaos.py for why both).

Budget: no violation (a lost or duplicated document, a wrong total, a cancelled order not voided, a
shipment without exactly one balanced journal, a voided label not reversed, a record stuck or failed
without remediation text, a webhook the sandbox sent that was not stored and processed), and the
settle time (faults lifted to calm) at most twice the vendor-limit bound (calls the sandboxes
answered / the vendors' limits: the time the run's calls need at those limits). Exits 1 otherwise.
    .venv/bin/python bench/chaos.py [--orders 300] [--seed 1]
        [--flows shipstation-zoho,woocommerce-zoho,exact-shipstation] [--broker redis|amqp]
        [--time-scale 0.2] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.chaos import FLOWS, Cluster, Plan, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flows", default=",".join(FLOWS), help=f"any of {','.join(FLOWS)}")
    parser.add_argument("--broker", choices=("redis", "amqp"), default="redis")
    parser.add_argument("--time-scale", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--calm-timeout", type=float, default=900.0)
    args = parser.parse_args()
    plan = Plan(
        orders=args.orders,
        seed=args.seed,
        flows=tuple(f.strip() for f in args.flows.split(",") if f.strip()),
        broker=args.broker,
        time_scale=args.time_scale,
        workers=args.workers,
        calm_timeout=args.calm_timeout,
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    server = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    if not server.startswith("postgres"):
        raise SystemExit("bench/chaos.py needs PostgreSQL (several processes write one database)")
    database = f"chaos_{os.getpid()}"
    database_url = urlunsplit(urlsplit(server)._replace(path=f"/{database}"))
    cluster = Cluster(tmp, plan)
    create_database(server, database)
    try:
        cluster.start_redis()
        os.environ.update(
            DJANGO_SETTINGS_MODULE="tests.settings",
            DATABASE_URL=database_url,
            REDIS_URL=cluster.redis_url,
            PUBLIC_BASE_URL=cluster.base_url,
            SANDBOX_ENABLED="true",
            SANDBOX_ALLOWED_WITHOUT_DEBUG="true",
        )
        os.environ.pop("CELERY_BROKER_URL", None)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        cluster.start(database_url)
        report = run(cluster, plan)
        print(f"chaos: {plan.orders} orders per flow, seed {plan.seed}, broker {plan.broker}, "
              f"time scale {plan.time_scale} (measured under load; logs in {tmp})")  # fmt: skip
        for line in report.lines():
            print(line)
        ok = not report.violations and not report.over_bound
        if report.over_bound:
            print("OVER BUDGET: settling took more than twice the vendor-limit bound")
        if report.violations:
            print(f"FAILED: {len(report.violations)} violations")
        return 0 if ok else 1
    finally:
        cluster.stop()
        from django.db import connections

        connections.close_all()
        drop_database(server, database)


def _admin(server: str):
    import psycopg

    parts = urlsplit(server)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    )


def create_database(server: str, name: str) -> None:
    with _admin(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(server: str, name: str) -> None:
    with _admin(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
