"""A person signs up in a real browser and lands on the dashboard."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_and_see_the_dashboard(page):
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", "frank@example.com")
    page.fill("input[name=organization]", "Frank's Widgets")
    page.fill("input[name=password1]", "a long enough passphrase 7")
    page.fill("input[name=password2]", "a long enough passphrase 7")
    page.click("button[type=submit]")
    # Email verification is mandatory: open the link from the mail and confirm.
    page.wait_for_url("**/accounts/confirm-email/")
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    page.goto("/accounts/" + link.split("/accounts/", 1)[1])
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("h1").first.inner_text() == "Dashboard"
    assert "Frank's Widgets" in page.content()
    assert page.get_by_role("link", name="Connect a system").is_visible()
    membership = Membership.objects.get(user__email="frank@example.com")
    assert membership.organization.name == "Frank's Widgets"

    page.get_by_role("link", name="Connections").click()
    assert page.locator("#system-zoho").is_visible()
