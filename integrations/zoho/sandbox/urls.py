"""Sandbox URL map, mounted under /sandbox/zoho/ only when SANDBOX_ENABLED."""

from django.urls import path, re_path

from connector.sandbox.pages import landing_urls
from integrations.zoho.sandbox import accounts, books, control, documents, provision

urlpatterns = [
    *landing_urls("zoho", provision.home, provision.try_view),
    path("_control/faults", control.fault_knobs, name="zoho_sandbox_faults"),
    path("_control/orgs", control.create_org, name="zoho_sandbox_orgs"),
    path("_control/orgs/<str:organization_id>/stats", control.org_stats, name="zoho_sandbox_org_stats"),
    path("_control/orgs/<str:organization_id>/customfields", control.custom_fields, name="zoho_sandbox_customfields"),
    path(
        "_control/orgs/<str:organization_id>/documents/<str:kind>/<str:object_id>",
        control.document_by_hand,
        name="zoho_sandbox_document_by_hand",
    ),
    path("_control/orgs/<str:organization_id>/salesorders", control.sales_orders_page, name="zoho_sandbox_salesorders"),
    path(
        "<str:region>/app/<str:organization_id>/<str:kind>/<str:object_id>/",
        documents.document_page,
        name="zoho_sandbox_document",
    ),
    path("<str:region>/accounts/oauth/v2/auth", accounts.authorize, name="zoho_sandbox_authorize"),
    path("<str:region>/accounts/oauth/v2/token", accounts.token, name="zoho_sandbox_token"),
    path("<str:region>/accounts/oauth/v2/token/revoke", accounts.revoke, name="zoho_sandbox_revoke"),
    re_path(r"^(?P<region>[a-z]{2})/books/v3/(?P<path>[a-z0-9/]+?)/?$", books.books_api, name="zoho_sandbox_books"),
]
