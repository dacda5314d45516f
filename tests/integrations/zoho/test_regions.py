"""Data centres: Zoho's own hosts in production, validated; anything else refused (no database needed)."""

from __future__ import annotations

import pytest

from connector.oauth import OAuthRefused
from integrations.zoho import oauth as zoho_oauth


@pytest.mark.parametrize(
    ("code", "accounts", "api"),
    [
        ("us", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        ("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        ("in", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        ("au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
        ("jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        ("ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        ("cn", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
        ("sa", "https://accounts.zoho.sa", "https://www.zohoapis.sa"),
        ("uk", "https://accounts.zoho.uk", "https://www.zohoapis.uk"),
    ],
)
def test_production_hosts_are_zohos_own(settings, code, accounts, api):
    settings.ZOHO_USE_SANDBOX = False
    assert zoho_oauth.validated_accounts_server(accounts) == accounts
    assert zoho_oauth.validated_api_domain(api + "/") == api
    assert zoho_oauth.region_for(api, "api_domain") == code
    assert zoho_oauth.ZohoOAuth().token_endpoint({"region": code}) == accounts + "/oauth/v2/token"


@pytest.mark.parametrize(
    "host",
    [
        "https://www.zohoapis.com.evil.example",
        "http://www.zohoapis.com",  # not https
        "https://www.zohoapis.com@evil.example",
        "https://zohoapis.ca",
        "https://books.zoho.com",
        "",
    ],
)
def test_unknown_hosts_are_refused(settings, host):
    settings.ZOHO_USE_SANDBOX = False
    with pytest.raises(OAuthRefused):
        zoho_oauth.validated_api_domain(host)
    with pytest.raises(OAuthRefused):
        zoho_oauth.validated_accounts_server(host)


def test_an_api_domain_of_another_region_is_refused():
    with pytest.raises(OAuthRefused):
        zoho_oauth.ZohoOAuth().settings_from_token(
            {"api_domain": zoho_oauth.region("eu").api_domain},
            {"region": "us", "accounts_server": zoho_oauth.region("us").accounts_server},
        )
