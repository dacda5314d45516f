from __future__ import annotations

from django import forms

from .auth import InvalidStoreURL, normalize_store_url


class StoreURLField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        try:
            return normalize_store_url(value)
        except InvalidStoreURL as exc:
            raise forms.ValidationError(str(exc)) from None


class ConnectForm(forms.Form):
    store_url = StoreURLField(
        label="Store address",
        max_length=500,
        help_text="Your WooCommerce site's home address, e.g. https://shop.example.com",
        widget=forms.TextInput(attrs={"placeholder": "https://shop.example.com", "autocomplete": "url"}),
    )
    label = forms.CharField(label="Name (optional)", max_length=200, required=False)


class ManualKeysForm(forms.Form):
    store_url = StoreURLField(label="Store address", max_length=500)
    consumer_key = forms.CharField(
        label="Consumer key",
        max_length=100,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    consumer_secret = forms.CharField(
        label="Consumer secret",
        max_length=100,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="WooCommerce → Settings → Advanced → REST API → Add key, permissions Read/Write.",
    )
    label = forms.CharField(label="Name (optional)", max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        # Shown on one page with ConnectForm, which has fields of the same names: distinct element ids.
        kwargs.setdefault("auto_id", "manual_%s")
        super().__init__(*args, **kwargs)
