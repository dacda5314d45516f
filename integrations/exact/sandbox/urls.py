"""Sandbox URL map, mounted under /sandbox/exact/ only when SANDBOX_ENABLED."""

from django.urls import path, re_path

from connector.sandbox.pages import landing_urls
from integrations.exact.sandbox import api, control, documents, oauth, provision

urlpatterns = [
    *landing_urls("exact", provision.home, provision.try_view),
    path("_control/faults", control.fault_knobs, name="exact_sandbox_faults"),
    path("_control/companies", control.create_company, name="exact_sandbox_companies"),
    path("_control/users/<str:country>/<str:email>", control.user_counters, name="exact_sandbox_user"),
    path("_control/webhooks/retry", control.retry_webhooks, name="exact_sandbox_webhooks_retry"),
    path("_control/webhooks/<int:division>", control.webhook_log, name="exact_sandbox_webhooks"),
    path(
        "_control/divisions/<int:division>/documents/<str:entity>/<str:guid>",
        control.hand_edit,
        name="exact_sandbox_hand_edit",
    ),
    path(
        "<str:country>/docs/<int:division>/journal/<str:entry_id>/",
        documents.journal_entry_page,
        name="exact_sandbox_journal_entry",
    ),
    path("<str:country>/api/oauth2/auth", oauth.authorize, name="exact_sandbox_authorize"),
    path("<str:country>/api/oauth2/token", oauth.token, name="exact_sandbox_token"),
    path("<str:country>/api/v1/current/Me", api.me, name="exact_sandbox_me"),
    re_path(r"^(?P<country>[a-z]{2})/api/v1/(?P<division>\d+)/(?P<path>.+)$", api.api, name="exact_sandbox_api"),
]
