"""URL map. Integration apps add theirs under /integrations/<system>/ and /hooks/<system>/."""

import importlib

from allauth.account.decorators import secure_admin_login
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from connector.web.health import healthz
from connector.web.metrics import metrics_view
from connector.web.webhook_address import rotate_webhook_token_view

# A malformed query parameter (connector.web.params.InvalidParam) is a 400 page that names it.
handler400 = "connector.web.params.bad_request"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),  # Prometheus, behind METRICS_TOKEN
    path("connections/<int:pk>/rotate-webhook-token/", rotate_webhook_token_view, name="rotate_webhook_token"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("connector.web.urls")),
    path("api/v1/", include("connector.web.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]


def _integration_urls() -> list:
    """Each integration app may have `urls.py` with `urlpatterns`, mounted at the root (its connect
    views under /integrations/<label>/, its webhooks under /hooks/<label>/). Each sandbox app (an
    app with `sandbox_of`, installed only when SANDBOX_ENABLED) has its own `urls.py`, mounted under
    /sandbox/<system>/. No core file names an integration, and none imports a sandbox."""
    patterns = []
    for config in apps.get_app_configs():
        system = getattr(config, "sandbox_of", None)
        if system:
            if settings.SANDBOX_ENABLED:
                patterns.append(path(f"sandbox/{system}/", include(f"{config.name}.urls")))
            continue
        if not config.name.startswith("integrations."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.urls")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.urls":
                raise
            continue
        patterns.append(path("", include(getattr(module, "urlpatterns", []))))
    return patterns


urlpatterns += _integration_urls()

if settings.ADMIN_ENABLED:
    # The admin shows every organisation's data: its login is the site's login (allauth's rate limits
    # and lockout, the same client IP), then staff only. ADMIN_URL moves it; ADMIN_ENABLED=false drops it.
    admin.site.login = secure_admin_login(admin.site.login)
    urlpatterns.insert(1, path(settings.ADMIN_URL, admin.site.urls))
