"""Chaos run: the product's own processes under infrastructure faults, then the books checked.

One driver for `bench/chaos.py` (hundreds of orders, three worker kills, a Redis restart, a gunicorn
restart) and `tests/reliability/test_chaos.py` (a few dozen orders, one kill, one Redis restart).

The driver owns its processes (tests/processes.py): a redis-server on a free port (locks, buckets,
the inbox doorbell and, by default, the broker), gunicorn serving the product *and* the sandboxes
(SANDBOX_ENABLED: the vendors live under /sandbox/<system>/ of the same server, so a gunicorn restart
is a vendor outage too), Celery workers on the Procfile's queues and beat. It makes one organisation
per flow with its own sandbox accounts (the demo's provisioning: `<system>.sandbox.provision`), then,
on a seeded schedule:

- creates orders in the source sandbox, with edits, cancellations, shipments and voided labels
  along the way (through the sandbox's own state functions, as a person using the vendor's UI would);
- turns the vendors' faults on: 10% 5xx and 5% 429 on every API call, 50% duplicate webhooks,
  webhooks sent out of order (ShipStation's outbox is sent in a shuffled order by the driver;
  WooCommerce holds deliveries back with its `out_of_order_rate` knob);
- SIGKILLs a Celery worker (and starts a new one), stops Redis and starts it again empty after
  `redis_down_seconds`, restarts gunicorn;
- lifts the faults, and waits for calm with a deadline: no record pending, no delivery waiting, the
  sandbox outboxes sent, and two polls of every flow finished after the last change (a change that
  fires no webhook, an edit or a void, is found by a poll);
- checks the books against the sandboxes' own tables, never our Links: one document per order with
  the order's total, cancelled orders voided (or never written), one balanced journal per live
  shipment, a voided label's journal reversed (the pair nets to zero on every account), no duplicate
  contact, no record stuck, every failed record with remediation text, every webhook the sandbox
  sent stored as a Delivery and processed (or recognised as a duplicate).

Clocks. Vendor rate windows run on a scaled clock (`time_scale`: 0.2 makes ShipStation's 40 calls a
minute 40 per 12 s and Zoho's 100 a minute 500), and so does the product's recovery clock
(settings.RECOVERY_TIME_SCALE: record leases, delivery claims, the sweep's period and graces), by the
same factor, so recovery weighs in the run what it weighs at full scale. The Redis outage is not
scaled. The settle bound is computed from the vendors' limits and the calls the product made (the
calls each sandbox answered, from gunicorn's access log): calls / (the vendor's limit per second,
summed over the run's accounts there), the longest over the vendors: the time the run's calls need
at the vendors' limits. The settle time (faults lifted to the product's last write to a vendor or
last webhook delivery processed) must not exceed twice that; the time until calm was proven (two
polls after the faults, nothing waiting) is reported beside it.

The driver process itself uses Django (the caller sets it up, with REDIS_URL and PUBLIC_BASE_URL
naming the processes started here) only to make rows and read them; it queues no Celery task.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import requests

from tests.processes import (
    QUEUES,
    amqp_reachable,
    free_port,
    kill,
    launch_beat,
    launch_redis,
    launch_web,
    launch_worker,
    purge_queues,
    stop,
    wait_ready,
)

FLOWS = ("shipstation-zoho", "woocommerce-zoho", "exact-shipstation")
# `--broker amqp` uses a RabbitMQ vhost of its own (`rabbitmqctl add_vhost chaos` and
# `rabbitmqctl set_permissions -p chaos guest ".*" ".*" ".*"`): the run purges its queues at the start
# and its workers must not take anyone else's tasks from the default vhost.
AMQP_URL = os.environ.get("CHAOS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/chaos")

# The vendors' documented limits (DESIGN §6), before scaling.
SHIPSTATION_PER_MINUTE = 40
ZOHO_PER_MINUTE = 100
EXACT_PER_MINUTE = 60


@dataclass
class Plan:
    orders: int = 300
    seed: int = 1
    flows: tuple[str, ...] = ("shipstation-zoho",)
    broker: str = "redis"
    time_scale: float = 0.2
    workers: int = 2
    worker_kills: int = 3
    redis_restarts: int = 1
    redis_down_seconds: float = 10.0
    web_restarts: int = 1
    db_kills: int = 1  # every PostgreSQL connection of the run's processes terminated at once
    # Faults: the figures.
    error_rate: float = 0.10
    rate_429: float = 0.05
    duplicate_rate: float = 0.5
    out_of_order_rate: float = 0.2
    calm_timeout: float = 900.0

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_seconds: float = 0.0
    settle_seconds: float = 0.0  # faults lifted to the last piece of work done
    calm_seconds: float = 0.0  # faults lifted to calm proven (two polls after, nothing waiting)
    bound_seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)

    @property
    def over_bound(self) -> bool:
        return self.settle_seconds > 2 * self.bound_seconds

    def lines(self) -> list[str]:
        out = [f"  faults: {'; '.join(self.faults)}"]
        out += [f"  {name}: {value}" for name, value in sorted(self.counts.items())]
        out += [f"  calls {name}: {value}" for name, value in sorted(self.calls.items())]
        out.append(
            f"  run (first change to calm) {self.run_seconds:.1f} s, calm proven {self.calm_seconds:.1f} s after "
            f"the faults were lifted; settle (faults lifted to the last write or delivery done) "
            f"{self.settle_seconds:.1f} s, vendor-limit bound {self.bound_seconds:.1f} s "
            f"(settle / bound {self.settle_seconds / max(self.bound_seconds, 1e-9):.2f}, budget <= 2)"
        )
        out += [f"  note: {n}" for n in self.notes]
        out += [f"  VIOLATION: {v}" for v in self.violations]
        return out


# --- The processes ---------------------------------------------------------------------------------


class Cluster:
    """redis-server, gunicorn, Celery workers and beat on one database, each restartable."""

    def __init__(self, tmp: Path, plan: Plan):
        self.tmp, self.plan = tmp, plan
        self.redis_port, self.web_port = free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.redis: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.env: dict[str, str] = {}
        self._worker_serial = 0

    def start_redis(self) -> None:
        self.redis = launch_redis(self.redis_port, self.tmp / "redis.log", self.tmp)
        wait_ready([self.redis], timeout=30)

    def start(self, database_url: str) -> None:
        """Everything but Redis (started first: the driver's own Django needs its URL)."""
        broker = self.redis_url if self.plan.broker == "redis" else AMQP_URL
        if self.plan.broker == "amqp":
            if not amqp_reachable(AMQP_URL):
                raise RuntimeError(f"RabbitMQ not reachable at {AMQP_URL.rsplit('@', 1)[-1]} (set CHAOS_AMQP_URL)")
            purge_queues(AMQP_URL)
        scale = self.plan.time_scale
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": broker,
            "PUBLIC_BASE_URL": self.base_url,
            "SANDBOX_ENABLED": "true",
            "SANDBOX_ALLOWED_WITHOUT_DEBUG": "true",
            "RECOVERY_TIME_SCALE": str(scale),
            "SYNC_BACKOFF_SECONDS": str(max(0.2, 5.0 * scale)),
        }
        self.web, _ = launch_web(self.env, self.tmp / "web.log", port=self.web_port, workers=2, threads=8)
        for _ in range(self.plan.workers):
            self.workers.append(self._worker())
        self.beat = launch_beat(self.env, self.tmp / "beat.log", self.tmp / "celerybeat-schedule")
        wait_ready([self.web, *self.workers, self.beat])

    def _worker(self) -> subprocess.Popen:
        self._worker_serial += 1
        name = f"chaos{self._worker_serial}"
        return launch_worker(name, QUEUES, self.env, self.tmp / f"worker-{name}.log", concurrency=4)

    def kill_worker(self, index: int) -> None:
        """SIGKILL one worker mid-run and start a fresh one in its place (a supervisor would)."""
        victim = self.workers[index % len(self.workers)]
        kill(victim)
        self.workers[self.workers.index(victim)] = replacement = self._worker()
        wait_ready([replacement])

    def stop_redis(self) -> None:
        kill(self.redis)

    def restart_web(self) -> None:
        stop(self.web)
        self.web, _ = launch_web(self.env, self.tmp / "web.log", port=self.web_port, workers=2, threads=8)
        wait_ready([self.web])

    def count_calls_from_here(self) -> None:
        self._log_mark = (self.tmp / "web.log").stat().st_size

    def sandbox_calls(self) -> Counter:
        """Calls each vendor's sandbox answered since `count_calls_from_here`, from gunicorn's access
        log (the sandboxes' own counters live in Redis, which the run restarts empty). Per vendor, not
        per account: the access log's paths are redacted."""
        calls: Counter = Counter()
        with open(self.tmp / "web.log", "rb") as log:
            log.seek(getattr(self, "_log_mark", 0))
            for line in log:
                match = re.search(rb'"[A-Z]+ /sandbox/([a-z]+)/', line)
                if match and not line.startswith(b"{"):
                    calls[match.group(1).decode()] += 1
        return calls

    def stop(self) -> None:
        for process in [*self.workers, self.beat, self.web, self.redis]:
            if process is not None:
                with contextlib.suppress(Exception):
                    stop(process)


# --- Sandbox helpers -------------------------------------------------------------------------------


def paced(connection, per_minute: float) -> None:
    """The product paces this connection by the sandbox's scaled window, as it paces the real vendor
    by its real one (a connection's `rate_limit_per_minute`); unpaced, it would run at a fifth of the
    rate the settle bound assumes."""
    connection.settings = {**connection.settings, "rate_limit_per_minute": round(per_minute)}
    connection.save(update_fields=["settings"])


def body_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def delivered_hashes(connection) -> tuple[set[str], Counter]:
    """Hashes of the bodies stored as Deliveries of `connection`, and their statuses."""
    from connector.models import Delivery

    hashes, statuses = set(), Counter()
    for body, status in Delivery.objects.filter(connection=connection).values_list("body", "status"):
        hashes.add(body_hash(bytes(body)))
        statuses[status] += 1
    return hashes, statuses


def balanced(lines: list[dict], *, key="debit_or_credit", amount="amount") -> bool:
    debit = sum(Decimal(str(x[amount])) for x in lines if x[key] == "debit")
    credit = sum(Decimal(str(x[amount])) for x in lines if x[key] == "credit")
    return debit == credit and debit > 0


def nets_to_zero(journals: list[dict]) -> bool:
    """A journal and its reversal: every account's debits equal its credits over the pair."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    for journal in journals:
        for line in journal["line_items"]:
            sign = 1 if line["debit_or_credit"] == "debit" else -1
            net[str(line["account_id"])] += sign * Decimal(str(line["amount"]))
    return all(v == 0 for v in net.values())


# --- Scenarios: one organisation, one flow, its sandboxes ---------------------------------------------


class Scenario:
    """One flow under chaos. Subclasses make the accounts, act in the source, send its outbox and
    check the books."""

    name = ""
    preset = ""

    def __init__(self, plan: Plan, rng: random.Random, tag: str):
        from django.contrib.auth import get_user_model

        from accounts.models import Membership, Organization

        self.plan, self.rng, self.tag = plan, rng, tag
        self.org = Organization.objects.create(name=f"Chaos {self.name} {tag}")
        user = get_user_model().objects.create_user(f"chaos-{self.name}-{tag}", f"{self.name}-{tag}@example.com", "x")
        Membership.objects.create(user=user, organization=self.org, role="owner")
        self.flow = None
        self.source = self.target = None
        self.hooks = None  # the connection the sandbox's webhooks arrive on (the source, unless set)
        self.actions = Counter()

    def make_flow(self, options: dict) -> None:
        from django.utils import timezone

        from connector.models import Flow
        from connector.registry import get_preset

        preset = get_preset(self.preset)
        self.flow = Flow.objects.create(
            organization=self.org,
            preset=self.preset,
            name=preset.name,
            source=self.source,
            target=self.target,
            options={**preset.default_options, **options},
            enabled=True,
            interval_seconds=max(5, round(self.plan.scaled(120))),
            next_run_at=timezone.now(),
        )

    # Subclasses: faults(on), step(i), send(), outbox_idle(), check(report), vendor_limits()
    def faults(self, on: bool) -> None:
        raise NotImplementedError

    def step(self, i: int) -> None:
        raise NotImplementedError

    def send(self) -> None:
        """Send what the sandbox queued for our webhook URL (no-op for senders that send at once)."""

    def during_outage(self, base_url: str) -> None:
        """While Redis is down: deliver again a webhook the sandbox sent before (a vendor's retry)."""

    def finish(self) -> None:
        """After the faults: let the sandbox send what it still holds back."""

    def outbox_idle(self) -> bool:
        return True

    def vendor_limits(self) -> dict[str, float]:
        """{vendor: this scenario's account's limit there, in calls per second on the scaled clock}."""
        raise NotImplementedError

    def check(self, report: Report) -> None:
        raise NotImplementedError

    # Shared checks -------------------------------------------------------------------------------

    def check_records(self, report: Report) -> None:
        from connector.models import Record

        records = Record.objects.filter(flow=self.flow)
        by_status = Counter(records.values_list("status", flat=True))
        for status, n in by_status.items():
            report.counts[f"{self.name} records {status}"] = n
        stuck = records.filter(status__in=["pending", "needs_review"])
        for r in stuck[:10]:
            report.violations.append(f"{self.name}: record {r.object_type} {r.source_ref} stuck {r.status}")
        if stuck.count() > 10:
            report.violations.append(f"{self.name}: {stuck.count()} records stuck in all")
        for r in records.filter(status="failed"):
            if not r.remediation.strip():
                report.violations.append(f"{self.name}: failed {r.object_type} {r.source_ref} has no remediation")
            else:
                report.notes.append(f"{self.name}: failed {r.object_type} {r.source_ref}: {r.last_error[:120]}")

    def check_deliveries(self, report: Report, sent: list[bytes]) -> None:
        """Every body the sandbox sent (a 2xx answer) is stored and was processed or a duplicate."""
        hashes, statuses = delivered_hashes(self.hooks or self.source)
        missing = [raw for raw in sent if body_hash(raw) not in hashes]
        report.counts[f"{self.name} webhooks sent by the sandbox"] = len(sent)
        report.counts[f"{self.name} deliveries stored"] = sum(statuses.values())
        for status, n in statuses.items():
            report.counts[f"{self.name} deliveries {status}"] = n
        if missing:
            report.violations.append(f"{self.name}: {len(missing)} sent webhooks not stored, e.g. {missing[0][:200]!r}")
        waiting = sum(n for s, n in statuses.items() if s not in ("processed", "duplicate"))
        if waiting:
            report.violations.append(f"{self.name}: {waiting} deliveries not processed ({dict(statuses)})")


class ShipStationZoho(Scenario):
    """ShipStation orders → Zoho Books invoices; shipments → journals; voided labels reversed."""

    name = "shipstation-zoho"
    preset = "shipstation_zoho"

    def __init__(self, plan, rng, tag):
        super().__init__(plan, rng, tag)
        from integrations.shipstation.sandbox import provision as ss_provision
        from integrations.shipstation.sandbox.models import SandboxAccount
        from integrations.zoho.sandbox import provision as zoho_provision
        from integrations.zoho.sandbox import state as zoho_state

        self.account = SandboxAccount.objects.create(
            name=f"Chaos store {tag}",
            organization=self.org,
            auto_deliver_webhooks=False,  # the driver sends the outbox, shuffled
            rate_window_seconds=plan.scaled(60),
            seed=plan.seed,
        )
        self.source = ss_provision.connect(self.org, self.account)
        paced(self.source, SHIPSTATION_PER_MINUTE / plan.time_scale)
        self.books = zoho_state.create_org(
            "us", f"books-{tag}@chaos.example", f"Chaos Books {tag}", organization=self.org
        )
        self.books.rate_limit_per_minute = round(ZOHO_PER_MINUTE / plan.time_scale)
        self.books.daily_limit = 10**7
        self.books.save()
        self.target = zoho_provision.connect(self.org, self.books)
        paced(self.target, self.books.rate_limit_per_minute)
        self.make_flow(
            {
                "shipment_mode": "journal",
                "expense_account_id": zoho_state.account_id(self.books, "Shipping Expense"),
                "offset_account_id": zoho_state.account_id(self.books, "Petty Cash"),
            }
        )
        self.open: list[str] = []  # order numbers still open (editable, cancellable, shippable)
        self.shipped: list[int] = []  # shipment ids not voided
        self.resent: list[tuple[bytes, int]] = []  # (body, our answer) of deliveries sent during the outage

    def vendor_limits(self):
        window = self.plan.scaled(60)
        return {"shipstation": SHIPSTATION_PER_MINUTE / window, "zoho": self.books.rate_limit_per_minute / 60.0}

    def faults(self, on: bool) -> None:
        from integrations.shipstation.sandbox.models import SandboxAccount
        from integrations.zoho.sandbox import faults as zoho_faults

        p = self.plan
        SandboxAccount.objects.filter(pk=self.account.pk).update(
            fault_5xx_rate=p.error_rate if on else 0.0,
            fault_429_rate=p.rate_429 if on else 0.0,
            duplicate_webhook_rate=p.duplicate_rate if on else 0.0,
        )
        self.books.refresh_from_db()
        knobs = {"error_rate": p.error_rate, "rate_429": p.rate_429} if on else {"error_rate": 0.0, "rate_429": 0.0}
        errors = zoho_faults.apply_settings(
            self.books, {**knobs, "seed": p.seed, "retry_after_seconds": max(1, round(p.scaled(60)))}
        )
        assert not errors, errors

    def _body(self, number: str, quantity: int, price: str, status: str = "awaiting_shipment") -> dict:
        address = {"name": "Chaos Buyer", "street1": "1 Main St", "city": "Austin", "state": "TX",
                   "postalCode": "78701", "country": "US"}  # fmt: skip
        return {
            "orderNumber": number,
            "orderKey": f"chaos-{number}",
            "orderDate": "2026-11-01 10:00:00",
            "orderStatus": status,
            "customerEmail": f"buyer{int(number.rsplit('-', 1)[1]) % 17}@chaos.example",
            "billTo": address,
            "shipTo": address,
            "items": [
                {
                    "lineItemKey": "L1",
                    "sku": "CHAOS-1",
                    "name": "Widget",
                    "quantity": quantity,
                    "unitPrice": float(price),
                    "taxAmount": 0,
                }
            ],  # fmt: skip
            "amountPaid": float(Decimal(price) * quantity + 5),
            "shippingAmount": 5,
            "taxAmount": 0,
        }

    def step(self, i: int) -> None:
        from integrations.shipstation.sandbox import state
        from integrations.shipstation.sandbox.models import SandboxOrder

        number = f"SZ{self.tag}-{i:04d}"
        state.upsert_order(self.account, self._body(number, self.rng.randint(1, 3), self.rng.choice(["9.99", "12.50"])))
        self.open.append(number)
        self.actions["created"] += 1
        roll = self.rng.random()
        if len(self.open) < 3:
            return
        target = self.rng.choice(self.open[:-1])
        order = SandboxOrder.objects.get(account=self.account, order_number=target)
        if roll < 0.15:  # edit: no webhook, the poll finds it
            data = order.data
            state.upsert_order(self.account, self._body(target, data["items"][0]["quantity"] + 1, "12.50"))
            self.actions["edited"] += 1
        elif roll < 0.25:
            state.upsert_order(self.account, {**order.data, "orderStatus": "cancelled"})
            self.open.remove(target)
            self.actions["cancelled"] += 1
        elif roll < 0.55:
            shipment = state.create_label(
                self.account,
                {
                    "orderId": order.pk,
                    "carrierCode": "stamps_com",
                    "serviceCode": "usps_priority_mail",
                    "shipDate": datetime.now(UTC).date().isoformat(),
                    "shipmentCost": self.rng.choice([6.5, 7.25]),
                },  # fmt: skip
            )
            self.open.remove(target)
            self.shipped.append(shipment.pk)
            self.actions["shipped"] += 1
        posted = [pk for pk in self.shipped if self._posted(pk)]
        if posted and self.rng.random() < 0.15:  # void a posted label: no webhook, the poll finds it
            shipment_id = self.rng.choice(posted)
            self.shipped.remove(shipment_id)
            state.void_label(self.account, shipment_id)
            self.actions["voided"] += 1

    def _posted(self, shipment_id: int) -> bool:
        """Its journal is in Zoho already (a void then needs a reversal, not just no posting)."""
        from integrations.shipstation.sandbox.models import SandboxShipment
        from integrations.zoho.sandbox.models import SandboxZohoDocument

        number = SandboxShipment.objects.filter(pk=shipment_id).values_list("order__order_number", flat=True).get()
        return SandboxZohoDocument.objects.filter(org=self.books, kind="journal", reference_number=number).exists()

    def send(self) -> None:
        """Send the pending calls one by one in a shuffled order (reordered webhooks)."""
        from integrations.shipstation.sandbox.delivery import deliver_pending
        from integrations.shipstation.sandbox.models import SandboxWebhookCall

        ids = list(
            SandboxWebhookCall.objects.filter(webhook__account=self.account, status="pending").values_list(
                "id", flat=True
            )
        )
        self.rng.shuffle(ids)
        for call_id in ids:
            deliver_pending([call_id])

    def during_outage(self, base_url: str) -> None:
        from integrations.shipstation.sandbox.models import SandboxWebhookCall

        call = SandboxWebhookCall.objects.filter(webhook__account=self.account, status="sent").order_by("?").first()
        if call is not None:
            with contextlib.suppress(requests.RequestException):
                response = requests.post(call.webhook.target_url, data=json.dumps(call.body).encode(),
                                         headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
                self.resent.append((json.dumps(call.body).encode(), response.status_code))

    def outbox_idle(self) -> bool:
        from integrations.shipstation.sandbox.models import SandboxWebhookCall

        return not SandboxWebhookCall.objects.filter(
            webhook__account=self.account, status__in=["pending", "sending"]
        ).exists()

    def check(self, report: Report) -> None:
        from integrations.shipstation.sandbox.models import SandboxOrder, SandboxShipment, SandboxWebhookCall
        from integrations.shipstation.sandbox.state import order_total
        from integrations.zoho.sandbox.models import SandboxZohoDocument

        name = self.name
        docs = SandboxZohoDocument.objects.filter(org=self.books)
        invoices = defaultdict(list)
        for doc in docs.filter(kind="invoice"):
            invoices[doc.reference_number].append(doc.data)
        journals = defaultdict(list)
        for doc in docs.filter(kind="journal"):
            journals[doc.reference_number].append(doc.data)
        orders = list(SandboxOrder.objects.filter(account=self.account))
        numbers = {o.order_number for o in orders}
        report.counts[f"{name} orders"] = len(orders)
        report.counts[f"{name} invoices"] = sum(len(v) for v in invoices.values())
        report.counts[f"{name} journals"] = sum(len(v) for v in journals.values())
        for order in orders:
            found = invoices.get(order.order_number, [])
            if order.status == "cancelled":
                if len(found) > 1 or (found and found[0].get("status") != "void"):
                    report.violations.append(f"{name}: cancelled {order.order_number} -> {_docs(found)}")
                continue
            if len(found) != 1:
                report.violations.append(f"{name}: {order.order_number} has {len(found)} invoices")
                continue
            if Decimal(str(found[0]["total"])) != order_total(order.data):
                report.violations.append(
                    f"{name}: {order.order_number} invoice total {found[0]['total']} != {order_total(order.data)}"
                )
            if found[0].get("status") == "void":
                report.violations.append(f"{name}: live order {order.order_number} has a void invoice")
        for extra in set(invoices) - numbers:
            report.violations.append(f"{name}: invoice for unknown reference {extra!r}")
        live = voided = 0
        for shipment in SandboxShipment.objects.filter(account=self.account).select_related("order"):
            posted = journals.get(shipment.order.order_number, [])
            if not all(balanced(j["line_items"]) for j in posted):
                report.violations.append(f"{name}: unbalanced journal for {shipment.order.order_number}")
            if shipment.voided:
                voided += 1
                if len(posted) not in (0, 2) or not nets_to_zero(posted):
                    report.violations.append(
                        f"{name}: voided label of {shipment.order.order_number} -> {len(posted)} journals, not reversed"
                    )
            else:
                live += 1
                if len(posted) != 1 or Decimal(str(posted[0]["total"])) != shipment.shipment_cost:
                    report.violations.append(
                        f"{name}: shipment of {shipment.order.order_number} -> {len(posted)} journals "
                        f"({[j.get('total') for j in posted]}, cost {shipment.shipment_cost})"
                    )
        report.counts[f"{name} live shipments"] = live
        report.counts[f"{name} voided labels"] = voided
        contacts = Counter(e.lower() for e in docs.filter(kind="contact").values_list("email", flat=True) if e)
        for email, n in contacts.items():
            if n > 1:
                report.violations.append(f"{name}: {n} Zoho contacts for {email}")
        calls = SandboxWebhookCall.objects.filter(webhook__account=self.account)
        sent = [json.dumps(c.body).encode() for c in calls.filter(status="sent")]
        sent += [body for body, status in self.resent if status < 300]
        report.counts[f"{name} webhooks delivered during the Redis outage"] = sum(s < 300 for _, s in self.resent)
        unsent = calls.exclude(status="sent").count()
        if unsent:
            report.notes.append(f"{name}: {unsent} webhook calls the sandbox could not send (our server was down)")
        self.check_deliveries(report, sent)
        self.check_records(report)


class WooCommerceZoho(Scenario):
    """WooCommerce orders → Zoho Books invoices (items by SKU, contacts by email); cancelled → void."""

    name = "woocommerce-zoho"
    preset = "woocommerce_zoho"

    def __init__(self, plan, rng, tag):
        super().__init__(plan, rng, tag)
        from integrations.woocommerce.sandbox import provision as woo_provision
        from integrations.woocommerce.sandbox.views import create_store
        from integrations.zoho.sandbox import provision as zoho_provision
        from integrations.zoho.sandbox import state as zoho_state

        self.shop = create_store(f"chaos-{tag}", name=f"Chaos shop {tag}", tax_rate="0.1", organization=self.org)
        self.source = woo_provision.connect(self.org, self.shop)
        self.books = zoho_state.create_org(
            "us", f"woo-{tag}@chaos.example", f"Chaos Woo Books {tag}", organization=self.org
        )
        self.books.rate_limit_per_minute = round(ZOHO_PER_MINUTE / plan.time_scale)
        self.books.daily_limit = 10**7
        self.books.save()
        self.target = zoho_provision.connect(self.org, self.books)
        paced(self.target, self.books.rate_limit_per_minute)
        self.make_flow({})
        self.open: list[int] = []

    def vendor_limits(self):
        return {"zoho": self.books.rate_limit_per_minute / 60.0}

    def faults(self, on: bool) -> None:
        from integrations.woocommerce.sandbox.faults import clean_faults, reset_generator
        from integrations.zoho.sandbox import faults as zoho_faults

        p = self.plan
        knobs = (
            {
                "error_rate": p.error_rate,
                "rate_429": p.rate_429,
                "duplicate_rate": p.duplicate_rate,
                "out_of_order_rate": p.out_of_order_rate,
                "retry_after": 1,
                "seed": p.seed,
            }  # fmt: skip
            if on
            else {}
        )
        self.shop.refresh_from_db()
        self.shop.faults = clean_faults(knobs)
        self.shop.save(update_fields=["faults"])
        reset_generator(self.shop)
        self.books.refresh_from_db()
        zoho_knobs = (
            {"error_rate": p.error_rate, "rate_429": p.rate_429} if on else {"error_rate": 0.0, "rate_429": 0.0}
        )
        errors = zoho_faults.apply_settings(
            self.books, {**zoho_knobs, "seed": p.seed + 1, "retry_after_seconds": max(1, round(p.scaled(60)))}
        )
        assert not errors, errors

    def step(self, i: int) -> None:
        from integrations.woocommerce.sandbox.models import SandboxOrder
        from integrations.woocommerce.sandbox.store import create_order, update_order

        self.shop.refresh_from_db()  # the faults as last set
        n = i % 13
        order = create_order(
            self.shop,
            {
                "status": "processing",
                "billing": {"first_name": "Chaos", "last_name": f"Buyer{n}", "email": f"buyer{n}@woo.example"},
                "line_items": [
                    {"sku": self.rng.choice(["WOO-HAT", "WOO-MUG", "WOO-TEE"]), "quantity": self.rng.randint(1, 3)}
                ],  # fmt: skip
                "shipping_lines": [{"method_title": "Flat rate", "total": "5.00"}],
            },
        )
        self.open.append(order.pk)
        self.actions["created"] += 1
        if len(self.open) < 3:
            return
        roll = self.rng.random()
        target = SandboxOrder.objects.get(pk=self.rng.choice(self.open[:-1]))
        if roll < 0.2:
            line = target.data["line_items"][0]
            update_order(self.shop, target, {"line_items": [{"id": line["id"], "quantity": line["quantity"] + 1}]})
            self.actions["edited"] += 1
        elif roll < 0.3:
            update_order(self.shop, target, {"status": "cancelled"})
            self.open.remove(target.pk)
            self.actions["cancelled"] += 1
        elif roll < 0.45:
            update_order(self.shop, target, {"status": "completed"})
            self.open.remove(target.pk)
            self.actions["completed"] += 1

    def finish(self) -> None:
        from integrations.woocommerce.sandbox.delivery import flush_held

        self.shop.refresh_from_db()
        flush_held(self.shop)

    def outbox_idle(self) -> bool:
        """Nothing held back by the out-of-order knob and nothing still to send in the store's outbox."""
        from integrations.woocommerce.sandbox.models import SandboxWebhookOutbox

        waiting = SandboxWebhookOutbox.objects.filter(webhook__store=self.shop)
        return (
            not waiting.filter(held=True).exists()
            and not waiting.filter(status__in=["pending", "claimed", "sending"], held=False).exists()
        )

    def check(self, report: Report) -> None:
        from integrations.woocommerce.sandbox.models import SandboxDeliveryLog, SandboxOrder
        from integrations.zoho.sandbox.models import SandboxZohoDocument

        name = self.name
        docs = SandboxZohoDocument.objects.filter(org=self.books)
        invoices = defaultdict(list)
        for doc in docs.filter(kind="invoice"):
            invoices[doc.reference_number].append(doc.data)
        orders = list(SandboxOrder.objects.filter(store=self.shop))
        report.counts[f"{name} orders"] = len(orders)
        report.counts[f"{name} invoices"] = sum(len(v) for v in invoices.values())
        numbers = set()
        for order in orders:
            number = str(order.data["number"])
            numbers.add(number)
            found = invoices.get(number, [])
            if order.status == "cancelled":
                if len(found) > 1 or (found and found[0].get("status") != "void"):
                    report.violations.append(f"{name}: cancelled #{number} -> {_docs(found)}")
                continue
            if len(found) != 1:
                report.violations.append(f"{name}: #{number} has {len(found)} invoices")
            elif Decimal(str(found[0]["total"])) != Decimal(order.data["total"]):
                report.violations.append(
                    f"{name}: #{number} invoice total {found[0]['total']} != {order.data['total']}"
                )
        for extra in set(invoices) - numbers:
            report.violations.append(f"{name}: invoice for unknown reference {extra!r}")
        for kind, key in (("contact", "email"), ("item", "name")):
            values = Counter(v.lower() for v in docs.filter(kind=kind).values_list(key, flat=True) if v)
            for value, n in values.items():
                if n > 1:
                    report.violations.append(f"{name}: {n} Zoho {kind}s for {value}")
        logs = SandboxDeliveryLog.objects.filter(webhook__store=self.shop, ping=False)
        sent = [log.body.encode() for log in logs if log.response_code and 200 <= log.response_code <= 302]
        refused = logs.exclude(response_code__gte=200, response_code__lte=302).count()
        if refused:
            report.notes.append(f"{name}: {refused} deliveries the store could not send (our server was down)")
        self.check_deliveries(report, sent)
        self.check_records(report)


class ExactShipStation(Scenario):
    """Exact Online sales orders → ShipStation orders; ShipStation shipments → balanced Exact general
    journal entries; a voided label's entry reversed; an order cancelled in Exact cancelled in
    ShipStation. Exact answers no injected faults (the issue's 5xx and 429 come from ShipStation and
    Zoho); ShipStation, the target here and the webhook sender, does."""

    name = "exact-shipstation"
    preset = "exact_shipstation"

    def __init__(self, plan, rng, tag):
        super().__init__(plan, rng, tag)
        from integrations.exact.sandbox import provision as exact_provision
        from integrations.exact.sandbox import state as exact_state
        from integrations.shipstation.sandbox import provision as ss_provision
        from integrations.shipstation.sandbox.models import SandboxAccount

        _, (self.division,) = exact_state.create_company(
            "nl", f"exact-{tag}@chaos.example", f"Chaos BV {tag}", organization=self.org
        )
        self.division.faults = {"minutely_limit": round(EXACT_PER_MINUTE / plan.time_scale), "daily_limit": 10**7}
        self.division.save(update_fields=["faults"])
        self.source = exact_provision.connect(self.org, self.division)
        paced(self.source, EXACT_PER_MINUTE / plan.time_scale)
        self.account = SandboxAccount.objects.create(
            name=f"Chaos warehouse {tag}",
            organization=self.org,
            auto_deliver_webhooks=False,
            rate_window_seconds=plan.scaled(60),
            seed=plan.seed + 2,
        )
        self.target = ss_provision.connect(self.org, self.account)
        paced(self.target, SHIPSTATION_PER_MINUTE / plan.time_scale)
        self.hooks = self.target  # ShipStation sends this flow's webhooks (SHIP_NOTIFY)
        gl = {r.data["Code"]: r.guid for r in self.division.entities.filter(entity="GLAccounts")}
        self.make_flow(
            {"exact_expense_gl_account": gl["4600"], "exact_offset_gl_account": gl["1600"], "exact_journal_code": "90"}
        )
        entities = self.division.entities
        self.customer = entities.get(entity="Accounts").guid
        self.address = entities.get(entity="Addresses").guid
        self.item = entities.get(entity="Items").guid
        self.seeded = set(entities.filter(entity="SalesOrders").values_list("guid", flat=True))
        self.open: list[str] = []  # Exact order ids not cancelled and not shipped
        self.shipped: list[int] = []
        self.resent: list[tuple[bytes, int]] = []

    def vendor_limits(self):
        window = self.plan.scaled(60)
        return {"shipstation": SHIPSTATION_PER_MINUTE / window, "exact": EXACT_PER_MINUTE / window}

    def faults(self, on: bool) -> None:
        from integrations.shipstation.sandbox.models import SandboxAccount

        p = self.plan
        SandboxAccount.objects.filter(pk=self.account.pk).update(
            fault_5xx_rate=p.error_rate if on else 0.0,
            fault_429_rate=p.rate_429 if on else 0.0,
            duplicate_webhook_rate=p.duplicate_rate if on else 0.0,
        )

    def step(self, i: int) -> None:
        from integrations.exact.sandbox import state as exact_state
        from integrations.shipstation.sandbox import state as ss_state
        from integrations.shipstation.sandbox.models import SandboxOrder

        row = exact_state.add_sales_order(
            self.division, 1000 + i, self.customer, self.address, self.item,
            tuple(self.rng.randint(1, 3) for _ in range(self.rng.randint(1, 2))),
            price=self.rng.choice([7.99, 12.5]),
        )  # fmt: skip
        self.open.append(row.guid)
        self.actions["created"] += 1
        if len(self.open) < 3:
            return
        roll = self.rng.random()
        target = self.rng.choice(self.open[:-1])
        placed = SandboxOrder.objects.filter(account=self.account, order_key=target).first()
        if roll < 0.08 and placed is None:  # cancelled in Exact before the warehouse saw it
            so = self.division.entities.get(entity="SalesOrders", guid=target).data
            exact_state.put(self.division, "SalesOrders", {**so, "Status": 45}, guid=target)
            self.open.remove(target)
            self.actions["cancelled"] += 1
        elif roll < 0.5 and placed is not None and placed.status == "awaiting_shipment":
            shipment = ss_state.create_label(
                self.account,
                {"orderId": placed.pk, "carrierCode": "ups", "serviceCode": "ups_ground",
                 "shipDate": datetime.now(UTC).date().isoformat(), "shipmentCost": self.rng.choice([4.5, 7.31])},
            )  # fmt: skip
            self.open.remove(target)
            self.shipped.append(shipment.pk)
            self.actions["shipped"] += 1
        posted = [pk for pk in self.shipped if self._posted(pk)]
        if posted and self.rng.random() < 0.15:  # void a posted label: its entry must be reversed
            shipment_id = self.rng.choice(posted)
            self.shipped.remove(shipment_id)
            ss_state.void_label(self.account, shipment_id)
            self.actions["voided"] += 1

    def _posted(self, shipment_id: int) -> bool:
        from integrations.exact.sandbox.models import SandboxExactEntity
        from integrations.shipstation.sandbox.models import SandboxShipment

        tracking = SandboxShipment.objects.filter(pk=shipment_id).values_list("tracking_number", flat=True).get()
        return SandboxExactEntity.objects.filter(
            division=self.division, entity="GeneralJournalEntryLines", data__Description__icontains=tracking
        ).exists()

    send = ShipStationZoho.send
    during_outage = ShipStationZoho.during_outage
    outbox_idle = ShipStationZoho.outbox_idle

    def check(self, report: Report) -> None:
        from integrations.exact.sandbox.models import SandboxExactEntity
        from integrations.shipstation.sandbox.models import SandboxOrder, SandboxShipment, SandboxWebhookCall

        name = self.name
        rows = SandboxExactEntity.objects.filter(division=self.division)
        orders = [r.data for r in rows.filter(entity="SalesOrders").exclude(guid__in=self.seeded)]
        lines = defaultdict(list)
        for r in rows.filter(entity="SalesOrderLines"):
            lines[r.data["OrderID"]].append(r.data)
        placed = defaultdict(list)
        for o in SandboxOrder.objects.filter(account=self.account):
            placed[o.order_key].append(o)
        report.counts[f"{name} Exact sales orders"] = len(orders)
        report.counts[f"{name} ShipStation orders"] = sum(len(v) for v in placed.values())
        for so in orders:
            found = placed.get(so["OrderID"], [])
            if so.get("Status") == 45:
                if len(found) > 1 or (found and found[0].status != "cancelled"):
                    report.violations.append(f"{name}: cancelled {so['OrderNumber']} -> {[o.status for o in found]}")
                continue
            if len(found) != 1:
                report.violations.append(f"{name}: sales order {so['OrderNumber']} -> {len(found)} ShipStation orders")
                continue
            wanted = sorted(int(x["Quantity"]) for x in lines[so["OrderID"]])
            got = sorted(int(i["quantity"]) for i in found[0].data.get("items") or [])
            if wanted != got:
                report.violations.append(f"{name}: sales order {so['OrderNumber']} items {got} != {wanted}")
        entry_lines = defaultdict(list)
        for r in rows.filter(entity="GeneralJournalEntryLines"):
            entry_lines[r.data["EntryID"]].append(r.data)
        entries = [
            {**r.data, "lines": entry_lines[r.data["EntryID"]]} for r in rows.filter(entity="GeneralJournalEntries")
        ]
        report.counts[f"{name} Exact journal entries"] = len(entries)
        live = voided = 0
        for shipment in SandboxShipment.objects.filter(account=self.account):
            mine = [
                e for e in entries if any(shipment.tracking_number in (x.get("Description") or "") for x in e["lines"])
            ]
            if any(sum(Decimal(str(x["AmountFC"])) for x in e["lines"]) != 0 for e in mine):
                report.violations.append(f"{name}: unbalanced entry for shipment {shipment.pk}")
            net: dict[str, Decimal] = defaultdict(Decimal)
            for e in mine:
                for x in e["lines"]:
                    net[str(x["GLAccount"])] += Decimal(str(x["AmountFC"]))
            if shipment.voided:
                voided += 1
                if len(mine) not in (0, 2) or any(net.values()):
                    report.violations.append(f"{name}: voided label {shipment.pk} -> {len(mine)} entries, not reversed")
            else:
                live += 1
                cost = shipment.shipment_cost + shipment.insurance_cost
                debit = sum(
                    Decimal(str(x["AmountFC"])) for e in mine for x in e["lines"] if Decimal(str(x["AmountFC"])) > 0
                )
                if len(mine) != 1 or debit != cost:
                    report.violations.append(
                        f"{name}: shipment {shipment.pk} -> {len(mine)} entries (debit {debit}, cost {cost})"
                    )
        report.counts[f"{name} live shipments"] = live
        report.counts[f"{name} voided labels"] = voided
        calls = SandboxWebhookCall.objects.filter(webhook__account=self.account)
        sent = [json.dumps(c.body).encode() for c in calls.filter(status="sent")]
        sent += [body for body, status in self.resent if status < 300]
        unsent = calls.exclude(status="sent").count()
        if unsent:
            report.notes.append(f"{name}: {unsent} webhook calls the sandbox could not send (our server was down)")
        self.check_deliveries(report, sent)
        self.check_records(report)


def _docs(found: list[dict]) -> str:
    return ", ".join(f"{d.get('status')} {d.get('total')}" for d in found) or "none"


SCENARIOS = {
    "shipstation-zoho": ShipStationZoho,
    "woocommerce-zoho": WooCommerceZoho,
    "exact-shipstation": ExactShipStation,
}


# --- The run ---------------------------------------------------------------------------------------


@dataclass
class Fault:
    at: float  # fraction of the action window
    kind: str  # worker, redis, web
    index: int = 0


def schedule(plan: Plan) -> list[Fault]:
    """Worker kills spread over the window, Redis and gunicorn restarts between them."""
    faults = [Fault((k + 1) / (plan.worker_kills + 1), "worker", k) for k in range(plan.worker_kills)]
    faults += [Fault(0.3 + 0.1 * k, "redis") for k in range(plan.redis_restarts)]
    faults += [Fault(0.6 + 0.1 * k, "web") for k in range(plan.web_restarts)]
    faults += [Fault(0.5 + 0.1 * k, "db") for k in range(plan.db_kills)]
    return sorted(faults, key=lambda f: f.at)


def run(cluster: Cluster, plan: Plan, *, log=print) -> Report:
    """Set up, act under faults, lift them, wait for calm, check. The cluster is running."""
    rng = random.Random(plan.seed)
    tag = f"{os.getpid()}{rng.randrange(10**4)}"
    report = Report()
    unknown = set(plan.flows) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown flows {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    scenarios = [SCENARIOS[name](plan, random.Random(f"{plan.seed}:{name}"), tag) for name in plan.flows]
    cluster.count_calls_from_here()
    for s in scenarios:
        s.faults(True)
    pending = schedule(plan)
    window = max(plan.redis_down_seconds * 4, plan.orders * 0.25)  # seconds of changes
    log(f"chaos: {plan.orders} orders per flow over ~{window:.0f} s; flows {', '.join(plan.flows)}")
    started = time.monotonic()
    for i in range(plan.orders):
        due = started + window * i / plan.orders
        while time.monotonic() < due:
            _send_all(scenarios)
            time.sleep(0.05)
        while pending and pending[0].at <= i / plan.orders:
            fault = pending.pop(0)
            log(f"  t={time.monotonic() - started:.1f}s fault: {fault.kind}")
            if fault.kind == "worker":
                cluster.kill_worker(fault.index)
                report.faults.append("worker SIGKILL")
            elif fault.kind == "redis":
                redis_outage(cluster, scenarios, plan.redis_down_seconds)
                report.faults.append(f"Redis stopped {plan.redis_down_seconds:.0f} s, started empty")
            elif fault.kind == "web":
                cluster.restart_web()
                report.faults.append("gunicorn restarted")
            elif fault.kind == "db":
                killed = kill_database_connections()
                report.faults.append(f"{killed} PostgreSQL connections terminated")
        for s in scenarios:
            s.step(i)
    for s in scenarios:
        s.faults(False)
        s.finish()
    _send_all(scenarios)
    lifted = time.monotonic()
    log(f"  t={lifted - started:.1f}s faults lifted; waiting for calm")
    lifted_wall = time.time()
    calm_at = wait_for_calm(scenarios, plan, deadline=lifted + plan.calm_timeout, log=log)
    report.run_seconds = (calm_at or time.monotonic()) - started
    report.calm_seconds = (calm_at or time.monotonic()) - lifted
    report.settle_seconds = max(0.0, last_work_done(scenarios) - lifted_wall)
    if calm_at is None:
        report.violations.append(f"no calm within {plan.calm_timeout:.0f} s of lifting the faults")
    vendors: dict[str, list[float]] = defaultdict(list)
    for s in scenarios:
        for action, n in s.actions.items():
            report.counts[f"{s.name} {action}"] = n
        for vendor, per_second in s.vendor_limits().items():
            vendors[vendor].append(per_second)
        s.check(report)
    bound = 0.0
    calls = cluster.sandbox_calls()
    for vendor, limits in vendors.items():
        report.calls[vendor] = calls[vendor]
        bound = max(bound, calls[vendor] / sum(limits))
    report.bound_seconds = bound
    return report


def kill_database_connections() -> int:
    """Terminate every other connection to the run's database (web, workers, beat, sandboxes): as a
    database failover or a proxy restart would. Each process must notice and reconnect by itself."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _send_all(scenarios: list[Scenario]) -> None:
    for s in scenarios:
        s.send()


def redis_outage(cluster: Cluster, scenarios: list[Scenario], seconds: float) -> None:
    """Stop Redis, keep webhooks arriving at our server for `seconds` (each scenario re-sends some it
    sent before: the product must store them with no Redis to ring), start Redis again, empty. The
    sandboxes' own APIs need Redis, so no change is made in them meanwhile."""
    _send_all(scenarios)
    cluster.stop_redis()
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        for s in scenarios:
            s.during_outage(cluster.base_url)
        time.sleep(0.5)
    cluster.start_redis()


def quiet(scenario: Scenario) -> bool:
    from django.db.models import Q

    from connector.models import Delivery, Record

    if Record.objects.filter(flow=scenario.flow, status="pending").exists():
        return False
    waiting = Q(status="received") | Q(status="failed", next_attempt_at__isnull=False)
    hooks = scenario.hooks or scenario.source
    return not Delivery.objects.filter(waiting, connection=hooks).exists() and scenario.outbox_idle()


def last_work_done(scenarios: list[Scenario]) -> float:
    """When the product last wrote to a vendor (a record's created or updated event) or finished a
    webhook delivery, for these flows (epoch seconds): the books were right from then on."""
    from django.db.models import Max

    from connector.models import Delivery, Event

    moments = [0.0]
    for s in scenarios:
        wrote = Event.objects.filter(record__flow=s.flow, kind__in=["created", "updated"]).aggregate(
            at=Max("created_at")
        )["at"]
        hooks = Delivery.objects.filter(connection=s.hooks or s.source).aggregate(at=Max("processed_at"))["at"]
        moments += [m.timestamp() for m in (wrote, hooks) if m is not None]
    return max(moments)


def wait_for_calm(scenarios: list[Scenario], plan: Plan, *, deadline: float, log=print) -> float | None:
    """The moment everything was quiet and two polls of every flow had ended since the last change
    (the first poll may have started before it); None if the deadline came first."""
    from django.utils import timezone

    from connector.models import Flow

    last_change = timezone.now()
    polls_since: dict[int, set] = {s.flow.pk: set() for s in scenarios}
    shown = 0.0
    while time.monotonic() < deadline:
        for s in scenarios:
            s.send()
            ran = Flow.objects.filter(pk=s.flow.pk).values_list("last_run_at", "last_run_status").get()
            if ran[0] and ran[1] == "ok" and ran[0] > last_change:
                polls_since[s.flow.pk].add(ran[0])
        if all(len(p) >= 2 for p in polls_since.values()) and all(quiet(s) for s in scenarios):
            time.sleep(1.0)
            if all(quiet(s) for s in scenarios):
                return time.monotonic() - 1.0
        if time.monotonic() - shown > 15:
            shown = time.monotonic()
            log("  waiting: " + "; ".join(_progress(s, len(polls_since[s.flow.pk])) for s in scenarios))
        time.sleep(0.5)
    return None


def _progress(scenario: Scenario, polls: int) -> str:
    from connector.models import Delivery, Record

    statuses = Counter(Record.objects.filter(flow=scenario.flow).values_list("status", flat=True))
    hooks = scenario.hooks or scenario.source
    deliveries = Counter(Delivery.objects.filter(connection=hooks).values_list("status", flat=True))
    return f"{scenario.name}: records {dict(statuses)}, deliveries {dict(deliveries)}, polls since {polls}"
