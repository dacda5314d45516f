from django.db import migrations


class Migration(migrations.Migration):
    """The inventory push goes to the flow's source, whichever system it is: the column keeps its data."""

    dependencies = [
        ("qbdesktop", "0004_sync_cursor_and_inventory_push"),
    ]

    operations = [
        migrations.RenameField(
            model_name="qbdinventorylevel",
            old_name="shipstation_on_hand",
            new_name="source_on_hand",
        ),
    ]
