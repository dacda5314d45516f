"""The sandboxes' shared kit: one knob validator, seeded dice, fixed windows (connector.sandbox.kit)."""

from __future__ import annotations

import pytest

from connector.redis import get_redis
from connector.sandbox import kit

SPEC = {"error_rate": kit.RATE, "latency_ms": int, "timeout_seconds": float, "strip": bool, "refs": list, "seed": int}


def test_one_validator_for_every_kind_of_knob():
    clean, problems = kit.validate_knobs(
        {
            "error_rate": 1,
            "latency_ms": 20,
            "timeout_seconds": 0.5,
            "strip": True,
            "refs": ["A-1"],
            "seed": None,
            "x": 1,
        },
        SPEC,
        ignore=("x",),
    )
    assert problems == {}
    assert clean == {
        "error_rate": 1.0,
        "latency_ms": 20,
        "timeout_seconds": 0.5,
        "strip": True,
        "refs": ["A-1"],
        "seed": None,
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"error_rate": 1.5}, "must be between 0 and 1"),
        ({"error_rate": "0.5"}, "expected a number"),
        ({"error_rate": True}, "expected a number"),
        ({"error_rate": float("nan")}, "expected a number"),
        ({"latency_ms": 1.5}, "expected a whole number"),
        ({"latency_ms": -1}, "must not be negative"),
        ({"strip": 1}, "expected true or false"),
        ({"refs": "A-1"}, "expected a list"),
        ({"bogus": 1}, "unknown knob"),
    ],
)
def test_bad_knobs_are_named_with_their_problem(body, problem):
    clean, problems = kit.validate_knobs(body, SPEC)
    assert clean == {} and problems == {next(iter(body)): problem}


def test_seeded_dice_repeat_and_unseeded_dice_need_no_counter():
    redis = get_redis()
    redis.delete("sandbox:test:dice")
    first = [kit.dice("sandbox:test:dice", 7).random() for _ in range(5)]
    redis.delete("sandbox:test:dice")
    assert [kit.dice("sandbox:test:dice", 7).random() for _ in range(5)] == first
    assert len(set(first)) == 5  # a new draw per request, not the same number again
    kit.dice("sandbox:test:unseeded", None).random()
    assert redis.get("sandbox:test:unseeded") is None


def test_fixed_windows_count_and_reset():
    redis = get_redis()
    for key in redis.keys("sandbox:test:calls:*"):
        redis.delete(key)
    now = 1_000_000_050.0  # 30 s into a minute
    first = kit.count("sandbox:test:calls", {"min": 60, "day": 86400}, now=now)
    second = kit.count("sandbox:test:calls", {"min": 60, "day": 86400}, now=now + 1)
    assert (first["min"].used, second["min"].used, second["day"].used) == (1, 2, 2)
    assert first["min"].reset == pytest.approx(30.0) and first["min"].ends == 1_000_000_080.0
    later = kit.count("sandbox:test:calls", {"min": 60}, now=now + 60)  # the next minute starts at 1
    assert later["min"].used == 1
    assert kit.peek("sandbox:test:calls", "day", 86400, now=now + 60).used == 2  # only "min" was counted


def test_every_sandbox_account_belongs_to_an_organisation():
    """The top model of each sandbox (the one a person sees and controls) has a required owner."""
    from django.apps import apps

    from connector.sandbox.apps import SandboxAppConfig

    owned = [
        model
        for config in apps.get_app_configs()
        if isinstance(config, SandboxAppConfig)
        for model in config.get_models()
        if any(field.name == "organization" for field in model._meta.get_fields())
    ]
    assert len(owned) == 5  # one account model per sandbox
    for model in owned:
        field = model._meta.get_field("organization")
        assert field.is_relation and not field.null, model


def test_a_rolling_window_forgets_only_what_is_older_than_it():
    kit.note("t:roll", 600, now=1000.0)
    kit.note("t:roll", 600, now=1300.0)
    assert kit.recent("t:roll", 600, now=1300.0) == 2
    assert kit.recent("t:roll", 600, now=1599.0) == 2  # a fixed 600 s slot would have reset at 1200
    assert kit.recent("t:roll", 600, now=1600.0) == 1
    assert kit.recent("t:roll", 600, now=1900.0) == 0


def test_oauth_server_compares_client_credentials_in_constant_time(settings):
    from connector.sandbox.oauth_server import OAuthServer, same_secret

    class Server(OAuthServer):
        def client_id(self) -> str:
            return "id-1"

        def client_secret(self) -> str:
            return "secret-1"

    server = Server()
    assert server.client_ok("id-1") and server.client_ok("id-1", "secret-1")
    assert not server.client_ok("id-1", "") and not server.client_ok("id-2") and not server.client_ok("", None)
    assert same_secret("a", "a") and not same_secret("a", "ab") and not same_secret(None, "a")


@pytest.mark.django_db(transaction=True)
def test_orphan_sandbox_accounts_are_deleted_before_the_owner_becomes_required(alice):
    """Migrated back to the nullable column, an orphan login (and its Books organisation) is made;
    migrating forward deletes it and keeps the owned one."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("zoho_sandbox", "0001_initial")])
    old = executor.loader.project_state([("zoho_sandbox", "0001_initial")]).apps
    User, Org = old.get_model("zoho_sandbox", "SandboxZohoUser"), old.get_model("zoho_sandbox", "SandboxZohoOrg")
    orphan = User.objects.create(region="us", email="orphan@example.com")
    Org.objects.create(user=orphan, organization_id="1", name="Orphan Books")
    owned = User.objects.create(region="us", email="owned@example.com", organization_id=alice.org.pk)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from integrations.zoho.sandbox.models import SandboxZohoOrg, SandboxZohoUser

    assert list(SandboxZohoUser.objects.values_list("pk", flat=True)) == [owned.pk]
    assert not SandboxZohoOrg.objects.exists()
