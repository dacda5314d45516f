"""The QuickBooks Desktop sandbox's URL map, mounted under /sandbox/qbdesktop/ only when SANDBOX_ENABLED."""

from connector.sandbox.pages import landing_urls
from integrations.qbdesktop.sandbox import provision

urlpatterns = [
    *landing_urls("qbdesktop", provision.home, provision.try_view),
]
