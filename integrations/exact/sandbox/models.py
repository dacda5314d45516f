"""State of the Exact Online sandbox: users, divisions, OAuth codes and tokens, and OData entities.

Entities of every kind share one table (`SandboxExactEntity`): `entity` is the OData entity set
name ("SalesOrders", "SalesOrderLines", "Accounts", ...) and `data` its JSON as Exact returns it.
"""

from __future__ import annotations

from django.db import models

from connector.sandbox.outbox import OutboxMessage
from connector.tenancy import TenantManager


class SandboxExactUser(models.Model):
    """An Exact login; its divisions (companies) belong to the same tenant."""

    # The organisation whose people see and control it (pages, _control endpoints): every sandbox
    # account belongs to one.
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    country = models.CharField(max_length=2)  # nl, be, uk, us, de, es, fr
    email = models.CharField(max_length=200)
    full_name = models.CharField(max_length=200, blank=True)
    current_division = models.IntegerField(null=True, blank=True)
    #: what the token endpoint refused, by reason (tests assert "old_refresh_token" stays 0)
    counters = models.JSONField(default=dict, blank=True)

    objects = TenantManager()

    class Meta:
        unique_together = [("country", "email")]


class SandboxExactDivision(models.Model):
    user = models.ForeignKey(SandboxExactUser, on_delete=models.CASCADE, related_name="divisions")
    code = models.IntegerField(unique=True)
    description = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="EUR")
    #: fault knobs (error_rate, rate_429, latency_ms, seed) and limits (minutely_limit, daily_limit)
    faults = models.JSONField(default=dict, blank=True)


class SandboxExactGrant(models.Model):
    code = models.CharField(max_length=80, unique=True)
    user = models.ForeignKey(SandboxExactUser, on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    used = models.BooleanField(default=False)


class SandboxExactToken(models.Model):
    token = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=10)  # access | refresh
    user = models.ForeignKey(SandboxExactUser, on_delete=models.CASCADE)
    chain = models.CharField(max_length=40, db_index=True)  # one consent; rotations stay in it
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)  # a refresh token spent by a rotation


class SandboxExactEntity(models.Model):
    division = models.ForeignKey(SandboxExactDivision, on_delete=models.CASCADE, related_name="entities")
    entity = models.CharField(max_length=60)
    guid = models.CharField(max_length=36)
    data = models.JSONField(default=dict)
    modified_at = models.DateTimeField()
    timestamp = models.BigIntegerField(default=0)  # sync API row version

    class Meta:
        unique_together = [("division", "entity", "guid")]
        indexes = [models.Index(fields=["division", "entity", "id"])]


class SandboxExactWebhookSubscription(models.Model):
    """`webhooks/WebhookSubscriptions` (EXACT.md §7.1): per division and user, one per topic and division."""

    guid = models.CharField(max_length=36, unique=True)
    division = models.ForeignKey(SandboxExactDivision, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    user = models.ForeignKey(SandboxExactUser, on_delete=models.CASCADE)
    client_id = models.CharField(max_length=36)
    topic = models.CharField(max_length=60)
    callback_url = models.TextField()
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["division", "topic"], name="sandbox_exact_one_subscription_per_topic")
        ]


class SandboxExactWebhookDelivery(OutboxMessage):
    """One notification to one subscription (a durable outbox row, `connector.sandbox.outbox`), with
    Exact's retries (about 10 over ~34 h, EXACT.md §7.2)."""

    subscription = models.ForeignKey(
        SandboxExactWebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    body = models.TextField()

    @property
    def delivered(self) -> bool:
        return self.status == OutboxMessage.Status.SENT

    @property
    def gave_up(self) -> bool:
        return self.status == OutboxMessage.Status.FAILED

    @property
    def response_code(self) -> int | None:
        return self.last_status

    @property
    def error(self) -> str:
        return self.last_error
