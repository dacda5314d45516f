"""Sandbox currencies: `GET /settings/currencies` and each contact's currency (multi-currency).

Zoho Books keeps one base currency per organisation and a list of other currencies an admin has
added (Settings → Currencies). A contact has one currency (`currency_id`, default the base); an
invoice or sales order takes its customer's currency, so orders in another currency need a contact
in that currency. Source: Zoho Books API v3, "Currency" (https://www.zoho.com/books/api/v3/currency/:
`currency_id`, `currency_code`, `currency_name`, `currency_symbol`, `price_precision`,
`currency_format`, `is_base_currency`), and contacts.yml (`currency_id` on create/update; the
contact carries `currency_id` / `currency_code`).

Rows are SandboxZohoDocument(kind="currency"); an organisation gets its base currency plus a few
common ones on first use, and a test can delete one to play "currency not added in Zoho".
"""

from __future__ import annotations

from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoOrg

# What a new Zoho Books organisation offers besides its base currency in this sandbox.
DEFAULT_OTHER_CURRENCIES = {
    "EUR": ("Euro", "€"),
    "GBP": ("Pound Sterling", "£"),
    "CAD": ("Canadian Dollar", "$"),
    "AUD": ("Australian Dollar", "$"),
    "USD": ("United States Dollar", "$"),
}


def _row(org: SandboxZohoOrg, code: str, name: str, symbol: str, base: bool) -> SandboxZohoDocument:
    return SandboxZohoDocument(
        org=org,
        kind="currency",
        object_id=state.new_id(),
        name=code,
        data={
            "currency_code": code,
            "currency_name": f"{code}- {name}",
            "currency_symbol": symbol,
            "price_precision": 2,
            "currency_format": "1,234,567.89",
            "is_base_currency": base,
        },
    )


def ensure_currencies(org: SandboxZohoOrg) -> None:
    """Seed the organisation's currencies once (base first); later edits by tests are kept."""
    if org.counters.get("currencies_seeded"):
        return
    base = org.currency_code.upper()
    name, symbol = DEFAULT_OTHER_CURRENCIES.get(base, (base, base))
    rows = [_row(org, base, name, symbol, True)]
    rows += [_row(org, code, n, s, False) for code, (n, s) in DEFAULT_OTHER_CURRENCIES.items() if code != base]
    SandboxZohoDocument.objects.bulk_create(rows)
    org.counters = {**org.counters, "currencies_seeded": True}
    SandboxZohoOrg.objects.filter(pk=org.pk).update(counters=org.counters)


def currencies(org: SandboxZohoOrg) -> list[dict]:
    ensure_currencies(org)
    rows = SandboxZohoDocument.objects.filter(org=org, kind="currency").order_by("id")
    return [{"currency_id": row.object_id, **row.data} for row in rows]


def currency_by_id(org: SandboxZohoOrg, currency_id: str) -> dict | None:
    return next((c for c in currencies(org) if c["currency_id"] == currency_id), None)


def base_currency(org: SandboxZohoOrg) -> dict:
    return next(c for c in currencies(org) if c["is_base_currency"])


def remove_currency(org: SandboxZohoOrg, code: str) -> None:
    """Test and demo helper: the organisation no longer offers `code`."""
    ensure_currencies(org)
    SandboxZohoDocument.objects.filter(org=org, kind="currency", name=code.upper()).delete()
