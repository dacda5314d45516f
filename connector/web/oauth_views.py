"""The pages of an OAuth connection, once for every system (DESIGN §6, §10).

Connect (choose where the vendor account lives, go to consent), callback (tokens stored, then settle
on a vendor account), pick-account, the connection page and Disconnect. The shape of django-allauth's
socialaccount providers: these views are generic and each system specialises them with a small
adapter class (`OAuthAdapter`, in the integration's views.py) that names its `OAuthProvider`, its
templates and wording, and says how to list the accounts a login can see (organisations, divisions)
and what choosing one means (settings written, a webhook subscribed). `ConnectView.adapter_view(...)`
makes the view function for a urls.py.

The views own what must be the same everywhere: changes are for owners and admins (`require_admin`),
the connection page for any member; another organisation's connection is a 404; changes are POSTs
(under Django's CSRF check); Disconnect is confirmed on the connection page before it is posted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from accounts.permissions import require_admin
from connector.http import ApiError
from connector.models import Connection
from connector.oauth import OAuthProvider, OAuthRefused

Account = dict[str, Any]


@dataclass(frozen=True)
class AccountList:
    """The vendor accounts a login can see, and the one the vendor says it is working in (if it says)."""

    accounts: list[Account] = field(default_factory=list)
    current: str | None = None


class OAuthAdapter:
    """How one OAuth system's pages differ. Subclass per system; instances are stateless."""

    provider: ClassVar[OAuthProvider]
    connect_template: ClassVar[str]
    pick_template: ClassVar[str]
    connection_template: ClassVar[str]
    connection_url_name: ClassVar[str]
    pick_url_name: ClassVar[str]
    #: the Connect form's field that says where the vendor account lives (data centre, country),
    #: passed to the provider as the context of the same name, and what it is preset to
    location_field: ClassVar[str]
    default_location: ClassVar[str] = ""
    #: the pick form's field carrying the chosen account's id
    account_field: ClassVar[str]
    #: what the vendor calls its accounts, plural ("organisations")
    accounts_noun: ClassVar[str] = "accounts"
    no_accounts_message: ClassVar[str] = "This login has no account to connect to."
    disconnected_message: ClassVar[str] = ""
    #: Use the vendor's current account at once when the merchant still has to pick one (the
    #: connection works meanwhile), rather than leaving the connection without an account.
    choose_current_first: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return self.provider.display_name

    def connect_context(self) -> dict:
        """What the Connect page lists besides the preset location (data centres, countries)."""
        return {}

    def connection_context(self, connection: Connection) -> dict:
        """What the connection page shows besides the connection."""
        return {}

    def list_accounts(self, connection: Connection) -> AccountList:
        """Ask the vendor which accounts this login can see. May raise ApiError."""
        raise NotImplementedError

    def account_id(self, account: Account) -> str:
        raise NotImplementedError

    def account_name(self, account: Account) -> str:
        raise NotImplementedError

    def chosen_account_id(self, connection: Connection) -> str | None:
        """The account the connection uses now, if any."""
        raise NotImplementedError

    def choose_account(self, connection: Connection, account: Account) -> None:
        """Make `account` the one this connection works with (settings, label, vendor-side set-up)."""
        raise NotImplementedError

    def notices(self, connection: Connection) -> list[tuple[int, str]]:
        """Messages (level, text) to show after an account was chosen, e.g. how a subscription went."""
        return []

    def find(self, accounts: Iterable[Account], wanted: object) -> Account | None:
        wanted = "" if wanted is None else str(wanted)
        return next((a for a in accounts if wanted and self.account_id(a) == wanted), None)


def _connection_page(adapter: OAuthAdapter, connection: Connection) -> HttpResponse:
    return HttpResponseRedirect(reverse(adapter.connection_url_name, args=[connection.pk]))


def _chosen(request: HttpRequest, adapter: OAuthAdapter, connection: Connection, account: Account) -> HttpResponse:
    adapter.choose_account(connection, account)
    messages.success(request, f"{adapter.name} is connected to “{adapter.account_name(account)}”.")
    for level, text in adapter.notices(connection):
        messages.add_message(request, level, text)
    return HttpResponseRedirect(reverse("connections"))


def settle_account(request: HttpRequest, adapter: OAuthAdapter, connection: Connection) -> HttpResponse:
    """Tokens are stored: keep the account chosen before (a reconnect) or the only one, else ask."""
    try:
        listing = adapter.list_accounts(connection)
    except ApiError as exc:
        messages.error(
            request, f"{adapter.name} is connected, but its {adapter.accounts_noun} could not be listed: {exc.message}"
        )
        return _connection_page(adapter, connection)
    if not listing.accounts:
        messages.error(request, adapter.no_accounts_message)
        return _connection_page(adapter, connection)
    kept = adapter.find(listing.accounts, adapter.chosen_account_id(connection))
    if kept is not None or len(listing.accounts) == 1:
        return _chosen(request, adapter, connection, kept or listing.accounts[0])
    if adapter.choose_current_first:
        adapter.choose_account(connection, adapter.find(listing.accounts, listing.current) or listing.accounts[0])
    return HttpResponseRedirect(reverse(adapter.pick_url_name, args=[connection.pk]))


class AdapterView(View):
    """A view specialised by an adapter; `decorators` wrap it (the role check runs first)."""

    adapter: OAuthAdapter | None = None
    decorators: ClassVar[tuple[Callable, ...]] = (require_admin,)

    @classmethod
    def adapter_view(cls, adapter_class: type[OAuthAdapter]) -> Callable[..., HttpResponse]:
        view = cls.as_view(adapter=adapter_class())
        for decorate in reversed(cls.decorators):
            view = decorate(view)
        return view

    @property
    def provider(self) -> OAuthProvider:
        return self.adapter.provider

    def own_connection(self, pk: int) -> Connection:
        return self.provider.own_connection(self.request, pk)


class ConnectView(AdapterView):
    """Choose where the vendor account lives, then off to the vendor's consent page."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        reconnect = self.provider.connection_to_reconnect(request)
        field_name = self.adapter.location_field
        current = (reconnect.settings or {}).get(field_name) if reconnect else self.adapter.default_location
        context = {**self.adapter.connect_context(), "current": current, "reconnect": reconnect}
        return render(request, self.adapter.connect_template, context)

    def post(self, request: HttpRequest) -> HttpResponse:
        reconnect = self.provider.connection_to_reconnect(request)
        field_name = self.adapter.location_field
        return self.provider.begin(request, {field_name: request.POST.get(field_name, "")}, connection=reconnect)


class CallbackView(AdapterView):
    """The vendor sends the person back here with a code: store the tokens, then settle the account."""

    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            connection = self.provider.complete(request)
        except OAuthRefused as refused:
            return self.provider.error_page(request, refused)
        return settle_account(request, self.adapter, connection)


class PickAccountView(AdapterView):
    """The accounts the login can see, one to choose (the current one preselected)."""

    http_method_names = ["get", "post"]

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method.lower() not in self.http_method_names:  # before asking the vendor anything
            return self.http_method_not_allowed(request, *args, **kwargs)
        self.connection = self.own_connection(kwargs["pk"])
        try:
            self.listing = self.adapter.list_accounts(self.connection)
        except ApiError as exc:
            messages.error(
                request, f"{self.adapter.name} {self.adapter.accounts_noun} could not be listed: {exc.message}"
            )
            return _connection_page(self.adapter, self.connection)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        adapter, accounts = self.adapter, self.listing.accounts
        selected = adapter.find(accounts, adapter.chosen_account_id(self.connection))
        selected = selected or adapter.find(accounts, self.listing.current) or (accounts[0] if accounts else None)
        choices = [{"id": adapter.account_id(a), "account": a, "selected": a is selected} for a in accounts]
        context = {"connection": self.connection, "choices": choices, "field": adapter.account_field}
        return render(request, adapter.pick_template, context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        chosen = self.adapter.find(self.listing.accounts, request.POST.get(self.adapter.account_field))
        if chosen is not None:
            return _chosen(request, self.adapter, self.connection, chosen)
        messages.error(request, f"Choose one of the listed {self.adapter.accounts_noun}.")
        return self.get(request, pk)


class ConnectionView(AdapterView):
    """The connection page: any member of the organisation may look."""

    http_method_names = ["get"]
    decorators = (login_required,)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = self.own_connection(pk)
        context = {**self.adapter.connection_context(connection), "connection": connection}
        return render(request, self.adapter.connection_template, context)


class DisconnectView(AdapterView):
    """Posted from the connection page's confirmation: vendor-side clean-up, revoke, forget the tokens."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = self.own_connection(pk)
        self.provider.disconnect(connection)
        messages.success(request, self.adapter.disconnected_message or f"{self.adapter.name} is disconnected.")
        return HttpResponseRedirect(reverse("connections"))
