"""How the Zoho and Exact modules depend on each other: through public names and signals only."""

from __future__ import annotations

import ast
from pathlib import Path

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


def test_the_oauth_providers_reach_their_views_only_through_signals():
    """The provider never imports views: each app connects its receivers to its own provider class."""
    for module in ("zoho", "exact"):
        source = Path(__file__).parents[3] / "integrations" / module / "oauth.py"
        imported = {
            node.module
            for node in ast.walk(ast.parse(source.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not {f"integrations.{module}.views", f"integrations.{module}.subscriptions"} & imported
    assert oauth.connected.has_listeners(ZohoOAuth) and oauth.connected.has_listeners(ExactOAuth)
    assert oauth.disconnecting.has_listeners(ExactOAuth)
