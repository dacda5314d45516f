"""A job QuickBooks answers "busy" waits for a later Web Connector run (jobs.RESEND, full jitter).

Full Web Connector runs (the zeep simulator against the live server). The clock is moved with
time_machine instead of sleeping, and the retry policy's dice are replaced by their lowest or highest
face, so the not-before times are asserted exactly."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from connector import retry
from integrations.qbdesktop import jobs, qbxml
from integrations.qbdesktop.models import QBXMLJob

from .conftest import simulator
from .test_session import invoice_spec

pytestmark = pytest.mark.django_db(transaction=True)
Status = QBXMLJob.Status
LOCKED = (3175, "There was an error when modifying a Customer list, object. The object is in use.")


class _Dice:
    """Stands in for the random module inside connector.retry."""

    def __init__(self, face):
        self.uniform = face


@pytest.fixture
def highest(monkeypatch):
    monkeypatch.setattr(retry, "random", _Dice(lambda low, high: high))


@pytest.fixture
def lowest(monkeypatch):
    monkeypatch.setattr(retry, "random", _Dice(lambda low, high: low))


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now()) as traveller:
        yield traveller


def _sent(company, kind: str, since: int = 0) -> int:
    """How many requests of `kind` QuickBooks was sent since the `since`-th."""
    return sum(f"<{kind}Rq" in xml for xml in company.requests_seen[since:])


def _wait_of(job: QBXMLJob) -> float:
    return (job.not_before - job.sent_at).total_seconds()


def test_a_busy_answer_sends_the_job_again_in_a_later_run_not_at_once(live_server, qbd, company, clock, highest):
    connection = qbd[0]
    job = jobs.enqueue(connection, qbxml.customer_query(full_names=["Acme Ltd"]))
    company.fail_next("CustomerQuery", *LOCKED)

    first = simulator(live_server, qbd, company).run()
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.attempts == 1 and job.status_code == 3175
    assert 60 <= _wait_of(job) < 65  # the first retry's ceiling (RESEND.base) on the highest face
    assert first.percentages[-1] == 100 and first.close_message.startswith("OK")  # the run ends cleanly
    assert _sent(company, "CustomerQuery") == 1  # not sent twice in the same run

    seen = len(company.requests_seen)
    clock.shift(30)
    second = simulator(live_server, qbd, company).run()  # the next run, before the job is due
    assert second.auth_status == "none" and second.methods[-1] == "closeConnection"
    assert _sent(company, "CustomerQuery", seen) == 0
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.attempts == 1

    clock.shift(35)
    third = simulator(live_server, qbd, company).run()
    job.refresh_from_db()
    assert job.status == Status.DONE and job.attempts == 2 and job.not_before is None
    assert third.percentages[-1] == 100


def test_busy_answers_are_retried_a_bounded_number_of_times(live_server, qbd, company, clock, lowest):
    connection = qbd[0]
    job = jobs.enqueue(connection, qbxml.customer_query(full_names=["Acme Ltd"]))
    for _ in range(jobs.MAX_ATTEMPTS + 1):
        company.fail_next("CustomerQuery", *LOCKED)

    waits = []
    for _ in range(jobs.MAX_ATTEMPTS - 1):
        simulator(live_server, qbd, company).run()
        job.refresh_from_db()
        assert job.status == Status.QUEUED
        waits.append(_wait_of(job))
        clock.shift(_wait_of(job) + 1)
    simulator(live_server, qbd, company).run()

    job.refresh_from_db()
    assert job.status == Status.ERROR and job.attempts == jobs.MAX_ATTEMPTS and job.status_code == 3175
    assert all(jobs.RESEND.floor <= wait < jobs.RESEND.floor + 5 for wait in waits)  # the lowest face: the floor
    clock.shift(3600)
    simulator(live_server, qbd, company).run()
    job.refresh_from_db()
    assert job.attempts == jobs.MAX_ATTEMPTS  # given up: never sent again


def test_a_permanent_error_finishes_the_job_at_once(live_server, qbd, company, clock):
    connection = qbd[0]
    job = jobs.enqueue(connection, qbxml.invoice_add(invoice_spec(customer="Nobody Inc")))
    simulator(live_server, qbd, company).run()
    job.refresh_from_db()
    assert job.status == Status.ERROR and job.status_code == 3140
    assert job.attempts == 1 and job.not_before is None


def test_a_busy_requery_holds_its_mod_back_and_the_run_still_ends(live_server, qbd, company, clock, highest):
    connection = qbd[0]
    add = jobs.enqueue(connection, qbxml.invoice_add(invoice_spec()))
    simulator(live_server, qbd, company).run()
    add.refresh_from_db()
    company.touch_invoice(add.result["txn_id"])  # our EditSequence is now stale
    mod = jobs.enqueue(connection, qbxml.invoice_mod(add.result["txn_id"], add.result["edit_sequence"], invoice_spec()))
    company.fail_next("InvoiceQuery", *LOCKED)  # the re-query for the EditSequence finds QuickBooks busy

    log = simulator(live_server, qbd, company).run()
    mod.refresh_from_db()
    requery = QBXMLJob.objects.get(parent=mod)
    assert mod.status == Status.WAITING and requery.status == Status.QUEUED and requery.not_before
    assert log.percentages[-1] == 100 and not jobs.has_work(connection)
    assert jobs.pending(connection).filter(pk__in=[mod.pk, requery.pk]).count() == 2  # still owed

    clock.shift(_wait_of(requery) + 1)
    assert jobs.has_work(connection)
    simulator(live_server, qbd, company).run()
    mod.refresh_from_db()
    assert mod.status == Status.DONE and mod.attempts == 2
