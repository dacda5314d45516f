"""Failure mails a person chose under Settings → Notifications: a daily digest of records that
failed or need review (and of the flows whose books do not match), and an immediate mail when a
record needs review or a scheduled reconciliation finds orders that do not match the books.

Vendor-neutral: they read only core rows (Record, Event, Alert, ReconciliationRun). The immediate
mails follow the core's alerts (key "record:<id>", raised by the engine; "reconciliation:<flow id>",
raised by connector.reconcile_runs) through a post_save receiver, so no integration and no engine
code knows about mail. A reconciliation alert mails once when it opens: later runs update the open
alert without a mail, and one raised again after it was resolved mails again. Each mail goes only to members with a verified
address, carries a signed unsubscribe link that works without logging in (and RFC 8058 one-click
headers), and immediate mails are rate-limited per person through a Redis bucket.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from connector.dispatch import send
from connector.ratelimit import Limit, RateLimiter

logger = logging.getLogger(__name__)

DIGEST, REVIEW = "digest", "review"
FIELDS = {DIGEST: "notify_daily_digest", REVIEW: "notify_needs_review"}
LABELS = {
    DIGEST: "the daily digest of failed records",
    REVIEW: "immediate mails when a record needs review or your books do not match",
}
_SALT = "accounts.notifications.unsubscribe"
# Beyond this many immediate mails an hour a person's bucket is empty: the rest wait for the digest.
REVIEW_MAILS = Limit(requests=20, per_seconds=3600, starts_full=True)  # our own allowance
DIGEST_ITEMS = 25
DIGEST_HOUR = 7  # local time of the person who chose the digest
NEEDS_REVIEW_ALERT_PREFIX = "record:"
RECONCILIATION_ALERT_PREFIX = "reconciliation:"  # connector.reconcile_runs.ALERT_PREFIX
# Sent by name (connector.dispatch): accounts.tasks imports this module, not the other way round.
NEEDS_REVIEW_MAIL_TASK = "accounts.tasks.send_needs_review_mail"
RECONCILIATION_MAIL_TASK = "accounts.tasks.send_reconciliation_mail"
# A task delivered twice (a worker died before acknowledging it) mails nobody twice for one alert.
SENT_TTL = 30 * 86400


def unsubscribe_url(membership: Membership, kind: str) -> str:
    token = signing.dumps({"m": membership.pk, "k": kind}, salt=_SALT, compress=True)
    return settings.PUBLIC_BASE_URL + reverse("unsubscribe", args=[token])


def read_unsubscribe_token(token: str) -> tuple[Membership, str] | None:
    try:
        data = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") not in FIELDS:
        return None
    membership = Membership.objects.select_related("organization", "user").filter(pk=data.get("m")).first()
    return (membership, data["k"]) if membership is not None else None


def recipients(organization_id: int, kind: str) -> list[tuple[Membership, str]]:
    """(membership, verified address) of every active member who chose this mail."""
    memberships = Membership.objects.filter(
        organization_id=organization_id, user__is_active=True, **{FIELDS[kind]: True}
    ).select_related("user", "organization")
    found = []
    for membership in memberships:
        email = verified_email(membership.user)
        if email:
            found.append((membership, email))
    return found


def verified_email(user) -> str | None:
    """The person's primary verified address: mail never goes to an address nobody confirmed."""
    return (
        EmailAddress.objects.filter(user=user, verified=True)
        .order_by("-primary", "id")
        .values_list("email", flat=True)
        .first()
    )


def _send(membership: Membership, email: str, kind: str, subject: str, body: str) -> None:
    link = unsubscribe_url(membership, kind)
    body = f"{body}\n\n--\nYou get this because you chose {LABELS[kind]} for {membership.organization.name}.\nUnsubscribe: {link}\n"
    headers = {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    EmailMessage(subject, body, None, [email], headers=headers).send()


def record_url(record_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("record_detail", args=[record_id])


def send_needs_review(alert_id: int) -> int:
    """Mail the members who chose it about one needs-review alert; returns the mails sent."""
    from connector.models import Alert

    alert = Alert.objects.select_related("organization").filter(pk=alert_id, resolved_at=None).first()
    if alert is None or alert.record_id is None:
        return 0
    limiter = RateLimiter()
    sent = 0
    for membership, email in recipients(alert.organization_id, REVIEW):
        if limiter.try_acquire(f"rl:notify:{membership.pk}", REVIEW_MAILS) > 0:
            continue  # too many this hour; tomorrow's digest still lists it
        body = f"{alert.message}\n\n" + (f"What to do: {alert.remediation}\n\n" if alert.remediation else "")
        body += f"Open it: {record_url(alert.record_id)}"
        _send(membership, email, REVIEW, f"Needs review: {alert.message[:120]}", body)
        sent += 1
    return sent


def absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL + path


def _first_mail(alert_id: int, membership: Membership) -> bool:
    """Claim the one mail this person gets for this alert (False: already sent)."""
    from connector.redis import get_redis

    return bool(get_redis().set(f"notify:sent:{alert_id}:{membership.pk}", "1", nx=True, ex=SENT_TTL))


def reconciliation_run(alert):
    """The run an open reconciliation alert points at (its link's `?run=`), of the alert's own
    organisation and flow; None when the link names none."""
    from connector.models import ReconciliationRun

    run_id = QueryDict(urlsplit(alert.link).query).get("run", "")
    if not run_id.isdigit() or alert.flow_id is None:
        return None
    return (
        ReconciliationRun.objects.for_org(alert.organization)
        .filter(pk=int(run_id), flow_id=alert.flow_id, status=ReconciliationRun.Status.DONE)
        .select_related("flow__target")
        .first()
    )


def _money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


def net_difference(total: dict) -> str:
    """One currency's net difference in words: what the books hold against what the store sold."""
    currency, difference = total["currency"], total["difference"]
    if difference == 0:
        return f"{currency}: the totals agree ({_money(total['source'], currency)}), the differences cancel out"
    more_or_less = "more" if difference > 0 else "less"
    return (
        f"{currency}: the books hold {_money(abs(difference), currency)} {more_or_less} than the store "
        f"(store {_money(total['source'], currency)}, books {_money(total['ledger'], currency)})"
    )


def reconciliation_body(alert) -> str:
    """The flow, the period, the counts by status, the net difference and the link."""
    from connector.reconcile_runs import ordered_counts, stored_totals

    run = reconciliation_run(alert)
    lines = [alert.message, ""]
    if run is not None:
        lines.append(f"Flow: {run.flow}")
        lines.append(f"Period checked: {run.start:%-d %b %Y} – {run.end:%-d %b %Y}")
        lines.append(f"Orders checked: {run.line_count}")
        lines += [f"  {label}: {n}" for _, label, n in ordered_counts(run)]
        lines += [f"Net difference, {net_difference(total)}." for total in stored_totals(run)]
        lines.append("")
    if alert.remediation:
        lines.append(f"What to do: {alert.remediation}")
    if alert.link:
        lines.append(f"Open the reconciliation: {absolute(alert.link)}")
    return "\n".join(lines)


def send_reconciliation(alert_id: int) -> int:
    """Mail the members who chose immediate mails about a reconciliation alert that just opened;
    returns the mails sent. Each person gets one mail per alert, within their hourly allowance."""
    from connector.models import Alert

    alert = (
        Alert.objects.select_related("organization", "flow")
        .filter(pk=alert_id, resolved_at=None, key__startswith=RECONCILIATION_ALERT_PREFIX)
        .first()
    )
    if alert is None:
        return 0  # resolved before the mail went: nothing to act on any more
    body = reconciliation_body(alert)
    subject = f"Your books do not match: {alert.flow or alert.organization.name}"
    limiter = RateLimiter()
    sent = 0
    for membership, email in recipients(alert.organization_id, REVIEW):
        if not _first_mail(alert.pk, membership):
            continue
        if limiter.try_acquire(f"rl:notify:{membership.pk}", REVIEW_MAILS) > 0:
            continue  # too many this hour; the digest lists open reconciliation alerts
        _send(membership, email, REVIEW, subject[:200], body)
        sent += 1
    return sent


def reconciliation_digest(organization_id: int) -> list[str]:
    """The open reconciliation alerts, for the digest: a flow whose books do not match is listed
    every morning until a run balances."""
    from connector.models import Alert

    alerts = Alert.objects.filter(
        organization_id=organization_id, resolved_at=None, key__startswith=RECONCILIATION_ALERT_PREFIX
    ).order_by("-created_at", "-id")
    total = alerts.count()
    if not total:
        return []
    lines = [f"{total} flow(s) do not match your books:", ""]
    for alert in alerts[:DIGEST_ITEMS]:
        lines.append(f"- {alert.message[:300]}")
        if alert.link:
            lines.append(f"  Open the reconciliation: {absolute(alert.link)}")
    return lines


def digest_body(organization_id: int, since: datetime) -> str:
    """The failures and needs-review records since `since`, newest first, and the flows whose books
    do not match ("" when there is none of either)."""
    parts = (failures_digest(organization_id, since), reconciliation_digest(organization_id))
    return "\n\n".join("\n".join(part) for part in parts if part)


def failures_digest(organization_id: int, since: datetime) -> list[str]:
    """The records that failed or need review since `since` and are not fixed yet, newest first."""
    from connector.models import Event, Record

    record_ids = (
        Event.objects.filter(organization_id=organization_id, kind=Event.Kind.FAILED, created_at__gte=since)
        .values_list("record_id", flat=True)
        .distinct()
    )
    records = Record.objects.filter(
        organization_id=organization_id,
        pk__in=record_ids,
        status__in=[Record.Status.FAILED, Record.Status.NEEDS_REVIEW],
    ).select_related("flow")
    total = records.count()
    if not total:
        return []
    lines = [f"{total} record(s) failed or need review since your last digest and are not fixed yet:", ""]
    for record in records.order_by("-id")[:DIGEST_ITEMS]:
        label = record.get_status_display().lower()
        name = f"{record.object_type} {record.source_ref or record.source_id}"
        lines.append(f"- {name} ({label}, {record.flow.name or 'flow'}): {record.last_error[:200]}")
        if record.remediation:
            lines.append(f"  What to do: {record.remediation[:200]}")
        lines.append(f"  {record_url(record.pk)}")
    if total > DIGEST_ITEMS:
        lines.append(f"… and {total - DIGEST_ITEMS} more: {settings.PUBLIC_BASE_URL}{reverse('audit_log')}")
    return lines


def person_zone(user) -> ZoneInfo:
    """The time zone the person chose under Settings (UTC when none or unknown)."""
    name = getattr(getattr(user, "profile", None), "time_zone", "") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def digest_due(membership: Membership, now: datetime) -> bool:
    """At or after DIGEST_HOUR in the person's own time zone, and not yet sent on that local day.
    Checked hourly, so a missed hour (workers down at 07:00) still sends later the same day."""
    zone = person_zone(membership.user)
    local = now.astimezone(zone)
    if local.hour < DIGEST_HOUR:
        return False
    sent = membership.digest_sent_at
    return sent is None or sent.astimezone(zone).date() < local.date()


def _claim_digest(membership: Membership, now: datetime) -> bool:
    """Mark the digest sent, unless another worker did since we read the row (one mail a day)."""
    claimed = Membership.objects.filter(pk=membership.pk, digest_sent_at=membership.digest_sent_at).update(
        digest_sent_at=now
    )
    return claimed == 1


def send_digests(now: datetime | None = None) -> int:
    """The digest for every member who chose it and whose local morning it is; returns mails sent.
    Each covers the failures since that person's last digest, at most the last day."""
    now = now or timezone.now()
    memberships = Membership.objects.filter(notify_daily_digest=True, user__is_active=True).select_related(
        "user__profile", "organization"
    )
    sent = 0
    for membership in memberships:
        if not digest_due(membership, now):
            continue
        email = verified_email(membership.user)
        since = max(now - timedelta(days=1), membership.digest_sent_at or now - timedelta(days=1))
        if not email or not _claim_digest(membership, now):
            continue
        body = digest_body(membership.organization_id, since)
        if body:
            _send(membership, email, DIGEST, f"Daily failures digest · {membership.organization.name}", body)
            sent += 1
    return sent


def on_alert_saved(sender, instance, created: bool, **kwargs) -> None:
    """post_save of connector.Alert: a new needs-review or reconciliation alert queues its immediate
    mail after commit. Only a new alert: a later run updating the open one mails nobody."""
    if not created:
        return
    if instance.record_id is not None and instance.key.startswith(NEEDS_REVIEW_ALERT_PREFIX):
        task = NEEDS_REVIEW_MAIL_TASK
    elif instance.key.startswith(RECONCILIATION_ALERT_PREFIX):
        task = RECONCILIATION_MAIL_TASK
    else:
        return
    if not Membership.objects.filter(organization_id=instance.organization_id, notify_needs_review=True).exists():
        return
    alert_id = instance.pk
    transaction.on_commit(lambda: send(task, alert_id))
