"""Benchmark: 50,000 QuickBooks inventory items through the Web Connector iterator loop.

Starts its own server on 127.0.0.1 (the shared harness: SQLite in a temp dir unless DATABASE_URL is
set; REDIS_URL when given, else the product's embedded Redis). A simulated company file holds the
items; `flow.queue_item_sync` queues an ItemInventoryQuery iterator (MaxReturned pages) and the Web Connector simulator plays the
sendRequestXML/receiveResponseXML loop over HTTP until the server reports 100 %.

Measured:
- RSS growth of the server process: VmHWM after the run − VmRSS before it (/proc/<pid>/status),
- items parsed per second: items the server counted / wall time of the whole loop,
- the slowest single SOAP response of the server, and the slowest page the simulated QuickBooks made.

Budget: RSS growth < 60 MB, >= 5,000 items/s, every response <= 2 s. Exits 1 otherwise.
    .venv/bin/python bench/qbwc_items.py [--items 50000] [--page-size 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import prepare, start_server, stop  # noqa: E402

RSS_BUDGET_MB = 60
RATE_BUDGET = 5000
RESPONSE_BUDGET_S = 2.0


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=None, help="MaxReturned (default: the flow's)")
    args = parser.parse_args()

    bench = prepare("qbwc")
    try:
        # Without threads: the Web Connector is one sequential client, and runserver's threaded
        # keep-alive answers (headers and body in two writes, no TCP_NODELAY) meet the client's
        # delayed ACK: +40 ms a call that a production server does not have.
        server = start_server(bench, threaded=False)
        return run(args, server.pid)
    finally:
        stop(bench)


def run(args, server_pid: int) -> int:
    import django

    django.setup()
    from django.conf import settings

    from accounts.models import Organization
    from connector.models import Connection
    from integrations.qbdesktop import flow
    from integrations.qbdesktop.auth import create_user
    from integrations.qbdesktop.models import QBDInventoryLevel, QBXMLJob
    from integrations.qbdesktop.sandbox.client import WebConnectorSimulator
    from integrations.qbdesktop.sandbox.company import SimulatedCompany

    org = Organization.objects.create(name="Bench")
    connection = Connection.objects.create(
        organization=org,
        system="qbdesktop",
        label="Bench company file",
        settings={"time_zone": "America/New_York", "run_every_minutes": 5},
    )
    user, password = create_user(connection)
    company = SimulatedCompany("Bench books", seed=1)
    for n in range(args.items):
        company.add_item(f"SKU-{n:06d}", price="9.99", quantity_on_hand=str(n % 500))
    # A few tracked SKUs, so the page handler does real reconciliation work too.
    for n in (0, args.items // 2, args.items - 1):
        QBDInventoryLevel.objects.create(
            organization=org, connection=connection, sku=f"SKU-{n:06d}", quantity_on_hand=n % 500
        )
    page_size = args.page_size or flow.ITEM_SYNC_PAGE_SIZE
    flow.queue_item_sync(connection, page_size=page_size)

    simulator = WebConnectorSimulator(
        settings.PUBLIC_BASE_URL,
        user.username,
        password,
        company,
        owner_id=user.owner_id,
        file_id=user.file_id,
        max_calls=10 * (args.items // page_size + 10),
    )
    server_times: list[tuple[float, str]] = []
    company_times: list[float] = []
    call = simulator._call
    process = company.process

    def timed_call(log, name, *call_args):
        started = time.perf_counter()
        try:
            return call(log, name, *call_args)
        finally:
            server_times.append((time.perf_counter() - started, name))

    def timed_process(request_xml):
        started = time.perf_counter()
        try:
            return process(request_xml)
        finally:
            company_times.append(time.perf_counter() - started)

    simulator._call = timed_call
    company.process = timed_process

    simulator.service.serverVersion()  # warm the server (imports, first connection) before measuring
    rss_before = proc_kib(server_pid, "VmRSS")
    hwm_before = proc_kib(server_pid, "VmHWM")
    started = time.perf_counter()
    log = simulator.run()
    elapsed = time.perf_counter() - started
    rss_after = proc_kib(server_pid, "VmRSS")
    hwm_after = proc_kib(server_pid, "VmHWM")

    pages = QBXMLJob.objects.filter(connection=connection, handler=flow.H_ITEM_SYNC)
    parsed = sum(job.result.get("count", 0) for job in pages.filter(status="done"))
    failed = pages.exclude(status="done").count()
    growth_mb = (hwm_after - rss_before) / 1024
    rate = parsed / elapsed if elapsed else 0.0
    slowest, slowest_call = max(server_times)
    slowest_at = server_times.index((slowest, slowest_call))
    slowest_call = f"{slowest_call}, call {slowest_at + 1} of {len(server_times)}"
    slowest_qb = max(company_times, default=0.0)
    checked = QBDInventoryLevel.objects.filter(connection=connection, checked_at__isnull=False).count()

    print(f"qbwc_items: {args.items} items, MaxReturned {page_size}, {len(company_times)} qbXML pages")
    print(f"  parsed {parsed} items in {elapsed:.1f} s = {rate:,.0f} items/s (budget >= {RATE_BUDGET:,})")
    print(
        f"  server RSS {rss_before / 1024:.1f} MB before, {rss_after / 1024:.1f} MB after, peak "
        f"{hwm_after / 1024:.1f} MB (peak before {hwm_before / 1024:.1f}): growth {growth_mb:.1f} MB "
        f"(budget < {RSS_BUDGET_MB})"
    )
    print(
        f"  slowest server response {slowest:.3f} s ({slowest_call}), slowest simulated QuickBooks page "
        f"{slowest_qb:.3f} s (budget <= {RESPONSE_BUDGET_S} s)"
    )
    by_call: dict[str, float] = {}
    for seconds, name in server_times:
        by_call[name] = by_call.get(name, 0.0) + seconds
    spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(by_call.items(), key=lambda kv: -kv[1]))
    print(f"  time in SOAP calls: {spent}; simulated QuickBooks {sum(company_times):.1f} s")
    print(f"  run: {len(log.calls)} SOAP calls, last progress {log.percentages[-1:]}, failed pages {failed}")
    print(f"  tracked SKUs reconciled {checked}/3")
    ok = (
        parsed == args.items
        and failed == 0
        and checked == 3
        and growth_mb < RSS_BUDGET_MB
        and rate >= RATE_BUDGET
        and slowest <= RESPONSE_BUDGET_S
        and slowest_qb <= RESPONSE_BUDGET_S
    )
    if not ok:
        print("OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
