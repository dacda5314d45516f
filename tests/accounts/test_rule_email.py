"""Order rules' `email` action: only to verified members of the organisation, rate-limited.

Before, a rule could mail any address (a customer's, anyone's) from our server, without limit.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail

from accounts.models import Membership, Role
from connector.canonical import Order, OrderStatus
from connector.models import Event
from integrations.zoho import rules
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(alice):
    return make_record(make_flow(alice.org), "3001")


def _fire(record, to: str):
    order = Order(
        number="3001", source_id="3001", status=OrderStatus.OPEN, currency="GBP", order_date=datetime.now(UTC)
    )
    email_rule = {"name": "Tell", "event": rules.AFTER_SUBMIT, "actions": [{"type": "email", "to": to}]}
    rules.run(rules.AFTER_SUBMIT, rules.Context(order=order), [email_rule], record=record)


def _failures(record) -> list[str]:
    return list(Event.objects.filter(record=record, kind="failed").values_list("message", flat=True))


def test_a_verified_member_gets_the_mail(record):
    _fire(record, "Alice@Example.com")
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"] and "3001" in message.subject
    assert _failures(record) == []


@pytest.mark.parametrize("to", ["customer@elsewhere.example", "bob@example.com", "unverified@example.com"])
def test_anyone_else_gets_nothing(record, alice, bob, to):
    user = get_user_model().objects.create_user(username="unverified", email="unverified@example.com")
    Membership.objects.create(user=user, organization=alice.org, role=Role.MEMBER)
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    _fire(record, to)  # bob is verified, but in another organisation
    assert mail.outbox == []
    assert "not a verified member" in _failures(record)[0]


def test_rule_mails_are_rate_limited_per_organisation(record):
    for _ in range(rules.RULE_EMAILS.requests):
        _fire(record, "alice@example.com")
    _fire(record, "alice@example.com")
    assert len(mail.outbox) == rules.RULE_EMAILS.requests
    assert "too many rule emails" in _failures(record)[-1]
