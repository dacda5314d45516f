"""Set-up for benchmarks that run the product in-process (no server): the shared harness's
environment (REDIS_URL or the product's embedded Redis; DATABASE_URL or SQLite in a temp dir), then
Django, migrated."""

from __future__ import annotations

from _harness import prepare


def setup_django(name: str) -> None:
    prepare(name)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
