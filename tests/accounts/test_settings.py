"""Settings area: organisation name, time zone, relative times, notification mails and unsubscribe."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import notifications
from accounts.models import Membership, Role
from accounts.templatetags.relative_time import ago, when
from connector.models import Event, Record, raise_alert
from tests.conftest import PASSWORD, make_flow, make_record

pytestmark = pytest.mark.django_db

SETTINGS_PAGES = ["settings_organization", "team", "settings_api_tokens", "settings_notifications", "settings_profile"]


@pytest.mark.parametrize("name", SETTINGS_PAGES)
def test_every_settings_page_renders_without_inline_script_or_style(alice_client, name):
    body = alice_client.get(reverse(name)).content.decode()
    assert 'aria-current="page"' in body
    assert " style=" not in body and "<style" not in body
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)


def test_settings_redirects_to_the_organisation_page(alice_client):
    assert alice_client.get(reverse("settings"))["Location"] == reverse("settings_organization")
    assert alice_client.get("/team/")["Location"] == reverse("team")


def test_owner_renames_the_organisation_member_cannot(client, alice):
    client.force_login(alice)
    assert client.post(reverse("settings_organization"), {"name": "Alice Trading Ltd"}).status_code == 302
    alice.org.refresh_from_db()
    assert alice.org.name == "Alice Trading Ltd"
    assert client.post(reverse("settings_organization"), {"name": "  "}).status_code == 200  # error shown
    member = get_user_model().objects.create_user(username="m", email="m@example.com", password=PASSWORD)
    Membership.objects.create(user=member, organization=alice.org, role=Role.MEMBER)
    client.force_login(member)
    assert client.post(reverse("settings_organization"), {"name": "Hacked"}).status_code == 403
    alice.org.refresh_from_db()
    assert alice.org.name == "Alice Trading Ltd"


def test_time_zone_applies_to_every_time_shown(alice_client):
    assert alice_client.post(reverse("settings_profile"), {"time_zone": "Asia/Tokyo"}).status_code == 302
    page = alice_client.get(reverse("team")).content.decode()
    assert "JST" in page  # the "Joined" tooltip, in the viewer's zone
    assert alice_client.post(reverse("settings_profile"), {"time_zone": "Not/AZone"}).status_code == 200
    # A new session reads the zone from the profile.
    fresh = Client()
    fresh.force_login(get_user_model().objects.get(email="alice@example.com"))
    assert "JST" in fresh.get(reverse("team")).content.decode()


def test_relative_times():
    now = timezone.now()
    assert ago(now - timedelta(minutes=3, seconds=5), now) == "3\xa0minutes ago"
    assert ago(now - timedelta(days=2, hours=5), now) == "2\xa0days ago"
    assert ago(now + timedelta(hours=2, minutes=1), now) == "in 2\xa0hours"
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(None) == "" and when(None) == ""
    html = when(now - timedelta(minutes=5))
    assert html.startswith('<time datetime="') and "minutes ago</time>" in html


# --- Notifications -------------------------------------------------------------------------------


@pytest.fixture
def opted_in(alice):
    membership = Membership.objects.get(user=alice)
    membership.notify_daily_digest = membership.notify_needs_review = True
    membership.save()
    return membership


def test_preferences_are_saved_per_person(alice_client, alice):
    alice_client.post(reverse("settings_notifications"), {"notify_daily_digest": "on"})
    membership = Membership.objects.get(user=alice)
    assert membership.notify_daily_digest and not membership.notify_needs_review


def test_the_immediate_email_choice_names_both_things_it_sends(alice_client):
    """The box covers needs-review alerts and reconciliation alerts (accounts.notifications mails both),
    so its words say both, with the help text tied to the box for screen readers."""
    page = alice_client.get(reverse("settings_notifications")).content.decode()
    assert "An email as soon as an order needs you or your books do not match" in page
    assert "a record needs review" not in page
    box = re.search(r'<input type="checkbox" name="notify_needs_review"[^>]*>', page).group(0)
    assert 'aria-describedby="id_notify_needs_review_helptext"' in box
    help_text = re.search(r'id="id_notify_needs_review_helptext">([^<]*)<', page).group(1)
    assert "could not book until you fix it" in help_text and "missing from your accounting books" in help_text


def _needs_review(org):
    record = make_record(make_flow(org), "R-1")
    Record.objects.filter(pk=record.pk).update(status=Record.Status.NEEDS_REVIEW, last_error="SKU MUG-01 unknown")
    return record, raise_alert(org, f"record:{record.pk}", "Order R-1 needs review: SKU MUG-01 unknown", record=record)


def test_a_needs_review_alert_queues_the_immediate_mail(
    monkeypatch, alice, opted_in, django_capture_on_commit_callbacks
):
    from accounts import tasks

    queued = []
    monkeypatch.setattr(tasks.send_needs_review_mail, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        _, alert = _needs_review(alice.org)
    assert queued == [alert.pk]
    with django_capture_on_commit_callbacks(execute=True):
        raise_alert(alice.org, "reauth:1", "Reconnect")  # not a needs-review alert
    assert queued == [alert.pk]


def test_immediate_mail_with_a_working_unsubscribe_link(alice, bob, opted_in):
    Membership.objects.create(user=bob, organization=alice.org, role=Role.MEMBER)  # not opted in
    record, alert = _needs_review(alice.org)
    assert notifications.send_needs_review(alert.pk) == 1
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"] and "SKU MUG-01" in message.subject
    assert f"/audit/{record.pk}/" in message.body
    link = re.search(r"Unsubscribe: (\S+)", message.body).group(1)
    assert message.extra_headers["List-Unsubscribe"] == f"<{link}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = link.split("://", 1)[1].split("/", 1)[1]
    anonymous = Client()
    assert anonymous.get(f"/{path}").status_code == 200  # asks, changes nothing
    assert Membership.objects.get(pk=opted_in.pk).notify_needs_review
    assert anonymous.post(f"/{path}").status_code == 200
    opted_in.refresh_from_db()
    assert not opted_in.notify_needs_review and opted_in.notify_daily_digest
    assert anonymous.post(f"/{path[:-3]}x{path[-2:]}").status_code == 400  # tampered


def test_immediate_mails_are_rate_limited_per_person(alice, opted_in):
    _, alert = _needs_review(alice.org)
    sent = sum(notifications.send_needs_review(alert.pk) for _ in range(notifications.REVIEW_MAILS.requests + 3))
    assert sent == notifications.REVIEW_MAILS.requests


def test_daily_digest_lists_unfixed_failures_of_the_last_day(alice, bob, opted_in):
    bob_membership = Membership.objects.get(user=bob)
    bob_membership.notify_daily_digest = True
    bob_membership.save()
    failed = make_record(make_flow(alice.org), "F-1")
    Record.objects.filter(pk=failed.pk).update(status=Record.Status.FAILED, last_error="Zoho said no")
    Event.objects.create(organization=alice.org, record=failed, kind=Event.Kind.FAILED, message="Zoho said no")
    fixed = make_record(failed.flow, "F-2", object_type="order")
    Event.objects.create(organization=alice.org, record=fixed, kind=Event.Kind.FAILED, message="later synced")
    morning = _utc_morning()
    assert notifications.send_digests(now=morning) == 1  # alice only: bob's organisation had no failures
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"] and "F-1" in message.body and "Zoho said no" in message.body
    assert "F-2" not in message.body
    assert "/notifications/unsubscribe/" in message.body
    mail.outbox.clear()
    assert notifications.send_digests(now=morning + timedelta(hours=1)) == 0  # once a day
    assert notifications.send_digests(now=morning + timedelta(days=2)) == 0  # nothing new since


def _utc_morning():
    """08:00 UTC after every row the test makes (their created_at is the real now)."""
    now = timezone.now()
    today = now.replace(hour=8, minute=0, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)  # within a day of those rows


def _failure(org, ref: str, message: str, at) -> Record:
    record = make_record(make_flow(org), ref)
    Record.objects.filter(pk=record.pk).update(status=Record.Status.FAILED, last_error=message)
    event = Event.objects.create(organization=org, record=record, kind=Event.Kind.FAILED, message=message)
    Event.objects.filter(pk=event.pk).update(created_at=at)
    return record


def test_the_digest_comes_at_seven_in_each_persons_own_time_zone(alice, opted_in):
    from accounts.models import Profile

    Profile.objects.update_or_create(user=alice, defaults={"time_zone": "America/Los_Angeles"})
    morning = _utc_morning()  # 08:00 UTC is 00:00 (or 01:00 in summer) in Los Angeles
    _failure(alice.org, "F-9", "Zoho said no", at=morning + timedelta(hours=3))
    assert notifications.send_digests(now=morning) == 0
    assert notifications.send_digests(now=morning + timedelta(hours=5)) == 0  # 05:00/06:00 local: not yet
    assert notifications.send_digests(now=morning + timedelta(hours=7, minutes=1)) == 1  # 07:01 / 08:01
    assert notifications.send_digests(now=morning + timedelta(hours=12)) == 0  # one a local day
    Profile.objects.filter(user=alice).update(time_zone="Not/AZone")  # unknown: UTC
    assert notifications.digest_due(Membership.objects.get(pk=opted_in.pk), morning + timedelta(days=1))


def test_a_missed_hour_still_sends_that_day_and_the_next_digest_has_only_new_failures(alice, opted_in):
    morning = _utc_morning()
    _failure(alice.org, "F-1", "first failure", at=morning - timedelta(hours=3))
    assert notifications.send_digests(now=morning + timedelta(hours=5)) == 1  # the 07:00 run was missed
    assert "F-1" in mail.outbox[0].body
    mail.outbox.clear()
    _failure(alice.org, "F-2", "second failure", at=morning + timedelta(hours=9))
    assert notifications.send_digests(now=morning + timedelta(days=1)) == 1
    (message,) = mail.outbox
    assert "F-2" in message.body and "F-1" not in message.body


def test_two_workers_sending_digests_at_once_send_one(alice, opted_in):
    _failure(alice.org, "F-1", "first failure", at=_utc_morning() - timedelta(hours=1))
    stale = Membership.objects.get(pk=opted_in.pk)  # read before the other worker claimed it
    assert notifications.send_digests(now=_utc_morning()) == 1
    assert notifications._claim_digest(stale, _utc_morning()) is False


MEMBER_PAGES = ["settings_organization", "team", "settings_api_tokens", "settings_notifications"]


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_settings_pages_send_someone_without_a_membership_to_the_dashboard(client, name):
    loner = get_user_model().objects.create_user(username="l", email="l@example.com", password=PASSWORD)
    assert client.get(reverse(name))["Location"].startswith(reverse("account_login"))
    client.force_login(loner)
    assert client.get(reverse(name))["Location"] == reverse("dashboard")
    assert client.post(reverse(name), {"name": "x"})["Location"] == reverse("dashboard")


@pytest.mark.parametrize("name", ["change_role", "remove_member"])
def test_team_actions_answer_404_to_someone_without_a_membership(client, alice, name):
    loner = get_user_model().objects.create_user(username="l", email="l@example.com", password=PASSWORD)
    client.force_login(loner)
    target = Membership.objects.get(user=alice)
    assert client.post(reverse(name), {"member": target.pk, "role": Role.MEMBER}).status_code == 404
    assert Membership.objects.filter(pk=target.pk, role=Role.OWNER).exists()


def test_a_member_reads_the_members_page_but_cannot_invite(client, alice):
    member = get_user_model().objects.create_user(username="m", email="m@example.com", password=PASSWORD)
    Membership.objects.create(user=member, organization=alice.org, role=Role.MEMBER)
    client.force_login(member)
    assert client.get(reverse("team")).status_code == 200
    refused = client.post(reverse("team"), {"email": "x@example.com", "role": Role.MEMBER})
    assert refused.status_code == 403 and "Only owners and admins can invite teammates." in refused.content.decode()
    assert not mail.outbox
