"""Drop the ShipStation sandbox's old tables from databases made before the sandbox became its own app.

A fresh database never had them (the earlier migrations of this app create nothing now). A demo
database made before keeps its sandbox rows in tables named after this app; the sandbox app
(shipstation_sandbox) makes its own. Children go first so no foreign key blocks a drop, on SQLite and PostgreSQL.
"""

from django.db import migrations

OLD_TABLES = (
    "shipstation_sandboxwebhookcall",
    "shipstation_sandboxwebhook",
    "shipstation_sandboxshipment",
    "shipstation_sandboxorder",
    "shipstation_sandboxcustomer",
    "shipstation_sandboxproduct",
    "shipstation_sandboxsigningkey",
    "shipstation_sandboxaccount",
)


class Migration(migrations.Migration):
    dependencies = [("shipstation", "0002_sandboxsigningkey_sandboxaccount_v2_rate_limit_and_more")]

    operations = [
        migrations.RunSQL([f"DROP TABLE IF EXISTS {table}" for table in OLD_TABLES], reverse_sql=migrations.RunSQL.noop),
    ]
