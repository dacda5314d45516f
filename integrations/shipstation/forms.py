"""The ShipStation connect form: keys are checked with a live call before anything is saved."""

from __future__ import annotations

from django import forms
from django.conf import settings

from connector.http import ApiError, AuthExpired, RateLimited
from integrations.shipstation.client import V1_BASE_URL, ShipStationClient
from integrations.shipstation.connection import sandbox_base_url


class ConnectForm(forms.Form):
    label = forms.CharField(max_length=200, initial="ShipStation")
    api_key = forms.CharField(label="API key", max_length=200, widget=forms.PasswordInput(render_value=False))
    api_secret = forms.CharField(label="API secret", max_length=200, widget=forms.PasswordInput(render_value=False))
    v2_api_key = forms.CharField(
        label="V2 API key (optional)",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only needed for V2-only features such as inventory levels.",
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

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        client = ShipStationClient(
            self.api_base_url(), api_key=data["api_key"].strip(), api_secret=data["api_secret"].strip()
        )
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
        return data
