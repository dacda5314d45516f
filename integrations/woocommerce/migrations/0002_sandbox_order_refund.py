"""Formerly the WooCommerce sandbox's order refunds.

Its sandbox models moved to their own app (woocommerce_sandbox, installed only when SANDBOX_ENABLED), so
this migration creates nothing any more: a production database gets no sandbox table. It stays
so databases that recorded it keep a linear history; 0003_drop_sandbox_tables removes the old tables there.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [("woocommerce", "0001_initial")]

    operations = []
