"""Drop the WooCommerce sandbox's old tables from databases made before the sandbox became its own app.

A fresh database never had them (the earlier migrations of this app create nothing now). A demo
database made before keeps its sandbox rows in tables named after this app; the sandbox app
(woocommerce_sandbox) makes its own. Children go first so no foreign key blocks a drop, on SQLite and PostgreSQL.
"""

from django.db import migrations

OLD_TABLES = (
    "woocommerce_sandboxdeliverylog",
    "woocommerce_sandboxwebhook",
    "woocommerce_sandboxordernote",
    "woocommerce_sandboxorderrefund",
    "woocommerce_sandboxorder",
    "woocommerce_sandboxcustomer",
    "woocommerce_sandboxproduct",
    "woocommerce_sandboxapikey",
    "woocommerce_sandboxstore",
)


class Migration(migrations.Migration):
    dependencies = [("woocommerce", "0002_sandbox_order_refund")]

    operations = [
        migrations.RunSQL([f"DROP TABLE IF EXISTS {table}" for table in OLD_TABLES], reverse_sql=migrations.RunSQL.noop),
    ]
