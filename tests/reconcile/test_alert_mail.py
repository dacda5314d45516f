"""A scheduled reconciliation that finds orders not matching the books: its alert links the run on
the dashboard (only to its own organisation), mails the people who chose immediate mails once when
it opens (not again while it stays open, again once resolved and raised anew, never someone who
opted out, within each person's hourly allowance), and is listed in the daily digest while open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts import notifications
from accounts import tasks as mail_tasks
from accounts.models import Membership, Role
from connector import reconcile_runs, tasks
from connector.models import Alert, ReconciliationRun
from connector.ratelimit import RateLimiter
from connector.reconcile_runs import start_run
from tests.conftest import make_user
from tests.reconcile.fake_books import BOOKS, invoice, make_books_flow, seed

pytestmark = pytest.mark.django_db
Run = ReconciliationRun


@pytest.fixture
def books():
    BOOKS.reset()
    yield BOOKS
    BOOKS.reset()


@pytest.fixture
def flow(alice, books, monkeypatch):
    # Runs are computed in the test (below), never queued for a worker.
    monkeypatch.setattr(reconcile_runs, "enqueue", lambda run_id, countdown=0: None)
    return make_books_flow(alice.org, enabled=True)


@pytest.fixture
def mails_inline(monkeypatch):
    """The mail task runs in this process when the alert's transaction commits (no worker here)."""
    queued: list[int] = []

    def run(alert_id: int) -> None:
        queued.append(alert_id)
        mail_tasks.send_reconciliation_mail.run(alert_id)

    monkeypatch.setattr(mail_tasks.send_reconciliation_mail, "delay", run)
    return queued


@pytest.fixture
def opted_in(alice):
    membership = Membership.objects.get(user=alice, organization=alice.org)
    membership.notify_needs_review = True
    membership.save()
    return membership


@pytest.fixture
def opted_out(alice):
    """Carol, a member of Alice's organisation who unticked the immediate mails."""
    carol, _ = make_user("carol@example.com", "Carol's own shop")
    return Membership.objects.create(user=carol, organization=alice.org, role=Role.MEMBER, notify_needs_review=False)


def scheduled_run(flow, capture) -> Run:
    """The flow's scheduled run, computed now; what it queues after commit runs at once."""
    period = reconcile_runs.scheduled_period(timezone.now().date())
    with capture(execute=True):
        run, _ = start_run(flow, period, Run.Trigger.SCHEDULE)
        tasks.run_reconciliation.run(run.pk)
    run.refresh_from_db()
    return run


def open_alert(flow) -> Alert | None:
    return Alert.objects.filter(
        organization=flow.organization, key=f"reconciliation:{flow.pk}", resolved_at=None
    ).first()


def yesterday():
    return timezone.now().date() - timedelta(days=1)


def balance(books) -> None:
    """Book every order at its own amount: the next run matches everything."""
    books.documents = [invoice(o.reference, o.date, str(o.amount)) for o in books.orders]


def test_the_dashboard_links_the_run_and_another_organisation_never_sees_it(
    client, alice, bob, flow, books, django_capture_on_commit_callbacks
):
    seed(yesterday(), matched=3, missing=1, differs=1)
    run = scheduled_run(flow, django_capture_on_commit_callbacks)
    link = f"/flows/{flow.pk}/reconciliation/?run={run.pk}"
    assert open_alert(flow).link == link

    client.force_login(alice)
    html = client.get(reverse("dashboard")).content.decode()
    assert f'<a class="button primary" href="{link}">Open the reconciliation</a>' in html
    assert "2 of 5 orders" in html and "Open the reconciliation to replay or fix them." in html
    assert settings.PUBLIC_BASE_URL not in html  # the link is a button, not a web address in the text
    assert client.get(link).status_code == 200

    client.force_login(bob)
    html = client.get(reverse("dashboard")).content.decode()
    assert "Open the reconciliation" not in html and "2 of 5 orders" not in html and link not in html
    assert client.get(link).status_code == 404

    balance(books)
    scheduled_run(flow, django_capture_on_commit_callbacks)
    client.force_login(alice)
    assert "Open the reconciliation" not in client.get(reverse("dashboard")).content.decode()  # resolved


def test_one_mail_when_raised_none_while_open_one_again_after_resolved_and_raised_anew(
    alice, flow, books, opted_in, opted_out, mails_inline, django_capture_on_commit_callbacks
):
    seed(yesterday(), matched=3, missing=1, differs=1)
    run = scheduled_run(flow, django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]  # not carol: she opted out
    assert message.subject == f"Your books do not match: {flow}"
    body = message.body
    assert f"Flow: {flow}" in body
    assert f"Period checked: {run.start:%-d %b %Y} – {run.end:%-d %b %Y}" in body
    assert "Orders checked: 5" in body
    assert "Missing in ledger: 1" in body and "Amount differs: 1" in body and "Matched: 3" in body
    # The store sold 5 × 10.00; the books hold 3 × 10.00 + 10.01.
    assert "Net difference, USD: the books hold USD 9.99 less than the store" in body
    assert "(store USD 50.00, books USD 40.01)" in body
    assert f"Open the reconciliation: {settings.PUBLIC_BASE_URL}/flows/{flow.pk}/reconciliation/?run={run.pk}" in body
    assert "What to do: Open the reconciliation to replay or fix them." in body
    assert "Unsubscribe: " in body and message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    first_alert = open_alert(flow)
    assert mails_inline == [first_alert.pk]

    scheduled_run(flow, django_capture_on_commit_callbacks)  # still wrong: the open alert is updated, no mail
    assert len(mail.outbox) == 1 and mails_inline == [first_alert.pk]
    assert open_alert(flow).pk == first_alert.pk

    assert notifications.send_reconciliation(first_alert.pk) == 0  # the task delivered twice mails nobody twice

    balance(books)
    scheduled_run(flow, django_capture_on_commit_callbacks)  # balanced: resolved, nothing to mail
    assert open_alert(flow) is None and len(mail.outbox) == 1

    seed(yesterday(), missing=2)  # wrong again: a new alert, a new mail
    again = scheduled_run(flow, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2
    second = mail.outbox[1]
    assert second.to == ["alice@example.com"] and "Missing in ledger: 2" in second.body
    assert f"?run={again.pk}" in second.body and open_alert(flow).pk != first_alert.pk


def test_nobody_opted_in_means_no_mail_queued(
    alice, flow, books, opted_out, mails_inline, django_capture_on_commit_callbacks
):
    seed(yesterday(), missing=1)
    scheduled_run(flow, django_capture_on_commit_callbacks)
    assert open_alert(flow) is not None and mails_inline == [] and mail.outbox == []


def test_a_person_over_the_hourly_allowance_gets_it_in_the_digest(
    alice, flow, books, opted_in, mails_inline, django_capture_on_commit_callbacks
):
    limiter = RateLimiter()
    for _ in range(notifications.REVIEW_MAILS.requests):
        assert limiter.try_acquire(f"rl:notify:{opted_in.pk}", notifications.REVIEW_MAILS) == 0
    seed(yesterday(), matched=1, missing=1)
    run = scheduled_run(flow, django_capture_on_commit_callbacks)
    assert mails_inline and mail.outbox == []

    opted_in.notify_daily_digest = True
    opted_in.save()
    now = timezone.now()
    morning = now.replace(hour=8, minute=0, second=0, microsecond=0)
    assert notifications.send_digests(now=morning if morning > now else morning + timedelta(days=1)) == 1
    (digest,) = mail.outbox
    assert "1 flow(s) do not match your books" in digest.body and "1 of 2 orders" in digest.body
    assert f"{settings.PUBLIC_BASE_URL}/flows/{flow.pk}/reconciliation/?run={run.pk}" in digest.body


def test_the_digest_lists_only_its_own_organisations_open_reconciliation_alerts(
    alice, bob, flow, books, django_capture_on_commit_callbacks
):
    seed(yesterday(), missing=1)
    scheduled_run(flow, django_capture_on_commit_callbacks)
    assert "do not match your books" in notifications.digest_body(alice.org.pk, timezone.now() - timedelta(days=1))
    assert notifications.digest_body(bob.org.pk, timezone.now() - timedelta(days=1)) == ""
    balance(books)
    scheduled_run(flow, django_capture_on_commit_callbacks)
    assert notifications.digest_body(alice.org.pk, timezone.now() - timedelta(days=1)) == ""  # resolved
