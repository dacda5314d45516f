"""Sandbox accounts without an organisation are deleted before the column becomes required (0003)."""

from django.db import migrations

from connector.sandbox.migration_ops import delete_orphans


class Migration(migrations.Migration):
    dependencies = [("exact_sandbox", "0001_initial")]

    operations = [delete_orphans("exact_sandbox", "SandboxExactUser")]
