"""ZohoBooksClient against the sandbox over HTTP: calls, paging, typed errors, refresh, rate limits, secrets."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from connector.http import AuthExpired, RateLimited, Transient
from connector.models import Alert, Connection, Event, Link
from connector.ratelimit import RateLimiter
from connector.redis import get_redis
from integrations.zoho.client import Duplicate, NotFound, ZohoBooksClient
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoToken
from tests.clock import ManualClock, freeze_sandbox_windows
from tests.integrations.zoho.conftest import make_connection, set_faults
from tests.integrations.zoho.consent import connect_through_consent
from tests.sandbox_session import member_of

pytestmark = pytest.mark.django_db(transaction=True)


def alices_books(region, email, name="", **kwargs):
    """A sandbox Zoho login of alice's organisation: the consent page offers only the signed-in
    organisation's sandbox logins."""
    from accounts.models import Organization

    return state.create_org(region, email, name, organization=Organization.objects.get(name="Alice Ltd"), **kwargs)


@pytest.fixture
def calls():
    return []


@pytest.fixture
def books_client(zoho_connection, calls):
    c = ZohoBooksClient(zoho_connection, on_call=calls.append, sleep=lambda s: None)
    yield c
    c.session.close()


def test_contacts_items_and_invoices_round_trip(books_client, sandbox_org, calls):
    contact = books_client.create_contact(
        {"contact_name": "Ada Lovelace", "contact_persons": [{"email": "ada@example.com", "is_primary_contact": True}]}
    )
    assert books_client.find_contact_by_email("ada@example.com")["contact_id"] == contact["contact_id"]
    assert books_client.find_contact_by_email("nobody@example.com") is None
    item = books_client.create_item({"name": "Widget", "rate": Decimal("9.99"), "sku": "W-1"})
    invoice = books_client.create_invoice(
        {
            "customer_id": contact["contact_id"],
            "reference_number": "1001",
            "line_items": [{"item_id": item["item_id"], "rate": Decimal("9.99"), "quantity": Decimal("3")}],
            "shipping_charge": "5.00",
        },
        invoice_number="1001",
    )
    assert Decimal(str(invoice["total"])) == Decimal("34.97")
    assert books_client.find_invoice_by_reference("1001")["invoice_id"] == invoice["invoice_id"]
    books_client.add_invoice_comment(invoice["invoice_id"], "Shipped via UPS")
    assert [c["description"] for c in books_client.invoice_comments(invoice["invoice_id"])] == ["Shipped via UPS"]
    books_client.void_invoice(invoice["invoice_id"])
    assert books_client.get_invoice(invoice["invoice_id"])["status"] == "void"
    assert all(f"organization_id={sandbox_org.organization_id}" in c.url for c in calls)


def test_item_paging_and_sku_links(books_client, zoho_connection):
    for n in range(5):
        books_client.create_item({"name": f"Part {n}", "rate": Decimal("1.50"), "sku": f"P-{n}"})
    assert [i["name"] for i in books_client.pages("items", "items", per_page=2)] == [f"Part {n}" for n in range(5)]
    by_sku = books_client.item_ids_by_sku(refresh=True)
    assert sorted(by_sku) == [f"P-{n}" for n in range(5)]
    assert Link.objects.filter(connection=zoho_connection, object_type="item").count() == 5
    assert books_client.find_item_by_name("part 3")["sku"] == "P-3"


def test_journals_accounts_taxes_and_sales_orders(books_client, sandbox_org):
    accounts = {a["account_name"]: a["account_id"] for a in books_client.chart_of_accounts()}
    assert {"Shipping Expense", "Petty Cash"} <= set(accounts)
    assert [a["account_type"] for a in books_client.chart_of_accounts("AccountType.Expense")] == ["expense", "expense"]
    assert {t["tax_name"] for t in books_client.taxes()} == {"Sales Tax", "Reduced Tax"}
    lines = [
        {"account_id": accounts["Shipping Expense"], "debit_or_credit": "debit", "amount": Decimal("7.25")},
        {"account_id": accounts["Petty Cash"], "debit_or_credit": "credit", "amount": Decimal("7.25")},
    ]
    journal = books_client.create_journal(
        {"journal_date": "2026-01-05", "reference_number": "1001", "line_items": lines}
    )
    assert [j["journal_id"] for j in books_client.find_journals_by_reference("1001")] == [journal["journal_id"]]
    contact = books_client.create_contact({"contact_name": "Order Desk"})
    item = books_client.create_item({"name": "Box", "rate": 2})
    since = state.timezone.now()
    order = books_client.create_sales_order(
        {
            "customer_id": contact["contact_id"],
            "reference_number": "SO-1",
            "line_items": [{"item_id": item["item_id"], "quantity": 2}],
            "custom_fields": [{"label": "tracking_number", "value": "1Z999"}],
        }
    )
    books_client.update_sales_order(order["salesorder_id"], {"notes": "rush"})
    modified = list(books_client.sales_orders_modified_since(since.replace(microsecond=0)))
    assert [m["salesorder_id"] for m in modified] == [order["salesorder_id"]]
    fetched = books_client.get_sales_order(order["salesorder_id"])
    assert ZohoBooksClient.custom_field(fetched, "tracking_number") == "1Z999" and fetched["notes"] == "rush"


def test_zoho_errors_become_typed_errors(books_client, zoho_base, sandbox_org):
    with pytest.raises(NotFound) as missing:
        books_client.get_invoice("460000000000000001")
    assert missing.value.vendor_code == 1002 and missing.value.message == "Invoice does not exist."
    contact = books_client.create_contact({"contact_name": "Dup Test"})
    item = books_client.create_item({"name": "Dup item", "rate": 1})
    body = {"customer_id": contact["contact_id"], "line_items": [{"item_id": item["item_id"], "quantity": 1}]}
    books_client.create_invoice({**body, "reference_number": "A-1"}, invoice_number="INV-A")
    with pytest.raises(Duplicate) as dup:
        books_client.create_invoice({**body, "reference_number": "A-2"}, invoice_number="INV-A")
    assert "already exists" in dup.value.message
    set_faults(zoho_base, sandbox_org, error_rate=1.0, seed=1)
    with pytest.raises(Transient) as server_error:
        books_client.taxes()
    assert server_error.value.status == 500 and server_error.value.vendor_code == 1000


def test_refresh_at_55_minutes_then_the_new_token_is_used(alice, sandbox_org, calls):
    connection = make_connection(alice.org, sandbox_org, expires_in=4 * 60)  # 4 minutes left: inside the margin
    old = connection.credentials["access_token"]
    client = ZohoBooksClient(connection, on_call=calls.append)
    client.taxes()
    client.session.close()
    connection.refresh_from_db()
    assert connection.credentials["access_token"] != old
    assert connection.credentials["expires_at"] > time.time() + 3500
    assert SandboxZohoToken.objects.filter(grant_type="refresh_token").count() == 1


def test_a_rejected_token_is_refreshed_once_and_the_call_retried(alice, sandbox_org):
    connection = make_connection(alice.org, sandbox_org)
    SandboxZohoToken.objects.filter(token=connection.credentials["access_token"]).update(
        revoked_at=state.timezone.now()
    )
    client = ZohoBooksClient(connection)
    assert client.taxes()
    client.session.close()
    assert SandboxZohoToken.objects.filter(grant_type="refresh_token").count() == 1


def test_a_revoked_refresh_token_raises_the_reconnect_alert(alice, sandbox_org, zoho_base):
    connection = make_connection(alice.org, sandbox_org, expires_in=60)
    SandboxZohoToken.objects.filter(kind="refresh").update(revoked_at=state.timezone.now())
    client = ZohoBooksClient(connection)
    with pytest.raises(AuthExpired):
        client.taxes()
    client.session.close()
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH
    alert = Alert.objects.get(key=f"reauth:{connection.pk}", resolved_at=None)
    assert "Zoho Books" in alert.message and f"connection={connection.pk}" in alert.remediation


def test_minute_limit_429_paces_the_shared_bucket_instead_of_freezing(
    books_client, zoho_base, sandbox_org, monkeypatch
):
    """The sandbox allows 3/minute here, the client bucket more: the 4th call meets Zoho's 429, which
    names no wait. The client probes a few times at a paced interval, then hands back a short wait."""
    freeze_sandbox_windows(monkeypatch)  # all the calls in one sandbox minute, whatever the time
    set_faults(zoho_base, sandbox_org, rate_limit_per_minute=3)
    for _ in range(3):
        books_client.taxes()
    with pytest.raises(RateLimited) as limited:
        books_client.taxes()
    assert limited.value.status == 429
    assert 0 < limited.value.retry_after <= books_client.pace_backoff_cap + 0.01  # seconds, not Zoho's minute
    assert books_client.calls == 3 + 1 + books_client.max_429_retries
    # Every worker shares the bucket: another one waits out the same short back-off before calling.
    wait = RateLimiter().try_acquire(books_client.rate_limit_key(), books_client.rate_limit)
    assert 0 < wait <= books_client.pace_backoff_cap + 0.01


def test_the_client_bucket_holds_calls_to_100_per_minute(alice, sandbox_org):
    connection = make_connection(alice.org, sandbox_org, rate_limit_per_minute=100)
    clock = ManualClock()
    client = ZohoBooksClient(connection, limiter=RateLimiter(clock=clock.now, sleep=clock.sleep))
    for _ in range(6):
        client._take_slot()
    # A new bucket knows nothing of the minute so far: one call, then one every 0.6 s (plus under
    # 50 ms of jitter each), never a burst.
    assert len(clock.slept) == 5 and 3.0 <= sum(clock.slept) <= 3.25
    assert client.rate_limit.requests / client.rate_limit.per_seconds * 60 == pytest.approx(100)


def test_rate_429_fault_is_probed_at_a_pace_then_retried_by_the_engine(zoho_connection, zoho_base, sandbox_org):
    set_faults(zoho_base, sandbox_org, rate_429=1.0, seed=3)
    clock = ManualClock()
    client = ZohoBooksClient(zoho_connection, limiter=RateLimiter(clock=clock.now, sleep=clock.sleep))
    with pytest.raises(RateLimited) as limited:
        client.taxes()
    client.session.close()
    # One call, then one probe after each back-off (at least a token interval each), seconds in all.
    assert client.calls == 1 + client.max_429_retries
    assert (
        client.max_429_retries * 60 / 6000
        <= sum(clock.slept)
        <= client.max_429_retries * (client.pace_backoff_cap + 0.1)
    )
    assert limited.value.retry_after <= client.pace_backoff_cap + 0.01


def test_daily_limit_stops_alerts_and_resumes_next_day(books_client, zoho_base, sandbox_org, zoho_connection):
    set_faults(zoho_base, sandbox_org, daily_limit=2)
    books_client.taxes()
    books_client.taxes()  # the last call of the day succeeds, and Zoho reports 0 remaining
    alert = Alert.objects.get(key=f"zoho-daily-limit:{zoho_connection.pk}", resolved_at=None)
    assert "daily" in alert.message
    calls = books_client.calls
    with pytest.raises(RateLimited) as limited:
        books_client.taxes()
    assert books_client.calls == calls  # stopped locally until Zoho's reset: no 429 provoked
    assert limited.value.retry_after > 60
    # Next day: the block has passed and the first good answer resolves the alert.
    get_redis().delete(books_client.rate_limit_key())
    set_faults(zoho_base, sandbox_org, daily_limit=1000)
    fresh = ZohoBooksClient(zoho_connection)
    fresh.taxes()
    fresh.session.close()
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_the_sandbox_counts_what_the_client_sends(books_client, zoho_base, sandbox_org):
    books_client.taxes()
    books_client.chart_of_accounts()
    stats = json.loads(
        member_of(sandbox_org.user.organization)
        .get(f"{zoho_base}/sandbox/zoho/_control/orgs/{sandbox_org.organization_id}/stats")
        .text
    )
    assert stats["calls_today"] == 2 == books_client.calls
    assert stats["documents"]["account"] == len(state.DEFAULT_ACCOUNTS)


def test_tokens_never_appear_in_logs_events_or_pages(alice, alice_client, zoho_base, caplog):
    caplog.set_level(logging.DEBUG)
    alices_books("us", "owner@books.example")
    connection = connect_through_consent(alice_client, "us", "owner@books.example")
    secrets = [connection.credentials["access_token"], connection.credentials["refresh_token"]]
    client = ZohoBooksClient(
        connection,
        on_call=lambda c: Event.objects.create(
            organization=alice.org, connection=connection, kind="api_call", message=c.url, data=c.__dict__
        ),
    )
    client.taxes()
    client.session.close()
    pages = [
        alice_client.get(reverse("connections")),
        alice_client.get(reverse("zoho_connection", args=[connection.pk])),
        alice_client.get(reverse("dashboard")),
        alice_client.get(reverse("zoho_connect"), {"connection": connection.pk}),
    ]
    haystack = caplog.text + "".join(p.content.decode() for p in pages)
    haystack += json.dumps(list(Event.objects.values("message", "data")), default=str)
    haystack += json.dumps(list(Alert.objects.values("message", "remediation")))
    haystack += json.dumps(connection.settings)
    for secret in secrets:
        assert secret not in haystack
    assert SandboxZohoDocument.objects.filter(kind="tax").count() == 2
