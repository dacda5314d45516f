import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("exact_sandbox", "0002_delete_orphan_accounts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sandboxexactuser",
            name="organization",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.organization"
            ),
        ),
    ]
