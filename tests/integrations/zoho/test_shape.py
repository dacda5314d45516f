"""How the Zoho and Exact modules depend on each other: through public names and signals only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from connector import oauth
from integrations.exact.oauth import ExactOAuth
from integrations.zoho import salesorders
from integrations.zoho.oauth import ZohoOAuth


def test_sales_orders_use_only_the_zoho_targets_public_methods():
    tree = ast.parse(Path(salesorders.__file__).read_text())
    private = sorted(
        {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "target"
        }
    )
    assert private == []


def test_the_oauth_providers_never_reach_into_their_views():
    """The provider never imports views or subscriptions: the views call the provider, and vendor-side
    clean-up on disconnect goes through the `disconnecting` signal of the app's own provider class."""
    for module in ("zoho", "exact"):
        source = Path(__file__).parents[3] / "integrations" / module / "oauth.py"
        imported = {
            node.module
            for node in ast.walk(ast.parse(source.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not {f"integrations.{module}.views", f"integrations.{module}.subscriptions"} & imported
    assert oauth.disconnecting.has_listeners(ExactOAuth)
    assert not oauth.disconnecting.has_listeners(ZohoOAuth)


@pytest.mark.parametrize(
    "names,provider_class",
    [
        (("zoho_connect", "zoho_callback", "zoho_pick_organization", "zoho_connection", "zoho_disconnect"), ZohoOAuth),
        (
            ("exact_connect", "exact_callback", "exact_pick_division", "exact_connection", "exact_disconnect"),
            ExactOAuth,
        ),
    ],
)
def test_the_connect_pages_are_the_core_views_specialised_by_the_vendors_adapter(names, provider_class):
    """One set of OAuth pages in core (allauth's adapter_view shape): each vendor URL is a core view
    class bound to an adapter of that vendor's provider, not a copy of the view."""
    from django.urls import resolve, reverse

    from connector.web import oauth_views

    kinds = [
        oauth_views.ConnectView,
        oauth_views.CallbackView,
        oauth_views.PickAccountView,
        oauth_views.ConnectionView,
        oauth_views.DisconnectView,
    ]
    for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        view = resolve(reverse(name, args=[1] if index >= 2 else [])).func
        assert view.view_class is kind
        assert isinstance(view.view_initkwargs["adapter"].provider, provider_class)
