"""State of the ShipStation sandbox (DESIGN §9). Lives in the database so every web process agrees."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from connector.sandbox.outbox import OutboxMessage
from connector.tenancy import TenantManager


def _key() -> str:
    return secrets.token_hex(16)


class SandboxAccount(models.Model):
    name = models.CharField(max_length=200, default="Sandbox store")
    # The organisation whose people see and control it (pages, _control endpoints): every sandbox
    # account belongs to one.
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    api_key = models.CharField(max_length=64, unique=True, default=_key)
    api_secret = models.CharField(max_length=64, default=_key)
    v2_api_key = models.CharField(max_length=64, blank=True, default=_key, db_index=True)
    # Rate limit: ShipStation's is 40 per 60 s; benchmarks run a scaled clock (e.g. 40 per 1 s).
    rate_limit = models.PositiveIntegerField(default=40)
    rate_window_seconds = models.FloatField(default=60.0)
    # V2 (API-Key) has its own limit: 200 per minute (SHIPSTATION.md §B2); same window knob.
    v2_rate_limit = models.PositiveIntegerField(default=200)
    # Fault knobs (probabilities 0..1, milliseconds); `seed` makes the dice repeatable.
    fault_5xx_rate = models.FloatField(default=0.0)
    fault_429_rate = models.FloatField(default=0.0)
    fault_timeout_rate = models.FloatField(default=0.0)
    timeout_seconds = models.FloatField(default=35.0)
    latency_ms = models.PositiveIntegerField(default=0)
    duplicate_webhook_rate = models.FloatField(default=0.0)
    seed = models.BigIntegerField(null=True, blank=True)
    auto_deliver_webhooks = models.BooleanField(default=True)
    store_id = models.PositiveIntegerField(default=10001)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager()

    def __str__(self) -> str:
        return self.name


class SandboxCustomer(models.Model):
    """ShipStation makes customers from orders; there is no API to create or edit one."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="customers")
    key = models.CharField(max_length=300)  # lower-cased email, else username
    email = models.CharField(max_length=300, blank=True)
    username = models.CharField(max_length=300, blank=True)
    address = models.JSONField(default=dict)
    create_date = models.DateTimeField(default=timezone.now)
    modify_date = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="ss_sandbox_customer_key")]


class SandboxProduct(models.Model):
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=200)
    name = models.CharField(max_length=300, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    on_hand = models.IntegerField(default=0)
    create_date = models.DateTimeField(default=timezone.now)
    modify_date = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "sku"], name="ss_sandbox_product_sku")]


class SandboxOrder(models.Model):
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="orders")
    order_key = models.CharField(max_length=200)
    order_number = models.CharField(max_length=200, db_index=True)
    status = models.CharField(max_length=40)
    customer = models.ForeignKey(SandboxCustomer, null=True, blank=True, on_delete=models.SET_NULL)
    data = models.JSONField(default=dict)  # the order as last written, without read-only fields
    import_batch = models.CharField(max_length=64, db_index=True, blank=True)
    create_date = models.DateTimeField(default=timezone.now)
    modify_date = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["account", "order_key"], name="ss_sandbox_order_key")]


class SandboxShipment(models.Model):
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="shipments")
    order = models.ForeignKey(SandboxOrder, on_delete=models.CASCADE, related_name="shipments")
    batch = models.CharField(max_length=64, db_index=True, blank=True)
    carrier_code = models.CharField(max_length=60)
    service_code = models.CharField(max_length=100, blank=True)
    package_code = models.CharField(max_length=60, default="package")
    confirmation = models.CharField(max_length=60, default="none")
    tracking_number = models.CharField(max_length=100)
    ship_date = models.DateField()
    shipment_cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    insurance_cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    items = models.JSONField(default=list)
    voided = models.BooleanField(default=False)
    void_date = models.DateTimeField(null=True, blank=True)
    create_date = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]


class SandboxWebhook(models.Model):
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="webhooks")
    # "v1": /webhooks/subscribe, unsigned; "v2": /v2/environment/webhooks, RSA-signed deliveries.
    api_version = models.CharField(max_length=2, default="v1")
    headers = models.JSONField(default=list)  # V2 custom headers [{key, value}]
    event = models.CharField(max_length=40)
    target_url = models.CharField(max_length=500)
    friendly_name = models.CharField(max_length=200, blank=True)
    store_id = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class SandboxWebhookCall(OutboxMessage):
    """One POST the sandbox owes a subscriber (the durable outbox row, `connector.sandbox.outbox`)."""

    Status = OutboxMessage.Status

    webhook = models.ForeignKey(SandboxWebhook, on_delete=models.CASCADE, related_name="calls")
    body = models.JSONField()

    class Meta:
        ordering = ["id"]

    @property
    def response_status(self) -> int | None:
        return self.last_status


class SandboxSigningKey(models.Model):
    """The sandbox's RSA key pairs for V2 webhook signatures, served as a JWKS (newest signs).

    Generated once on first use; `_control/v2/rotate_key` adds a new one (older ones stay in the JWKS,
    as a vendor keeps serving the previous key while rotating).
    """

    kid = models.CharField(max_length=64, unique=True)
    private_pem = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
