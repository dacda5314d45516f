"""Drop the Exact sandbox's old tables from databases made before the sandbox became its own app.

A fresh database never had them (the earlier migrations of this app create nothing now). A demo
database made before keeps its sandbox rows in tables named after this app; the sandbox app
(exact_sandbox) makes its own. Children go first so no foreign key blocks a drop, on SQLite and PostgreSQL.
"""

from django.db import migrations

OLD_TABLES = (
    "exact_sandboxexactwebhookdelivery",
    "exact_sandboxexactwebhooksubscription",
    "exact_sandboxexactentity",
    "exact_sandboxexacttoken",
    "exact_sandboxexactgrant",
    "exact_sandboxexactdivision",
    "exact_sandboxexactuser",
)


class Migration(migrations.Migration):
    dependencies = [("exact", "0002_sandbox_webhook_subscriptions")]

    operations = [
        migrations.RunSQL([f"DROP TABLE IF EXISTS {table}" for table in OLD_TABLES], reverse_sql=migrations.RunSQL.noop),
    ]
