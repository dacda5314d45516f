"""The ShipStation connect form: keys are checked with a live call before anything is saved."""

from __future__ import annotations

from django import forms
from django.conf import settings

from connector.http import ApiError, AuthExpired, RateLimited
from integrations.shipstation.client import V1_BASE_URL, V2_BASE_URL, ShipStationClient, ShipStationV2Client
from integrations.shipstation.connection import sandbox_base_url


class ConnectForm(forms.Form):
    label = forms.CharField(max_length=200, initial="ShipStation")
    api_key = forms.CharField(
        label="V1 API key", max_length=200, required=False, widget=forms.PasswordInput(render_value=False)
    )
    api_secret = forms.CharField(
        label="V1 API secret", max_length=200, required=False, widget=forms.PasswordInput(render_value=False)
    )
    v2_api_key = forms.CharField(
        label="V2 API key",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="With a V1 key and secret: for V2-only features such as inventory levels. "
        "Alone: a V2 connection (API-Key header, signed webhooks, inventory) that cannot feed order or "
        "shipment flows yet: those need the V1 key and secret.",
    )
    base_url = forms.URLField(
        label="Sandbox base URL",
        required=False,
        help_text="Sandbox mode only: where the ShipStation sandbox is served.",
        assume_scheme="https",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if settings.SANDBOX_ENABLED:
            self.fields["base_url"].initial = sandbox_base_url()
        else:
            del self.fields["base_url"]
        self.stores: list[dict] = []

    def api_base_url(self) -> str:
        if settings.SANDBOX_ENABLED:
            return (self.cleaned_data.get("base_url") or sandbox_base_url()).rstrip("/")
        return V1_BASE_URL

    def api_version(self) -> str:
        """V1 when a key and secret are given (a V2 key then only adds V2 features); V2 with a V2 key alone."""
        return "v1" if self.cleaned_data.get("api_key") else "v2"

    def api_v2_base_url(self) -> str:
        return self.api_base_url() if settings.SANDBOX_ENABLED else V2_BASE_URL

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        for name in ("api_key", "api_secret", "v2_api_key"):
            data[name] = (data.get(name) or "").strip()
        if bool(data["api_key"]) != bool(data["api_secret"]):
            raise forms.ValidationError(
                "A V1 connection needs both the API key and the API secret.", code="incomplete_keys"
            )
        if not data["api_key"] and not data["v2_api_key"]:
            raise forms.ValidationError("Enter a V1 API key and secret, or a V2 API key.", code="no_keys")
        if data["api_key"]:
            self._check_v1(data)
        if data["v2_api_key"]:
            self._check_v2(data)
        return data

    def _check_v2(self, data: dict) -> None:
        """A live V2 call (list webhooks: every V2 account may, whatever add-ons it has)."""
        client = ShipStationV2Client(self.api_v2_base_url(), api_key=data["v2_api_key"])
        try:
            client.list_webhooks()
        except AuthExpired:
            raise forms.ValidationError(
                "ShipStation did not accept this V2 API key. Copy it again from ShipStation "
                "(Settings → Account → API Settings) and try once more.",
                code="bad_v2_key",
            ) from None
        except RateLimited:
            raise forms.ValidationError(
                "ShipStation is rate limiting this V2 API key right now. Wait a minute, then try again.",
                code="rate_limited",
            ) from None
        except ApiError as exc:
            raise forms.ValidationError(
                f"Could not check the V2 key with ShipStation: {exc.message}. Nothing was saved; try again.",
                code="unreachable",
            ) from None

    def _check_v1(self, data: dict) -> None:
        client = ShipStationClient(self.api_base_url(), api_key=data["api_key"], api_secret=data["api_secret"])
        try:
            self.stores = client.list_stores()
        except AuthExpired:
            raise forms.ValidationError(
                "ShipStation did not accept this API key and secret. Copy both again from ShipStation "
                "(Settings → Account → API Settings) and try once more.",
                code="bad_keys",
            ) from None
        except RateLimited:
            raise forms.ValidationError(
                "ShipStation is rate limiting this API key right now. Wait a minute, then try again.",
                code="rate_limited",
            ) from None
        except ApiError as exc:
            raise forms.ValidationError(
                f"Could not check the keys with ShipStation: {exc.message}. Nothing was saved; try again.",
                code="unreachable",
            ) from None
