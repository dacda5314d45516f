"""State of the Zoho sandbox (DESIGN §9): users, Books organisations, grants, tokens and documents.

Kept in the database so every web process and worker sees the same sandbox. Documents (contacts,
items, invoices, journals, sales orders, chart of accounts, taxes) are JSON rows per organisation,
shaped like Zoho's responses.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from connector.tenancy import TenantManager


class SandboxZohoUser(models.Model):
    """A Zoho account holder who signs in on the sandbox consent page; their Books organisations
    belong to the same tenant."""

    # The organisation whose people see and control it (pages, _control endpoints): every sandbox
    # account belongs to one.
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=4)
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["region", "email"], name="sbx_zoho_user_unique")]


class SandboxZohoOrg(models.Model):
    """A Books organisation with its limits and fault knobs."""

    user = models.ForeignKey(SandboxZohoUser, on_delete=models.CASCADE, related_name="orgs")
    organization_id = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    currency_code = models.CharField(max_length=3, default="USD")
    is_default_org = models.BooleanField(default=False)
    rate_limit_per_minute = models.PositiveIntegerField(default=100)
    daily_limit = models.PositiveIntegerField(default=10000)  # Premium plan (ZOHO.md §3)
    unique_reference_numbers = models.BooleanField(default=True)
    faults = models.JSONField(default=dict, blank=True)
    counters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class SandboxZohoGrant(models.Model):
    """An authorisation code: valid for 2 minutes, usable once."""

    code = models.CharField(max_length=100, unique=True)
    user = models.ForeignKey(SandboxZohoUser, on_delete=models.CASCADE, related_name="+")
    client_id = models.CharField(max_length=100)
    redirect_uri = models.CharField(max_length=500)
    scope = models.TextField(blank=True)
    access_type = models.CharField(max_length=10, default="online")
    code_challenge = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)


class SandboxZohoToken(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access"
        REFRESH = "refresh"

    token = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    user = models.ForeignKey(SandboxZohoUser, on_delete=models.CASCADE, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    client_id = models.CharField(max_length=100)
    scope = models.TextField(blank=True)
    grant_type = models.CharField(max_length=30)  # how it was issued: authorization_code | refresh_token
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class SandboxZohoDocument(models.Model):
    org = models.ForeignKey(SandboxZohoOrg, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20)  # contact, item, invoice, journal, salesorder, account, tax, comment
    object_id = models.CharField(max_length=30)
    parent_id = models.CharField(max_length=30, blank=True)  # comments: the invoice id
    number = models.CharField(max_length=100, blank=True)  # invoice_number, entry_number, salesorder_number
    reference_number = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=300, blank=True)  # contact_name, item name, account name
    email = models.CharField(max_length=300, blank=True)  # primary contact person's email
    data = models.JSONField(default=dict)
    created_time = models.DateTimeField(default=timezone.now)
    last_modified_time = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["org", "kind", "object_id"], name="sbx_zoho_doc_unique")]
        indexes = [
            models.Index(fields=["org", "kind", "reference_number"], name="sbx_zoho_doc_ref_idx"),
            models.Index(fields=["org", "kind", "number"], name="sbx_zoho_doc_num_idx"),
        ]
