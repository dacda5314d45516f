"""State of the hosted Web Connector service (DESIGN §8).

- QBWCUser: the Web Connector login of one Connection (one per company file); the password is only
  ever stored as a Django password hash; repeated failures lock the user out for a while.
- QBWCSession: one Web Connector update run, named by its ticket. We keep only a SHA-256 of the
  ticket, so a database leak does not hand out live sessions.
- QBXMLJob: the deferred-target work queue. The engine queues jobs; sendRequestXML hands them out one
  at a time; receiveResponseXML completes them.
"""

from __future__ import annotations

import hashlib
import uuid

from django.db import models
from django.utils import timezone

from connector.models import Connection, Record, TenantModel


def new_guid() -> str:
    """A GUID in the braces form the .qwc file and QuickBooks' data extensions use."""
    return "{" + str(uuid.uuid4()).upper() + "}"


def ticket_digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


class QBWCUser(TenantModel):
    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="qbwc_user")
    username = models.CharField(max_length=100, unique=True)
    password_hash = models.CharField(max_length=256)
    owner_id = models.CharField(max_length=40, default=new_guid)
    file_id = models.CharField(max_length=40, default=new_guid)
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(default=timezone.now)
    last_login_at = models.DateTimeField(null=True, blank=True)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    company_file = models.CharField(max_length=500, blank=True)
    client_version = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.username


class QBWCSession(TenantModel):
    class State(models.TextChoices):
        READY = "ready", "Waiting for sendRequestXML"
        WAITING_RESPONSE = "waiting_response", "Waiting for receiveResponseXML"
        CLOSED = "closed", "Closed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="qbwc_sessions")
    ticket_hash = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.READY)
    current_job = models.ForeignKey("QBXMLJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    company_file = models.CharField(max_length=500, blank=True)
    qbxml_version = models.CharField(max_length=10, blank=True)
    last_error = models.TextField(blank=True)
    jobs_done = models.PositiveIntegerField(default=0)
    progress = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "closed_at"], name="qbwc_session_open_idx")]

    @property
    def is_open(self) -> bool:
        return self.closed_at is None and self.expires_at > timezone.now()


class QBXMLJob(TenantModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        WAITING = "waiting", "Waiting for a re-query"  # a Mod blocked behind its EditSequence re-query
        SENT = "sent", "Sent to QuickBooks"
        DONE = "done", "Done"
        ERROR = "error", "Error"
        UNCERTAIN = "uncertain", "Outcome unknown"  # a write whose answer never came back
        CANCELLED = "cancelled", "Cancelled"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="qbxml_jobs")
    record = models.ForeignKey(Record, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=60)  # qbXML request name: "InvoiceAdd", "ItemInventoryQuery"
    request_xml = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    order_key = models.CharField(max_length=100, blank=True, default="")  # sorts the queue, then id
    handler = models.CharField(max_length=100, blank=True)  # name given to jobs.register_handler
    context = models.JSONField(default=dict, blank=True)  # the engine's own data, handed back to it
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    blocked_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # An iterator continuation is valid only in the session that started it.
    session = models.ForeignKey(QBWCSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    iterator_id = models.CharField(max_length=100, blank=True)
    iterator_remaining = models.IntegerField(null=True, blank=True)
    page = models.PositiveIntegerField(default=1)
    attempts = models.PositiveIntegerField(default=0)
    # QuickBooks answered "busy": the job is handed out again no earlier than this (jobs.RESEND).
    not_before = models.DateTimeField(null=True, blank=True)
    status_code = models.IntegerField(null=True, blank=True)
    status_severity = models.CharField(max_length=20, blank=True)
    status_message = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)  # summary: TxnID/ListID/EditSequence, counts
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order_key", "id"]
        indexes = [models.Index(fields=["connection", "status", "order_key", "id"], name="qbxml_job_queue_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_write(self) -> bool:
        return not self.kind.endswith("Query")


class QBDInventoryLevel(TenantModel):
    """Per SKU: QuickBooks' QuantityOnHand at the last check and what we invoiced since.

    Reconciliation (inventory.py): expected = quantity at the last check − quantities our invoices took
    since; a different QuantityOnHand at the next check means stock moved in QuickBooks outside this
    flow (or the flow's source shipped stock QuickBooks does not have, when it goes negative)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="qbd_inventory")
    sku = models.CharField(max_length=200)  # the item's FullName in QuickBooks
    list_id = models.CharField(max_length=100, blank=True)
    quantity_on_hand = models.DecimalField(max_digits=18, decimal_places=5, null=True, blank=True)
    invoiced_since_check = models.DecimalField(max_digits=18, decimal_places=5, default=0)
    # What our invoices took between the previous check and the last one (shown by the reconciliation page).
    invoiced_at_check = models.DecimalField(max_digits=18, decimal_places=5, default=0)
    expected = models.DecimalField(max_digits=18, decimal_places=5, null=True, blank=True)
    difference = models.DecimalField(max_digits=18, decimal_places=5, null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # Pushing QuickBooks' quantity to the flow source's inventory (flow option push_inventory):
    # pending until pushed or found equal, so a failed push is retried, never lost.
    push_pending = models.BooleanField(default=False)
    source_on_hand = models.IntegerField(null=True, blank=True)  # the source's total at the last push/check
    pushed_at = models.DateTimeField(null=True, blank=True)
    push_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "sku"], name="qbd_inventory_sku_unique")]
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku}: {self.quantity_on_hand}"


class QBDSyncCursor(TenantModel):
    """Where the incremental sync of one QuickBooks list (or of invoices) stands, per connection.

    `modified_since`/`deleted_since` are QuickBooks' own TimeModified/TimeDeleted high-water marks (read
    in the company's time zone, stored UTC), moved only once a whole pass has been applied; the next
    pass asks from there minus an overlap. `pass_high` is the running maximum of the pass in progress
    (its pages are separate jobs); an iterator that restarts starts the pass, and this maximum, again."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", "Customers"
        ITEMS = "items", "Items"
        INVOICES = "invoices", "Invoices"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="qbd_sync_cursors")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    modified_since = models.DateTimeField(null=True, blank=True)
    deleted_since = models.DateTimeField(null=True, blank=True)
    pass_high = models.DateTimeField(null=True, blank=True)
    pass_started_at = models.DateTimeField(null=True, blank=True)
    pass_count = models.PositiveIntegerField(default=0)
    last_synced_at = models.DateTimeField(null=True, blank=True)  # our clock: when the last pass completed
    last_count = models.PositiveIntegerField(default=0)  # objects the last completed pass applied
    last_deleted_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "kind"], name="qbd_sync_cursor_kind_unique")]
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.kind} since {self.modified_since}"


class QBDLedgerListing(TenantModel):
    """The documents QuickBooks holds for one period, as its Web Connector last answered our queued
    listing queries (reconciliation): requested, then filled page by page as the iterator's answers
    arrive, answered once the last page is in. `documents` are connector.reconcile.LedgerDocument
    fields as JSON (amounts as text)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the Web Connector"
        ANSWERED = "answered", "Answered"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="qbd_ledger_listings")
    start = models.DateField()
    end = models.DateField()
    txn_type = models.CharField(max_length=20)  # "Invoice" or "JournalEntry"
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    documents = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "start", "end", "txn_type"], name="qbd_ledger_listing_unique")
        ]

    def __str__(self) -> str:
        return f"{self.txn_type} {self.start}..{self.end}: {self.status}"
