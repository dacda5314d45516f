"""Connect pages: choose the country → Exact consent → callback → choose the division; the
connection page (webhook subscription with Subscribe again) and Disconnect.

All but Subscribe again are the core's generic OAuth views (connector/web/oauth_views.py);
`ExactOnlinePages` says what is Exact's about them.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from accounts.permissions import require_admin
from connector.models import Connection
from connector.registry import presets
from connector.web.oauth_views import (
    AccountList,
    CallbackView,
    ConnectionView,
    ConnectView,
    DisconnectView,
    OAuthAdapter,
    PickAccountView,
)
from integrations.exact import subscriptions
from integrations.exact.client import ExactClient
from integrations.exact.oauth import COUNTRIES, provider, sandbox_mode


def exact_pairings(connection: Connection) -> list[dict]:
    """Every flow type Exact Online takes part in, with what it does and a link that starts one with
    this connection on Exact's side."""
    found = []
    for preset in presets():
        if "exact" not in (preset.source_system, preset.target_system):
            continue
        side = "target" if preset.target_system == "exact" else "source"
        url = reverse("flow_create") + "?" + urlencode({"preset": preset.key, side: connection.pk})
        found.append({"name": preset.name, "description": preset.description, "url": url})
    return found


class ExactOnlinePages(OAuthAdapter):
    provider = provider
    connect_template = "exact/connect.html"
    pick_template = "exact/pick_division.html"
    connection_template = "exact/connection.html"
    connection_url_name = "exact_connection"
    pick_url_name = "exact_pick_division"
    location_field = "country"
    default_location = "nl"
    account_field = "division"
    accounts_noun = "divisions"
    no_accounts_message = "This Exact login has no company (division). Create one in Exact, then connect again."
    disconnected_message = "Exact Online is disconnected."
    choose_current_first = True  # the current division (`current/Me`) is used until the merchant picks

    def connect_context(self) -> dict:
        return {"countries": COUNTRIES.values()}

    def connection_context(self, connection: Connection) -> dict:
        return {
            "pairings": exact_pairings(connection),
            "country": COUNTRIES.get((connection.settings or {}).get("country", "")),
            "webhooks": subscriptions.status(connection),
            "callback_url": subscriptions.callback_url(connection),
            "sandbox": sandbox_mode(),
        }

    def list_accounts(self, connection: Connection) -> AccountList:
        with ExactClient(connection, division=None) as me_client:
            current = me_client.me().get("CurrentDivision")
        if not current:
            return AccountList()
        with ExactClient(connection, division=current) as client:
            return AccountList(client.divisions(), current=str(current))

    def account_id(self, account: dict) -> str:
        return str(account.get("Code"))

    def account_name(self, account: dict) -> str:
        return str(account.get("Description") or "")

    def chosen_account_id(self, connection: Connection) -> str | None:
        division = (connection.settings or {}).get("division")
        return str(division) if division else None

    def choose_account(self, connection: Connection, account: dict) -> None:
        connection.settings = {
            **connection.settings,
            "division": int(account["Code"]),
            "division_name": self.account_name(account),
            "currency": str(account.get("Currency") or ""),
        }
        connection.external_account_id = str(account["Code"])
        connection.label = f"Exact Online · {self.account_name(account)}"[:200]
        connection.save(update_fields=["settings", "external_account_id", "label", "updated_at"])
        # Saved (and committed: no transaction here) first, so our webhook view finds the connection
        # when Exact checks the callback during the subscription. Replaces an earlier division's.
        subscriptions.subscribe(connection)

    def notices(self, connection: Connection) -> list[tuple[int, str]]:
        """How the webhook subscription went, when it did not simply succeed."""
        outcome = subscriptions.status(connection)
        state = outcome.get("state")
        if state not in (subscriptions.FAILED, subscriptions.NOT_HTTPS, subscriptions.ELSEWHERE):
            return []
        return [(messages.ERROR if state == subscriptions.FAILED else messages.INFO, outcome.get("message", ""))]


connect = ConnectView.adapter_view(ExactOnlinePages)
callback = CallbackView.adapter_view(ExactOnlinePages)
pick_division = PickAccountView.adapter_view(ExactOnlinePages)
connection_detail = ConnectionView.adapter_view(ExactOnlinePages)
disconnect = DisconnectView.adapter_view(ExactOnlinePages)  # deletes our webhook subscriptions first


@require_admin
@require_POST
def resubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    connection = provider.own_connection(request, pk)
    if connection.status == Connection.Status.DISABLED:
        messages.error(request, "This connection is disconnected: connect it again first.")
    else:
        outcome = subscriptions.subscribe(connection)
        if outcome["state"] == subscriptions.SUBSCRIBED:
            messages.success(request, outcome["message"])
        for level, text in ExactOnlinePages().notices(connection):
            messages.add_message(request, level, text)
    return HttpResponseRedirect(reverse("exact_connection", args=[connection.pk]))
