"""State of the WooCommerce sandbox stores (DESIGN §9), in the database so every process shares it.

Resources keep their REST JSON in `data` (what `GET /wp-json/wc/v3/<resource>/<id>` returns) and
the fields the sandbox filters on as columns. Ids are the row ids.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from connector.sandbox.outbox import OutboxMessage
from connector.tenancy import TenantManager


class SandboxStore(models.Model):
    # The organisation whose people see and control it (pages, _control endpoints): every sandbox
    # account belongs to one.
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=0)  # 0.2000 = 20 %
    # Fault knobs (POST /sandbox/woocommerce/_control/faults): error_rate, rate_429, latency_ms,
    # timeout_rate, timeout_seconds, duplicate_rate, out_of_order_rate, strip_authorization,
    # coalesce, max_delivery_failures, seed.
    faults = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.slug


class SandboxApiKey(models.Model):
    store = models.ForeignKey(SandboxStore, on_delete=models.CASCADE, related_name="keys")
    description = models.CharField(max_length=300)
    consumer_key = models.CharField(max_length=100, unique=True)
    consumer_secret = models.CharField(max_length=100)
    permissions = models.CharField(max_length=20, default="read_write")  # read | write | read_write
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxCustomer(models.Model):
    store = models.ForeignKey(SandboxStore, on_delete=models.CASCADE, related_name="customers")
    email = models.CharField(max_length=254)
    data = models.JSONField(default=dict)
    date_created_gmt = models.DateTimeField(default=timezone.now)
    date_modified_gmt = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxProduct(models.Model):
    store = models.ForeignKey(SandboxStore, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict)
    date_modified_gmt = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxOrder(models.Model):
    store = models.ForeignKey(SandboxStore, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=30, default="pending")
    data = models.JSONField(default=dict)
    date_created_gmt = models.DateTimeField(default=timezone.now)
    date_modified_gmt = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxOrderRefund(models.Model):
    """A refund of a sandbox order (`/orders/<id>/refunds`); the order's `refunds` summary mirrors it."""

    order = models.ForeignKey(SandboxOrder, on_delete=models.CASCADE, related_name="refund_rows")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reason = models.TextField(blank=True)
    date_created_gmt = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxOrderNote(models.Model):
    order = models.ForeignKey(SandboxOrder, on_delete=models.CASCADE, related_name="notes")
    note = models.TextField()
    customer_note = models.BooleanField(default=False)
    author = models.CharField(max_length=100, default="system")
    date_created_gmt = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxWebhook(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        DISABLED = "disabled"

    store = models.ForeignKey(SandboxStore, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    topic = models.CharField(max_length=100)
    delivery_url = models.CharField(max_length=1000)
    secret = models.CharField(max_length=200, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    pending_delivery = models.BooleanField(default=True)
    date_created_gmt = models.DateTimeField(default=timezone.now)
    date_modified_gmt = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxDeliveryLog(models.Model):
    """Every delivery the sandbox attempted (or held back for out-of-order), for tests and the demo."""

    webhook = models.ForeignKey(SandboxWebhook, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=100)
    topic = models.CharField(max_length=100)
    resource_id = models.CharField(max_length=50, blank=True)
    body = models.TextField()
    held = models.BooleanField(default=False)  # waiting to be sent after a later one
    ping = models.BooleanField(default=False)
    response_code = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxWebhookOutbox(OutboxMessage):
    """A delivery the store owes a webhook (the durable outbox row, `connector.sandbox.outbox`), written
    with the change that causes it; each HTTP try is logged in `SandboxDeliveryLog`."""

    webhook = models.ForeignKey(SandboxWebhook, on_delete=models.CASCADE, related_name="outbox")
    topic = models.CharField(max_length=100)
    resource_id = models.CharField(max_length=50, blank=True)
    body = models.TextField()
    held = models.BooleanField(default=False)  # the out-of-order knob: sent after a later one

    class Meta:
        ordering = ["id"]
