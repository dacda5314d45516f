"""State of the QuickBooks Desktop sandbox: which organisation owns which simulated company file.

The company file itself (customers, items, transactions) is the in-memory `SimulatedCompany` a
Web Connector simulator run plays against; this row ties it to its tenant and to the connection
the simulator logs in to.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from connector.tenancy import TenantManager


class SandboxQBDCompany(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    connection = models.OneToOneField(
        "connector.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=200, default="Demo company (simulated)")
    created_at = models.DateTimeField(default=timezone.now)
    # The company file's transactions between simulated runs (SimulatedCompany.export_txns), so what
    # one run wrote is there for the next run's queries and for a bookkeeper's hand edits.
    transactions = models.JSONField(default=list, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
