"""The QuickBooks Desktop sandbox's URL map, mounted under /sandbox/qbdesktop/ only when SANDBOX_ENABLED."""

from django.urls import path

from integrations.qbdesktop.sandbox import provision

urlpatterns = [
    path("", provision.home, name="qbdesktop_sandbox"),
    path("_try", provision.try_view, name="qbdesktop_sandbox_try"),
]
