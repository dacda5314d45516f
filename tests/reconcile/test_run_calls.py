"""A stored run of a WooCommerce → Zoho Books flow over real HTTP to both sandboxes: the worker's
task reads one list page per 100 store orders and per 200 Books documents, and the run counts its
calls as the Zoho sandbox itself counted them (no per-order lookups)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connector import reconcile_runs, tasks
from connector.models import ReconciliationRun
from connector.reconcile import Period
from integrations.zoho.sandbox import faults

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_counts_its_vendor_calls_as_the_sandbox_saw_them(woo_flow, synced_orders, sandbox_org):
    today = timezone.now().date()
    run, _ = reconcile_runs.start_run(woo_flow, Period(today, today), ReconciliationRun.Trigger.MANUAL, queue=False)
    before = faults.total_calls(sandbox_org)
    assert tasks.run_reconciliation.run(run.pk) == "done"
    run.refresh_from_db()
    zoho_calls = faults.total_calls(sandbox_org) - before
    assert zoho_calls == 2  # one page of invoices, one of credit notes
    assert run.vendor_calls == zoho_calls + 1  # and one page of store orders
    assert run.counts == {"matched": 4} and run.line_count == 4
    assert set(run.lines.values_list("reference", flat=True)) == {o.data["number"] for o in synced_orders}
