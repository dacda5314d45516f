"""Connect pages: choose the data centre → Zoho consent → callback → choose the Books organisation.

The pages are the core's generic OAuth views (connector/web/oauth_views.py); `ZohoBooksPages` says
what is Zoho's about them.
"""

from __future__ import annotations

from connector.models import Connection
from connector.web.oauth_views import (
    AccountList,
    CallbackView,
    ConnectionView,
    ConnectView,
    DisconnectView,
    OAuthAdapter,
    PickAccountView,
)
from integrations.zoho.client import ZohoBooksClient
from integrations.zoho.oauth import REGIONS, provider, sandbox_mode


class ZohoBooksPages(OAuthAdapter):
    provider = provider
    connect_template = "zoho/connect.html"
    pick_template = "zoho/pick_organization.html"
    connection_template = "zoho/connection.html"
    connection_url_name = "zoho_connection"
    pick_url_name = "zoho_pick_organization"
    location_field = "region"
    default_location = "us"
    account_field = "organization_id"
    accounts_noun = "organisations"
    no_accounts_message = "This Zoho login has no Books organisation. Create one in Zoho Books, then connect again."
    disconnected_message = "Zoho Books is disconnected and its refresh token revoked."

    def connect_context(self) -> dict:
        return {"regions": REGIONS.values()}

    def connection_context(self, connection: Connection) -> dict:
        return {"region": REGIONS.get((connection.settings or {}).get("region", "")), "sandbox": sandbox_mode()}

    def list_accounts(self, connection: Connection) -> AccountList:
        client = ZohoBooksClient(connection)
        try:
            return AccountList(client.organizations())
        finally:
            client.session.close()

    def account_id(self, account: dict) -> str:
        return str(account.get("organization_id"))

    def account_name(self, account: dict) -> str:
        return str(account.get("name", ""))

    def chosen_account_id(self, connection: Connection) -> str | None:
        return (connection.settings or {}).get("organization_id")

    def choose_account(self, connection: Connection, account: dict) -> None:
        connection.settings = {
            **connection.settings,
            "organization_id": self.account_id(account),
            "organization_name": self.account_name(account),
            "currency_code": str(account.get("currency_code", "")),
        }
        connection.external_account_id = self.account_id(account)
        connection.label = f"Zoho Books · {self.account_name(account)}"[:200]
        connection.save(update_fields=["settings", "external_account_id", "label", "updated_at"])


connect = ConnectView.adapter_view(ZohoBooksPages)
callback = CallbackView.adapter_view(ZohoBooksPages)
pick_organization = PickAccountView.adapter_view(ZohoBooksPages)
connection_detail = ConnectionView.adapter_view(ZohoBooksPages)
disconnect = DisconnectView.adapter_view(ZohoBooksPages)
