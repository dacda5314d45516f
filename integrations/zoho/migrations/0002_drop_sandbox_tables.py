"""Drop the Zoho sandbox's old tables from databases made before the sandbox became its own app.

A fresh database never had them (the earlier migrations of this app create nothing now). A demo
database made before keeps its sandbox rows in tables named after this app; the sandbox app
(zoho_sandbox) makes its own. Children go first so no foreign key blocks a drop, on SQLite and PostgreSQL.
"""

from django.db import migrations

OLD_TABLES = (
    "zoho_sandboxzohodocument",
    "zoho_sandboxzohotoken",
    "zoho_sandboxzohogrant",
    "zoho_sandboxzohoorg",
    "zoho_sandboxzohouser",
)


class Migration(migrations.Migration):
    dependencies = [("zoho", "0001_initial")]

    operations = [
        migrations.RunSQL([f"DROP TABLE IF EXISTS {table}" for table in OLD_TABLES], reverse_sql=migrations.RunSQL.noop),
    ]
