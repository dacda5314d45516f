"""API tokens: hashed at rest, shown once, named, expiring, revocable, bound to one organisation."""

from __future__ import annotations

import hashlib
import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Membership, Role
from tests.conftest import make_flow

pytestmark = pytest.mark.django_db


def _api(key: str, keyword: str = "Bearer", name: str = "flow-list"):
    return Client().get(reverse(name), HTTP_AUTHORIZATION=f"{keyword} {key}")


def test_only_a_hash_is_stored(alice):
    token, key = ApiToken.issue(alice, alice.org, "script")
    assert key.startswith("cnk_") and len(key) > 40
    token.refresh_from_db()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    row = {f.name: str(getattr(token, f.attname)) for f in ApiToken._meta.concrete_fields}
    assert not any(key in value for value in row.values())


def test_created_in_settings_shown_once_then_never_again(alice_client, alice):
    response = alice_client.post(reverse("settings_api_tokens"), {"name": "Reporting", "days": "30"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    key = response.content.decode().split('id="new-token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    assert hashlib.sha256(key.encode()).hexdigest() == token.key_hash
    assert token.name == "Reporting" and token.organization == alice.org
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert _api(key).status_code == 200
    listing = alice_client.get(reverse("settings_api_tokens")).content.decode()
    assert "Reporting" in listing and key not in listing and token.key_hint in listing


def test_several_named_tokens_and_both_header_spellings(alice):
    _, first = ApiToken.issue(alice, alice.org, "one")
    _, second = ApiToken.issue(alice, alice.org, "two")
    assert _api(first).status_code == 200
    assert _api(second, keyword="Token").status_code == 200
    assert ApiToken.objects.get(name="one").last_used_at is not None


@pytest.mark.parametrize("key", ["cnk_wrong", "", "a b"])
def test_unknown_keys_are_refused(alice, key):
    ApiToken.issue(alice, alice.org, "real")
    assert _api(key).status_code == 401


def test_revoked_and_expired_tokens_stop_working(alice_client, alice):
    revoked, revoked_key = ApiToken.issue(alice, alice.org, "revoked")
    expired, expired_key = ApiToken.issue(alice, alice.org, "expired")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert alice_client.post(reverse("revoke_api_token", args=[revoked.pk])).status_code == 302
    assert _api(revoked_key).status_code == 401
    assert _api(expired_key).status_code == 401


def test_a_token_works_only_in_its_own_organisation_and_only_while_a_member(alice, bob):
    Membership.objects.create(user=alice, organization=bob.org, role=Role.MEMBER)
    make_flow(bob.org, name="Bob's flow")
    _, key = ApiToken.issue(alice, bob.org, "for bob's org")
    _, own_key = ApiToken.issue(alice, alice.org, "own")
    assert [f["name"] for f in _api(key).json()["results"]] == ["Bob's flow"]
    assert _api(own_key).json()["results"] == []
    Membership.objects.filter(user=alice, organization=bob.org).delete()
    assert _api(key).status_code == 403


def test_others_cannot_revoke_or_see_your_tokens_but_admins_can(client, alice, bob):
    token, key = ApiToken.issue(alice, alice.org, "alice's")
    client.force_login(bob)
    assert client.post(reverse("revoke_api_token", args=[token.pk])).status_code == 404
    assert "alice&#x27;s" not in client.get(reverse("settings_api_tokens")).content.decode()
    member = Membership.objects.create(user=bob, organization=alice.org, role=Role.MEMBER)
    client.post(reverse("switch_organization"), {"organization": alice.org.pk})
    assert client.post(reverse("revoke_api_token", args=[token.pk])).status_code == 404
    member.role = Role.ADMIN
    member.save()
    assert client.post(reverse("revoke_api_token", args=[token.pk])).status_code == 302
    assert _api(key).status_code == 401


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor refuses to run inside the test's transaction
def test_old_drf_tokens_are_migrated_hashed_and_their_plaintext_table_dropped(alice):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, user_id integer, created timestamp)")
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, NULL)", ["0123456789abcdef0123456789abcdef01234567", alice.pk]
        )
    migration = importlib.import_module("accounts.migrations.0003_migrate_drf_tokens")
    with connection.schema_editor() as editor:
        migration.forwards(apps, editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    token = ApiToken.objects.get(name="Migrated API token")
    assert token.organization == alice.org
    assert _api("0123456789abcdef0123456789abcdef01234567", keyword="Token").status_code == 200


def test_the_openapi_schema_documents_bearer_tokens(alice_client):
    schema = alice_client.get("/api/schema/").content.decode()
    assert "apiToken:" in schema and "scheme: bearer" in schema
