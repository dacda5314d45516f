"""The audit log at a million records. Budget: p95 < 150 ms for every page measured.

Seeds (once; reused when the same sizes are already there) 1,000,000 Records with 10 Events each
over 200 tenants (`manage.py seed_audit`: COPY on PostgreSQL) into DATABASE_URL, the shared harness's
database (SQLite in a temp dir when unset, where the default size drops to 20,000 records: the
budget is meant for PostgreSQL). Then, signed in as a member of the largest tenant (about a tenth of
all records: the worst case), requests each page through Django's test Client (the whole middleware
stack, templates included; no network) SAMPLES times with varied values taken from that tenant's own
rows: the audit list unfiltered, by each status, flow, type and stage, a week's date range, search
by order number, by email (whole and part), by invoice and sales-order number, pages deep behind a
cursor (the next page after 10, 100 and 1,000 pages), the Previous link, and record pages.

Each page is measured in ROUNDS rounds and judged by its best round's p95 (the machine is shared;
interference only adds time). Prints the seed time, one line per page (p50 and p95 of the whole
request in the best round, the worst round's p95, p95 of the time spent waiting on the database
and of this process's own CPU, queries per request) and exits 1 when any best p95 is over budget
or a page answers other than 200. On a loaded machine most of a request is waiting for a CPU.

Measured on this project's shared 2-core machine (load average 10 to 18 from other work): the
seed of 1,000,000 records and 10,000,000 events took 847 s (COPY 681 s, index builds and ANALYZE
the rest).

    .venv/bin/python bench/audit_scale.py [--records 1000000] [--events 10] [--tenants 200] [--samples 30]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import prepare

BUDGET_MS = 150.0
SMALL_DEFAULT = 20_000  # SQLite: the full size would take long to write and is not what the budget is for


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--samples", type=int, default=30, help="requests per page and round")
    parser.add_argument("--rounds", type=int, default=3, help="each page is judged by its best round")
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS)
    parser.add_argument("--explain", action="store_true", help="print each page's main query plan")
    args = parser.parse_args()

    prepare("audit", sandbox=False)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    postgres = connection.vendor == "postgresql"
    records = args.records or (1_000_000 if postgres else SMALL_DEFAULT)
    print(f"audit_scale: {records} records x {args.events} events over {args.tenants} tenants on {connection.vendor}")
    started = time.monotonic()
    call_command("seed_audit", records=records, events=args.events, tenants=args.tenants, if_missing=True)
    print(f"  seed: {time.monotonic() - started:.1f} s (0 when reused)")

    client, tenant = signed_in_member(records, args.events, args.tenants)
    pages = scenarios(tenant, random.Random(7))
    print(f"  measured as a member of {tenant.name!r}: {count_of(tenant)} records")
    print(f"  {'page':<30} {'p50 ms':>7} {'p95 ms':>7} {'worst':>7} {'db p95':>7} {'cpu p95':>7} {'queries':>7}")
    over = []
    for name, urls in pages:
        rounds = [measure(client, urls, args.samples) for _ in range(args.rounds)]
        # The machine is shared: interference only ever adds time, so each page is judged by its
        # best round (as bench/engine_overhead.py judges its best batch); the worst round's p95 is shown.
        timings, in_db, cpu, queries = min(rounds, key=lambda r: percentile(r[0], 95))
        p95 = percentile(timings, 95)
        worst = max(percentile(r[0], 95) for r in rounds)
        flag = "  OVER" if p95 >= args.budget_ms else ""
        print(
            f"  {name:<30} {statistics.median(timings):7.1f} {p95:7.1f} {worst:7.1f} "
            f"{percentile(in_db, 95):7.1f} {percentile(cpu, 95):7.1f} {queries:7.1f}{flag}",
            flush=True,
        )
        if p95 >= args.budget_ms:
            over.append(name)
        if args.explain and postgres:
            explain(client, urls[0])
    print(f"  budget: p95 < {args.budget_ms:.0f} ms per page (measured under load: the machine is shared)")
    if over:
        print("OVER BUDGET: " + ", ".join(over))
        return 1
    print("OK")
    return 0


def signed_in_member(records: int, events: int, tenants: int):
    """A test Client signed in as a member of the seed's first (largest) tenant."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.models import Membership, Organization
    from connector.management.commands.seed_audit import seed_name

    tenant = Organization.objects.get(name=seed_name(records, events, tenants, 1))
    user, _ = get_user_model().objects.get_or_create(
        username=f"audit-bench-{tenant.pk}", defaults={"email": f"audit-bench-{tenant.pk}@example.com"}
    )
    Membership.objects.get_or_create(user=user, organization=tenant, defaults={"role": "member"})
    client = Client()
    client.force_login(user)
    return client, tenant


def count_of(tenant) -> int:
    from connector.models import Record

    return Record.objects.for_org(tenant).count()


def scenarios(tenant, rng: random.Random) -> list[tuple[str, list[str]]]:
    """(name, URLs to cycle through): values drawn from the tenant's own records."""
    from django.urls import reverse

    from connector.models import Flow, Record
    from connector.web.audit import page_of

    audit = reverse("audit_log")
    records = Record.objects.for_org(tenant)
    sample = list(records.order_by("?").values("pk", "source_ref", "target_ref", "search_text", "object_type")[:400])
    orders = [r["source_ref"] for r in sample if r["object_type"] == "order"]
    invoices = [r["target_ref"] for r in sample if r["target_ref"].startswith("INV-")]
    sales_orders = [r["target_ref"] for r in sample if r["target_ref"].startswith("SO-")]
    emails = [r["search_text"].split()[0] for r in sample]
    parts = [email.split("@")[0].split(".")[-1] for email in emails]  # "hopper12" of grace.hopper12@…
    flows = list(Flow.objects.for_org(tenant).values_list("pk", flat=True))
    newest = records.order_by("-updated_at").values_list("updated_at", flat=True).first()
    weeks = [(newest - timedelta(days=rng.uniform(7, 170))).date() for _ in range(20)]

    def deep(pages: int) -> tuple[str, list[str]]:
        """Cursors about `pages` pages down (fewer when the list ends sooner), walked once, not timed."""
        cursors, cursor = [], None
        for _ in range(pages):
            following = page_of(records, cursor).next_cursor
            if following is None:
                break
            cursor = following
            cursors = [*cursors[-2:], cursor]
        return f"list, {pages if len(cursors) == 3 else 'last'} pages deep", [f"{audit}?after={c}" for c in cursors]

    previous = [f"{audit}?before={c}" for c in (page_of(records, None).next_cursor,) if c]
    return [
        ("list, first page", [audit]),
        ("list, status failed", [f"{audit}?status=failed"]),
        ("list, status needs review", [f"{audit}?status=needs_review"]),
        ("list, status pending", [f"{audit}?status=pending"]),
        ("list, status synced", [f"{audit}?status=synced"]),
        ("list, by flow", [f"{audit}?flow={pk}" for pk in flows]),
        ("list, type shipment", [f"{audit}?object_type=shipment"]),
        ("list, type customer", [f"{audit}?object_type=customer"]),
        ("list, stage shipped", [f"{audit}?stage=shipped"]),
        ("list, stage canceled", [f"{audit}?stage=canceled"]),
        ("list, one week", [f"{audit}?since={d}&until={d.fromordinal(d.toordinal() + 6)}" for d in weeks]),
        (
            "list, failed in one week",
            [f"{audit}?status=failed&since={d}&until={d.fromordinal(d.toordinal() + 6)}" for d in weeks],
        ),  # fmt: skip
        ("search, order number", [f"{audit}?q={n}" for n in orders[:40]]),
        ("search, whole email", [f"{audit}?q={e}" for e in emails[:40]]),
        ("search, part of a name", [f"{audit}?q={s}" for s in parts[:40]]),
        ("search, invoice number", [f"{audit}?q={n}" for n in invoices[:40]]),
        ("search, sales order number", [f"{audit}?q={n}" for n in sales_orders[:40]]),
        ("search, nothing found", [f"{audit}?q=zz-no-such-{n}" for n in range(40)]),
        deep(10),
        deep(100),
        deep(1000),
        ("list, previous page", previous),
        ("record page", [reverse("record_detail", args=[r["pk"]]) for r in sample[:60]]),
    ]


def measure(client, urls: list[str], samples: int) -> tuple[list[float], list[float], list[float], float]:
    """Per request over `samples` requests: wall ms, ms waiting on the database, ms of this
    process's CPU (rendering, ORM); and queries per request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(urls[0])  # warm: the first request of a kind loads templates and code
    timings, in_db, cpu, queries = [], [], [], 0
    for n in range(samples):
        url = urls[n % len(urls)]
        with CaptureQueriesContext(connection) as captured:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            timings.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        queries += len(captured.captured_queries)
        in_db.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    return timings, in_db, cpu, queries / samples


def explain(client, url: str) -> None:
    """EXPLAIN ANALYZE of the slowest query the page made."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        print("      " + "\n      ".join(row[0] for row in cursor.fetchall()))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    sys.exit(main())
