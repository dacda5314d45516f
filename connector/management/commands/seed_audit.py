"""Fill the audit log with realistic history fast: organisations, their connections and flows, then
Records with their Events, for measuring the audit pages at scale (`bench/audit_scale.py`).

    python manage.py seed_audit --records 1000000 --events 10 --tenants 200

Tenants are unequal, as real ones are: tenant k gets a share proportional to 1/k^0.8, so the first
holds about a tenth of all records (the one worth measuring). Records are written in the order they
happened, every tenant's interleaved over the last `--days` days: orders (each store numbers its
own, so numbers repeat across tenants), their shipments and customers, mostly synced to invoices,
sales orders (with their stage) and journal entries, some failed, needing review, pending or skipped;
each with a timeline of `--events` events (received, fetched, API calls, created, ...).

On PostgreSQL rows go in with COPY (psycopg's `cursor.copy`), ids reserved from the tables' own
sequences, all in one transaction: a seed that fails leaves nothing behind. Elsewhere (SQLite, for
tests) it uses `bulk_create`. The first tenant's name carries the sizes (`Seed 1000000x10x200 shop
001`): `--if-missing` returns at once when a seed of those sizes is already there.
"""

from __future__ import annotations

import io
import json
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organization
from connector.models import Connection, Event, Flow, Record
from connector.registry import FlowPreset, capabilities_of, get_system, presets

BATCH = 20_000  # records per COPY round (and their events)
# From this many records on PostgreSQL, the tables' secondary indexes are dropped for the load and
# built again at its end, inside the same transaction (a sorted build is many times faster than
# millions of random insertions); a superuser also skips the foreign-key checks of rows this very
# transaction made. Both lock the tables until the commit: seed a database no one else is using.
BULK_LOAD_FROM = 50_000
SEEDED_TABLES = ("connector_record", "connector_event")
SKEW = 0.8
FIRST = ["ada", "grace", "alan", "edsger", "barbara", "donald", "frances", "ken", "margaret", "linus", "radia", "tim"]
LAST = ["lovelace", "hopper", "turing", "dijkstra", "liskov", "knuth", "allen", "thompson", "hamilton", "perlman"]
DOMAINS = ["gmail.com", "outlook.com", "example.org", "shop.example", "mail.example.net", "yahoo.com"]
STAGES = [("shipped", 50), ("submitted", 40), ("canceled", 5), ("not_submitted", 5)]
STATUSES = [("synced", 900), ("skipped", 40), ("failed", 30), ("needs_review", 20), ("pending", 10)]
ERRORS = {  # {books}: the target system's name
    "failed": (
        "{books} rejected the invoice: the customer is inactive (code 3004).",
        "Make the customer active in {books}, then press Replay.",
    ),
    "needs_review": (
        "No {books} item has the SKU MUG-BLUE-12.",
        "Create the item in {books} or map the SKU on the flow's page, then press Replay.",
    ),
    "pending": ("{books} answered 503 (temporarily unavailable).", ""),
}


def seed_name(records: int, events: int, tenants: int, n: int) -> str:
    return f"Seed {records}x{events}x{tenants} shop {n:03d}"


def tenant_sizes(records: int, tenants: int) -> list[int]:
    """Records per tenant, largest first, summing to `records`."""
    weights = [1 / (k**SKEW) for k in range(1, tenants + 1)]
    total = sum(weights)
    sizes = [int(records * w / total) for w in weights]
    sizes[0] += records - sum(sizes)
    return sizes


def pick_presets() -> tuple[FlowPreset, FlowPreset]:
    """Two presets from the registry (core names no system): one moving orders, shipments and
    customers (most records), and a second, from another source when there is one, for the rest of
    the orders (those records carry a stage, as sales orders do)."""

    def moves(preset: FlowPreset) -> set[str]:
        return {c.source_type for c in capabilities_of(preset) if not c.reverse}

    ordered = sorted(presets(), key=lambda p: p.key)
    main = next((p for p in ordered if {"order", "shipment", "customer"} <= moves(p)), None)
    if main is None:
        raise CommandError("no flow preset moves orders, shipments and customers")
    others = [p for p in ordered if "order" in moves(p) and p.source_system != main.source_system]
    same_books = [p for p in others if p.target_system == main.target_system]
    return main, (same_books or others or [main])[0]


@dataclass
class Tenant:
    org_id: int
    store_flow: Flow  # orders, shipments, customers → invoices, journal entries, contacts
    second_flow: Flow  # orders from a second source → sales orders, with a stage
    store_conn: int
    second_conn: int
    books_conn: int
    next_order: int = 1000
    next_doc: int = 1
    next_customer: int = 1
    next_shipment: int = 1


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def copy_text(value) -> str:
    """A value in COPY's text format (our values never hold tabs, newlines or backslashes)."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


RECORD_COLUMNS = [
    "id", "organization_id", "flow_id", "object_type", "source_id", "source_ref", "search_text", "status", "stage",
    "target_id", "target_url", "result", "target_ref", "payload", "source_payload", "payload_hash",
    "source_modified_at", "attempts", "last_error", "remediation", "lease_until", "next_attempt_at", "created_at",
    "updated_at", "synced_at",
]  # fmt: skip
EVENT_COLUMNS = ["organization_id", "record_id", "connection_id", "kind", "message", "data", "created_at"]


class Generator:
    """Rows in the order they happened; deterministic for a given --random-seed."""

    def __init__(self, tenants: list[Tenant], sizes: list[int], events: int, days: int, seed: int, books: str):
        self.books = books  # the target system's name, for messages
        self.rng = random.Random(seed)
        self.tenants, self.sizes, self.events = tenants, sizes, events
        self.end = timezone.now().replace(microsecond=0)
        self.start = self.end - timedelta(days=days)
        self.total = sum(sizes)
        self.customers: dict[int, list[tuple[str, str]]] = {}

    def tenant_order(self) -> list[int]:
        """Which tenant each record belongs to, in the order they happen: exactly each one's share."""
        order = [t for t, size in enumerate(self.sizes) for _ in range(size)]
        self.rng.shuffle(order)
        return order

    def customer(self, tenant: Tenant) -> tuple[str, str]:
        pool = self.customers.setdefault(tenant.org_id, [])
        if len(pool) < 50 or self.rng.random() < 0.3:
            n = tenant.next_customer
            tenant.next_customer += 1
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            pool.append((f"{first}.{last}{n}@{self.rng.choice(DOMAINS)}", f"{first.title()} {last.title()}"))
        return self.rng.choice(pool)

    def record(self, i: int, tenant: Tenant) -> tuple[dict, list[tuple]]:
        """One record's column values and its events (kind, message, data, connection, created_at)."""
        rng = self.rng
        created = self.start + (self.end - self.start) * (i / self.total)
        updated = min(self.end, created + timedelta(seconds=rng.randint(2, 90 if rng.random() < 0.9 else 86400 * 3)))
        status = pick(rng, STATUSES)
        email, name = self.customer(tenant)
        roll = rng.random()
        kind = "order" if roll < 0.8 else "shipment" if roll < 0.92 else "customer"
        flow = tenant.second_flow if kind == "order" and rng.random() < 0.3 else tenant.store_flow
        source_conn = tenant.second_conn if flow is tenant.second_flow else tenant.store_conn
        stage, result, target_ref, target_id = "", {}, "", ""
        total = f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}"
        if kind == "order":
            number = str(tenant.next_order)
            tenant.next_order += 1
            source_id, source_ref = number, number
        elif kind == "shipment":
            source_id = f"sh-{tenant.next_shipment}"
            tenant.next_shipment += 1
            source_ref = str(rng.randint(1000, max(1000, tenant.next_order - 1)))
        else:
            source_id = f"c-{tenant.next_customer}-{i}"
            source_ref = email
        if status == "synced" and kind != "customer":
            doc = tenant.next_doc
            tenant.next_doc += 1
            target_id = str(460000000000 + i)
            if kind == "shipment":
                target_ref = f"JE-{doc:05d}"
                result = {"kind": "journal", "label": "Journal entry", "number": target_ref, "total": "8.95"}
            elif flow is tenant.second_flow:
                target_ref, stage = f"SO-{doc:06d}", pick(rng, STAGES)
                result = {"kind": "salesorder", "label": "Sales order", "number": target_ref, "total": total}
            else:
                target_ref = f"INV-{doc:06d}"
                result = {"kind": "invoice", "label": "Invoice", "number": target_ref, "total": total}
            result |= {"currency": "USD", "status": "sent" if kind == "order" else "published"}
        elif status == "synced":
            target_id = str(460000000000 + i)
            result = {"kind": "contact", "label": "Contact", "number": name}
        error, remediation = (text.format(books=self.books) for text in ERRORS.get(status, ("", "")))
        payload = {
            "number": source_ref,
            "customer": {"email": email, "name": name},
            "currency": "USD",
            "total": total,
            "lines": [
                {"sku": "MUG-1", "name": "Enamel mug", "quantity": "2", "unit_price": "12.50"},
                {"sku": "STK-1", "name": "Sticker pack", "quantity": "1", "unit_price": "3.99"},
            ],
            "shipping": "5.95",
            "order_date": created.isoformat(),
        }
        row = {
            "organization_id": tenant.org_id,
            "flow_id": flow.pk,
            "object_type": kind,
            "source_id": source_id,
            "source_ref": source_ref,
            "search_text": f"{email} {name}".lower(),
            "status": status,
            "stage": stage,
            "target_id": target_id,
            "target_url": f"https://books.example.com/{result.get('kind', kind)}s/{target_id}" if target_id else "",
            "result": json.dumps(result),
            "target_ref": target_ref,
            "payload": json.dumps(payload) if status == "synced" else None,
            "source_payload": None,
            "payload_hash": f"{rng.getrandbits(256):064x}" if status == "synced" else "",
            "source_modified_at": created,
            "attempts": 1 if status != "failed" else rng.randint(1, 5),
            "last_error": error,
            "remediation": remediation,
            "lease_until": None,
            "next_attempt_at": updated + timedelta(minutes=5) if status == "pending" else None,
            "created_at": created,
            "updated_at": updated,
            "synced_at": updated if status == "synced" else None,
        }
        return row, self.timeline(row, source_conn, tenant.books_conn)

    def timeline(self, row: dict, source_conn: int, books_conn: int) -> list[tuple]:
        ref, status = row["source_ref"], row["status"]
        doc = "invoices" if row["object_type"] == "order" else "journals"
        steps = [
            ("received", f"Webhook: {row['object_type']} {ref}", {}, source_conn),
            ("fetched", f"Fetched {row['object_type']} {ref}", {}, source_conn),
            ("mapped", f"Prepared for {self.books}", {}, None),
            (
                "api_call",
                "GET contacts",
                {"method": "GET", "url": "/books/v3/contacts?email=…", "status": 200, "ms": 143},
                books_conn,
            ),  # fmt: skip
            (
                "api_call",
                "GET items",
                {"method": "GET", "url": "/books/v3/items?sku=MUG-1", "status": 200, "ms": 121},
                books_conn,
            ),  # fmt: skip
            (
                "api_call",
                f"GET {doc}",
                {"method": "GET", "url": f"/books/v3/{doc}?reference_number={ref}", "status": 200, "ms": 132},
                books_conn,
            ),  # fmt: skip
        ]
        if status in ("failed", "needs_review", "pending"):
            code = {"failed": 400, "needs_review": 200, "pending": 503}[status]
            steps.append(("api_call", f"POST {doc}", {"method": "POST", "url": f"/books/v3/{doc}", "status": code, "ms": 287}, books_conn))  # fmt: skip
            steps.append(("failed", row["last_error"], {"error": row["last_error"], "retry_in": 300}, None))
        elif status == "skipped":
            steps.append(("skipped", "Nothing to write", {}, None))
        else:
            steps.append(("api_call", f"POST {doc}", {"method": "POST", "url": f"/books/v3/{doc}", "status": 201, "ms": 301}, books_conn))  # fmt: skip
            steps.append(
                ("created", f"Created {row['target_ref'] or 'contact'}", {"target_id": row["target_id"]}, None)
            )
        steps += [
            ("received", f"Webhook: {row['object_type']} {ref} updated", {}, source_conn),
            ("unchanged", "No change since the last sync", {}, None),
        ]
        span = (row["updated_at"] - row["created_at"]) / max(1, self.events)
        return [
            (*steps[n % len(steps)], row["created_at"] + span * n)
            for n in range(self.events)  # a timeline longer than the steps repeats them (retries)
        ]


def drop_secondary_indexes() -> list[str]:
    """Drop the seeded tables' indexes that back no constraint; their CREATE statements, to run
    after the load. Also turns off this transaction's foreign-key triggers when the role may."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
               FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid
               WHERE i.indrelid::regclass::text = ANY(%s) AND c.oid IS NULL""",
            [list(SEEDED_TABLES)],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in indexes]


@contextmanager
def stamps_as_given():
    """bulk_create would stamp `created_at`/`updated_at` with now (auto_now_add, auto_now): history
    needs the times we generated."""
    fields = [Record._meta.get_field("created_at"), Record._meta.get_field("updated_at")]
    saved = [(f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, (now, add) in zip(fields, saved, strict=True):
            f.auto_now, f.auto_now_add = now, add


class Command(BaseCommand):
    help = "Seed organisations, flows, Records and Events for the audit log at scale (bench/audit_scale.py)."

    def add_arguments(self, parser):
        parser.add_argument("--records", type=int, default=10_000)
        parser.add_argument("--events", type=int, default=10, help="events per record")
        parser.add_argument("--tenants", type=int, default=20)
        parser.add_argument("--days", type=int, default=180, help="records spread over this many days up to now")
        parser.add_argument("--random-seed", type=int, default=1)
        parser.add_argument("--if-missing", action="store_true", help="do nothing when this seed is already there")

    def handle(self, *args, **options):
        records, events, tenants = options["records"], options["events"], options["tenants"]
        if records < 1 or events < 0 or not 1 <= tenants <= records:
            raise CommandError("need --records >= 1, --events >= 0 and 1 <= --tenants <= --records")
        marker = seed_name(records, events, tenants, 1)
        if Organization.objects.filter(name=marker).exists():
            if options["if_missing"]:
                self.stdout.write(f"Seed already there ({marker}).")
                return
            raise CommandError(f"A seed of these sizes is already there ({marker}); use --if-missing to reuse it.")
        started = time.monotonic()
        with transaction.atomic():
            sizes = tenant_sizes(records, tenants)
            main, second = pick_presets()
            people = [self.tenant(seed_name(records, events, tenants, n + 1), main, second) for n in range(tenants)]
            books = get_system(main.target_system).name
            generator = Generator(people, sizes, events, options["days"], options["random_seed"], books)
            postgres = connection.vendor == "postgresql"
            bulk_load = postgres and records >= BULK_LOAD_FROM
            rebuild = drop_secondary_indexes() if bulk_load else []
            done, order = 0, generator.tenant_order()
            while done < records:
                count = min(BATCH, records - done)
                batch = [generator.record(done + n, people[t]) for n, t in enumerate(order[done : done + count])]
                (self.copy_batch if postgres else self.bulk_batch)(batch)
                done += count
                self.stdout.write(f"  {done} records, {done * events} events ({time.monotonic() - started:.0f} s)")
            if rebuild:
                self.stdout.write(f"  rebuilding {len(rebuild)} indexes ({time.monotonic() - started:.0f} s)")
                with connection.cursor() as cursor:
                    for definition in rebuild:
                        cursor.execute(definition)
        if connection.vendor == "postgresql":
            # What autovacuum would do in the next minutes, done now so pages are measured in their
            # steady state: statistics for the planner, hint bits and the visibility map set (the
            # first reader of freshly loaded rows would otherwise write every page it reads), the
            # search index's pending entries merged.
            self.stdout.write(f"  vacuum and analyze ({time.monotonic() - started:.0f} s)")
            # (VACUUM cannot run inside a transaction, e.g. a test's: there statistics only.)
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            with connection.cursor() as cursor:
                for table in SEEDED_TABLES:
                    cursor.execute(f"{command} {table}")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Seeded {records} records and {records * events} events over {tenants} tenants in {elapsed:.1f} s "
            f"(largest tenant: {sizes[0]} records, {marker})."
        )

    def tenant(self, name: str, main: FlowPreset, second: FlowPreset) -> Tenant:
        org = Organization.objects.create(name=name)

        def connect(system: str) -> Connection:
            return Connection.objects.create(organization=org, system=system, label=get_system(system).name)

        store, books = connect(main.source_system), connect(main.target_system)
        other = store if second.source_system == main.source_system else connect(second.source_system)
        other_books = books if second.target_system == main.target_system else connect(second.target_system)
        store_flow = Flow.objects.create(organization=org, preset=main.key, source=store, target=books, name=main.name)
        second_flow = Flow.objects.create(
            organization=org, preset=second.key, source=other, target=other_books, name=f"{second.name} (sales orders)"
        )
        return Tenant(org.pk, store_flow, second_flow, store.pk, other.pk, books.pk)

    def copy_batch(self, batch: list[tuple[dict, list[tuple]]]) -> None:
        """COPY one batch: ids reserved from the record table's own sequence, then both tables."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('connector_record', 'id')) FROM generate_series(1, %s)",
                [len(batch)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            records, events = io.StringIO(), io.StringIO()
            for pk, (row, timeline) in zip(ids, batch, strict=True):
                row["id"] = pk
                records.write("\t".join(copy_text(row[c]) for c in RECORD_COLUMNS) + "\n")
                org = row["organization_id"]
                for kind, message, data, conn, at in timeline:
                    data_text = json.dumps(data, ensure_ascii=False)
                    events.write(f"{org}\t{pk}\t{copy_text(conn)}\t{kind}\t{message}\t{data_text}\t{at.isoformat()}\n")
            raw = cursor.cursor  # psycopg's own cursor under Django's wrapper
            with raw.copy(f"COPY connector_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
                copy.write(records.getvalue())
            with raw.copy(f"COPY connector_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                copy.write(events.getvalue())

    def bulk_batch(self, batch: list[tuple[dict, list[tuple]]]) -> None:
        with stamps_as_given():
            self._bulk_batch(batch)

    def _bulk_batch(self, batch: list[tuple[dict, list[tuple]]]) -> None:
        rows = []
        for row, _ in batch:
            values = {c: row[c] for c in RECORD_COLUMNS if c != "id"}
            values["result"] = json.loads(values["result"])
            values["payload"] = json.loads(values["payload"]) if values["payload"] else None
            rows.append(Record(**values))
        saved = Record.objects.bulk_create(rows, batch_size=1000)
        Event.objects.bulk_create(
            [
                Event(
                    organization_id=record.organization_id,
                    record_id=record.pk,
                    connection_id=conn,
                    kind=kind,
                    message=message,
                    data=data,
                    created_at=at,
                )
                for record, (_, timeline) in zip(saved, batch, strict=True)
                for kind, message, data, conn, at in timeline
            ],
            batch_size=2000,
        )
