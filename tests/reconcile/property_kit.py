"""What every reconciliation property test shares: its hypothesis settings, a fresh Zoho Books
sandbox organisation per example, and the checks on the ledger (the period's report all matched;
each document's total the source's to the cent)."""

from __future__ import annotations

import itertools
import os
import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings

from connector.models import Connection, Flow, Record
from connector.reconcile import Period, Report
from connector.registry import get_preset
from connector.web.reconcile import build_report
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoOrg
from tests.integrations.zoho.conftest import make_connection

ZERO = Decimal("0")


def property_settings(max_examples: int = 25):
    """Bounded and reproducible: the same examples on every run (CI too), no example database, no
    deadline (the sandboxes answer over real HTTP on a loaded machine). `PROPERTY_EXAMPLES` raises the
    count and `PROPERTY_RANDOM=1` explores new examples when hunting bugs by hand."""
    return settings(
        max_examples=int(os.environ.get("PROPERTY_EXAMPLES", max_examples)),
        deadline=None,
        derandomize=os.environ.get("PROPERTY_RANDOM") != "1",
        database=None,
        print_blob=True,
        phases=[p for p in Phase if p not in (Phase.shrink, Phase.explain) or _shrink()],
        # Function-scoped fixtures (the live server, alice) are shared by the examples on purpose:
        # each example makes its own store, ledger organisation, connections and flow.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _shrink() -> bool:
    """Shrink a failing example by hand (PROPERTY_SHRINK=1), not in CI: each step is a whole example
    over real HTTP, and shrinking one failure took CI more than ten minutes. The failing example is
    printed as found (`print_blob`), which is enough to replay it."""
    default = "0" if os.environ.get("CI") else "1"
    return os.environ.get("PROPERTY_SHRINK", default) != "0"


_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:6]}"


def fresh_books(alice) -> tuple[SandboxZohoOrg, Connection]:
    """A new Zoho Books organisation (base currency USD) and a connection to it, as the Connect page
    leaves it after the merchant picked the organisation (its base currency known)."""
    org = zoho_state.create_org("us", f"{unique('books')}@books.example", "Property Books", organization=alice.org)
    return org, make_connection(alice.org, org, currency_code="USD")


def make_flow(alice, preset_key: str, source: Connection, target: Connection, **options) -> Flow:
    preset = get_preset(preset_key)
    return Flow.objects.create(
        organization=alice.org,
        preset=preset.key,
        name=unique(preset.name),
        source=source,
        target=target,
        options={**preset.default_options, **options},
    )


def today_period() -> Period:
    today = timezone.now().date()
    return Period(today - timedelta(days=1), today)


def assert_records_written(flow: Flow) -> None:
    """Every order record of the flow went through: none failed or waits for review."""
    bad = Record.objects.filter(flow=flow).exclude(status__in=("synced", "skipped"))
    assert not bad.exists(), [(r.object_type, r.source_ref, r.status, r.last_error) for r in bad]


def assert_balanced(flow: Flow, references: set[str]) -> Report:
    """The period's report, read from both sandboxes through the registry's listers, has one line
    per order (and, where the flow books shipment costs, one per shipment), every one matched."""
    report = build_report(Flow.objects.get(pk=flow.pk), today_period())
    lines = {line.reference: line for line in report.lines if line.kind == "order"}
    assert set(lines) == references, (sorted(lines), sorted(references))
    unmatched = [
        (line.reference, line.status.value, line.source_amount, line.ledger_amount, line.note)
        for line in report.lines
        if line.status != "matched"
    ]
    assert not unmatched, (
        unmatched,
        list(Record.objects.filter(flow=flow).values_list("object_type", "source_ref", "status", "target_id")),
    )
    return report


def zoho_documents(org: SandboxZohoOrg, kind: str, reference: str) -> list[SandboxZohoDocument]:
    return list(SandboxZohoDocument.objects.filter(org=org, kind=kind, reference_number=reference).order_by("pk"))


def assert_zoho_totals(
    org: SandboxZohoOrg,
    reference: str,
    *,
    kind: str,
    total: Decimal,
    currency: str,
    refunded: Decimal = ZERO,
    voided: bool = False,
) -> None:
    """The ledger's own documents for one order, read from the Books sandbox: one live document of
    `total` in `currency` (or none live when the order was voided), credit notes summing to `refunded`."""
    documents = zoho_documents(org, kind, reference)
    live = [d for d in documents if d.data.get("status") != "void"]
    if voided:
        assert not live, [(d.number, d.data.get("total"), d.data.get("status")) for d in live]
    else:
        assert len(live) == 1, [(d.number, d.data.get("total"), d.data.get("status")) for d in documents]
        assert Decimal(live[0].data["total"]) == total, (reference, live[0].data["total"], total)
        assert live[0].data["currency_code"] == currency, (reference, live[0].data["currency_code"], currency)
    credits = [d for d in zoho_documents(org, "creditnote", reference) if d.data.get("status") != "void"]
    assert sum((Decimal(c.data["total"]) for c in credits), ZERO) == refunded, (
        reference,
        [c.data["total"] for c in credits],
        refunded,
    )
    for credit in credits:
        assert credit.data["currency_code"] == currency, (reference, credit.data["currency_code"], currency)
