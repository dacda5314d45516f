"""Core data model (DESIGN §4): Connection, Flow, Record, Event, Link, Delivery, Alert.

Every row belongs to an organisation and is queried through `objects.for_org(org)`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from connector.crypto import EncryptedJSONField, EncryptedTextField
from connector.tenancy import TenantManager


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class TenantModel(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()

    class Meta:
        abstract = True


class Connection(TenantModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
        ERROR = "error", "Error"
        DISABLED = "disabled", "Disabled"

    system = models.CharField(max_length=40, db_index=True)
    label = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    credentials = EncryptedJSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token)
    webhook_secret = EncryptedTextField(null=True, blank=True)
    external_account_id = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)  # circuit breaker
    # Who is refreshing the OAuth tokens, and until when (where the database has no row locks): kept
    # in the database so that losing Redis can never let two workers spend a rotating refresh token.
    refresh_lease_owner = models.CharField(max_length=32, blank=True)
    refresh_lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["system", "label", "id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.system})"

    @property
    def is_paused(self) -> bool:
        """Paused by the circuit breaker: its vendor kept failing, its flows wait until `paused_until`."""
        return self.paused_until is not None and self.paused_until > timezone.now()


class Flow(TenantModel):
    preset = models.CharField(max_length=60)
    name = models.CharField(max_length=200, blank=True)
    source = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="flows_as_source")
    target = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="flows_as_target")
    options = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=False)
    interval_seconds = models.PositiveIntegerField(default=300)
    next_run_at = models.DateTimeField(null=True, blank=True)
    cursor = models.JSONField(default=dict, blank=True)  # per object type, ISO UTC high-water marks
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_status = models.CharField(max_length=20, blank=True)
    last_run_error = models.TextField(blank=True)
    # The scheduled reconciliation (connector.reconcile_runs): how often, at which hour (UTC), and
    # when the next one is due. Daily by default: books that drift apart are found the next morning.
    reconcile_schedule = models.CharField(
        max_length=10,
        choices=[("off", "Off"), ("daily", "Daily"), ("weekly", "Weekly, on Mondays")],
        default="daily",
    )
    reconcile_hour = models.PositiveSmallIntegerField(default=6)
    reconcile_next_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="flow_due_idx")]

    def __str__(self) -> str:
        return self.name or self.preset

    def schedule_next(self, now=None):
        now = now or timezone.now()
        return now + timedelta(seconds=self.interval_seconds)


class Record(TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SYNCED = "synced", "Synced"
        FAILED = "failed", "Failed"
        NEEDS_REVIEW = "needs_review", "Needs review"
        SKIPPED = "skipped", "Skipped"

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="records")
    object_type = models.CharField(max_length=40)
    source_id = models.CharField(max_length=200)
    source_ref = models.CharField(max_length=200, blank=True, db_index=True)  # order number, email
    search_text = models.CharField(max_length=500, blank=True)  # lower-cased keys to search: email, name
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # Where the target document is in its own life, when the target reports it (Zoho sales orders:
    # submitted, shipped, canceled, not_submitted). Filterable in the audit log.
    stage = models.CharField(max_length=20, blank=True, db_index=True)
    target_id = models.CharField(max_length=200, blank=True)
    target_url = models.URLField(max_length=500, blank=True)  # the object in the target's own UI
    # The target document in business terms, from the target adapter's `describe_result` when it was
    # written: {"kind", "number", "total", "currency", "status"}. `target_ref` is its number, so the
    # audit log finds a record by the invoice or journal number a merchant sees in their books.
    result = models.JSONField(default=dict, blank=True)
    target_ref = models.CharField(max_length=200, blank=True, db_index=True)
    payload = models.JSONField(null=True, blank=True)  # canonical payload of the last success
    source_payload = models.JSONField(null=True, blank=True)  # newest canonical version seen at the source
    payload_hash = models.CharField(max_length=64, blank=True)
    source_modified_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    remediation = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # When a pending record's next try is due (its retry's countdown, or the sweep's own re-queue):
    # the database, not a message in Redis or in a worker, says which pending work is owed.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "object_type", "source_id"], name="one_record_per_source_object")
        ]
        indexes = [
            # The audit log lists one organisation's records newest first, paged by (updated_at, id):
            # each filter has an index in that order behind its equality, so a page is a short range
            # scan at any depth, however many records the organisation or the table holds.
            models.Index(fields=["organization", "-updated_at", "-id"], name="record_audit_idx"),
            models.Index(fields=["organization", "status", "-updated_at", "-id"], name="record_status_idx"),
            models.Index(fields=["organization", "flow", "-updated_at", "-id"], name="record_flow_idx"),
            models.Index(fields=["organization", "object_type", "-updated_at", "-id"], name="record_type_idx"),
            # Only records whose target reports a stage (Zoho sales orders) have one: a partial index.
            models.Index(
                fields=["organization", "stage", "-updated_at", "-id"],
                name="record_stage_idx",
                condition=~models.Q(stage=""),
            ),
            # The dashboard's lag chart (the last 30 days' syncs, newest first) and its first-document
            # step range over one organisation's records by when they were synced.
            models.Index(fields=["organization", "-synced_at"], name="record_synced_idx"),
            # The API's record list is keyset-paged newest id first within one organisation.
            models.Index(fields=["organization", "-id"], name="record_org_id_idx"),
            # The re-queue sweep reads only pending records: a partial index stays small.
            models.Index(
                fields=["next_attempt_at", "updated_at"],
                name="record_pending_due_idx",
                condition=models.Q(status="pending"),
            ),
        ]
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"{self.object_type} {self.source_ref or self.source_id}"


class Event(TenantModel):
    """Append-only timeline of a record."""

    class Kind(models.TextChoices):
        RECEIVED = "received"
        FETCHED = "fetched"
        MAPPED = "mapped"
        API_CALL = "api_call"
        CREATED = "created"
        UPDATED = "updated"
        UNCHANGED = "unchanged"
        FAILED = "failed"
        ALERT = "alert"
        REPLAYED = "replayed"
        SKIPPED = "skipped"

    record = models.ForeignKey(Record, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The webhook delivery a "received" event came from: a delivery's page lists the records it produced.
    delivery = models.ForeignKey(
        "Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="events", db_index=False
    )
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["record", "id"], name="event_record_idx"),
            models.Index(fields=["organization", "-id"], name="event_org_idx"),
            # The dashboard's charts count one organisation's events of some kinds over the last 30 days.
            models.Index(fields=["organization", "kind", "created_at"], name="event_org_kind_time_idx"),
            # Only webhook-received events name a delivery: a partial index stays small.
            models.Index(fields=["delivery"], name="event_delivery_idx", condition=models.Q(delivery__isnull=False)),
        ]


class Link(TenantModel):
    """Identity map: (connection, object type, external id) <-> canonical key. Makes writes idempotent."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="links")
    object_type = models.CharField(max_length=40)
    external_id = models.CharField(max_length=200)
    canonical_key = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "object_type", "external_id"], name="link_external_unique"),
            models.UniqueConstraint(fields=["connection", "object_type", "canonical_key"], name="link_key_unique"),
        ]


class Delivery(TenantModel):
    """Webhook inbox: stored before we answer 2xx, so nothing accepted is lost."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        DUPLICATE = "duplicate", "Duplicate"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"

    # The webhook inbox writes a row per delivery in bursts: no database foreign-key checks on these
    # two (each was a locking read of the connection's or organisation's row at every commit, the
    # same hot row for every delivery of a burst). The request has just read the connection; Django
    # still cascades deletes (on_delete runs in the ORM, not the database). The organisation's index
    # is delivery_org_idx below.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False)
    topic = models.CharField(max_length=100, blank=True)
    delivery_id = models.CharField(max_length=200, blank=True)
    dedupe_key = models.CharField(max_length=200)  # "id:<delivery id>" or the body hash
    body_hash = models.CharField(max_length=64, blank=True)  # sha256 of topic + body
    # True for the one delivery per key (and per body) that is processed; duplicates, refused and
    # malformed deliveries are False. The partial unique constraints below make the database, not a
    # read-then-write race, decide which of two concurrent copies is the first.
    is_first = models.BooleanField(default=False)
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField()
    signature_valid = models.BooleanField(null=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    # The HTTP status our endpoint answered the sender (the audit shows it; 200 for all it stored).
    answered = models.PositiveSmallIntegerField(default=200)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Processing tries so far, and when the next one is due: set while a failed delivery waits for
    # its retry (a vendor 500 or 429), or while a received one waits for the sweep to queue it
    # again; None on a failed delivery means it is final (only Replay runs it again).
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "dedupe_key"], condition=models.Q(is_first=True), name="delivery_first_key"
            ),
            models.UniqueConstraint(
                fields=["connection", "body_hash"], condition=models.Q(is_first=True), name="delivery_first_body"
            ),
        ]
        indexes = [
            # The stale-delivery sweep and the audit look deliveries up by status and age.
            models.Index(fields=["status", "received_at"], name="delivery_status_idx"),
            # The deliveries page and the API list one organisation's deliveries newest first, paged by id.
            models.Index(fields=["organization", "-id"], name="delivery_org_idx"),
            # The retry sweep: deliveries with a next attempt scheduled.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_retry_idx",
                condition=models.Q(next_attempt_at__isnull=False),
            ),
        ]


class Alert(TenantModel):
    """Something a person must act on, shown on the dashboard until resolved."""

    class Level(models.TextChoices):
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    flow = models.ForeignKey(Flow, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    record = models.ForeignKey(Record, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    key = models.CharField(max_length=200)  # dedupes open alerts: "reauth:<connection id>"
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.WARNING)
    message = models.TextField()
    remediation = models.TextField(blank=True)
    # A page of this site where the person acts on it (a path, e.g. a reconciliation run), shown as a
    # button on the dashboard and made absolute in mails; "" when the alert links a record or nothing.
    link = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_alert_per_key",
            )
        ]


def raise_alert(
    organization, key: str, message: str, *, remediation: str = "", level: str = "warning", **links
) -> Alert:
    """Open an alert once: a second call with the same key updates the open one."""
    alert, _ = Alert.objects.update_or_create(
        organization=organization,
        key=key,
        resolved_at=None,
        defaults={"message": message, "remediation": remediation, "level": level, **links},
    )
    return alert


def resolve_alerts(organization, key: str) -> int:
    return Alert.objects.for_org(organization).filter(key=key, resolved_at=None).update(resolved_at=timezone.now())


def resolve_settled_alerts(organization) -> int:
    """Close open alerts whose cause is gone, whoever fixed it: a record that synced since (by a
    replay, a later edit, a deferred write), a connection re-authorised since (by any integration's
    connect view). The circuit breaker's alert is closed by the engine on the vendor's next success.
    Pages call it before listing alerts."""
    now = timezone.now()
    settled = models.Q(
        key__startswith="record:", record__status__in=[Record.Status.SYNCED, Record.Status.SKIPPED]
    ) | models.Q(
        # Active again, and saved after the alert was raised: someone re-authorised it.
        key__startswith="reauth:",
        connection__status=Connection.Status.ACTIVE,
        connection__updated_at__gt=models.F("created_at"),
    )
    return Alert.objects.for_org(organization).filter(settled, resolved_at=None).update(resolved_at=now)


class ReconciliationRun(TenantModel):
    """One reconciliation of a flow's period, computed by a worker (connector.reconcile_runs) and kept:
    the page, the exports, Replay and the API read its stored lines instead of asking both vendors on
    every view. A run whose ledger cannot list the period yet (QuickBooks Desktop answers on the Web
    Connector's next visit) waits and is tried again."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for the ledger"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Run now"
        PAGE = "page", "Opened the page"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"

    IN_PROGRESS = (Status.QUEUED, Status.RUNNING, Status.WAITING)

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="reconciliation_runs")
    start = models.DateField()
    end = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Lines by status ({"missing": 2, ...}) and per currency [{"currency", "source", "ledger",
    # "difference"}] with amounts as Decimal strings: the summary reads them without the lines.
    counts = models.JSONField(default=dict, blank=True)
    totals = models.JSONField(default=list, blank=True)
    line_count = models.PositiveIntegerField(default=0)
    # Lines not matched and not explained by a record still pending: what the alert counts.
    problem_count = models.PositiveIntegerField(default=0)
    vendor_calls = models.PositiveIntegerField(null=True, blank=True)  # both systems' list pages
    message = models.TextField(blank=True)  # why it waits or failed, in the merchant's words
    remediation = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a waiting run is tried again, or when the sweep next checks that a queued one was not lost.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)  # a running run whose worker died lapses
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Orders were replayed from this run's lines since it finished: the ledger has moved on.
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["flow", "start", "end", "-id"], name="recon_run_period_idx"),
            models.Index(fields=["organization", "-id"], name="recon_run_org_idx"),
            models.Index(
                fields=["status", "next_attempt_at"],
                name="recon_run_pending_idx",
                condition=models.Q(status__in=["queued", "running", "waiting"]),
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.start}–{self.end} ({self.status})"

    @property
    def in_progress(self) -> bool:
        return self.status in self.IN_PROGRESS

    @property
    def outdated(self) -> bool:
        return self.replayed_at is not None


class ReconciliationLine(TenantModel):
    """One line of a stored run, in the page's order (problems first). `data` holds the line as
    connector.reconcile.Line has it (amounts as Decimal strings); the columns are what pages filter
    and Replay looks up by."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    status = models.CharField(max_length=20)
    reference = models.CharField(max_length=200)
    source_id = models.CharField(max_length=200, blank=True)  # empty for a document no order explains
    record_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="recon_line_position_unique")]
        indexes = [
            models.Index(fields=["run", "status", "position"], name="recon_line_status_idx"),
            models.Index(fields=["run", "source_id"], name="recon_line_source_idx"),
        ]
