"""Webhook calls become durable outbox rows (connector.sandbox.outbox): attempts, claims, retries."""

import django.utils.timezone
from django.db import migrations, models


def forward(apps, schema_editor):
    call = apps.get_model("shipstation_sandbox", "SandboxWebhookCall")
    call.objects.filter(status__in=["sent", "failed"]).update(attempts=1)
    call.objects.filter(status="failed").update(delivered_at=None)  # sent_at was the try, not a delivery
    # A call left "sending" by the old sender: what a dead sender leaves, found again by the sweep.
    call.objects.filter(status="sending").update(claimed_at=django.utils.timezone.now())


class Migration(migrations.Migration):
    dependencies = [("shipstation_sandbox", "0003_organization_required")]

    operations = [
        migrations.RenameField("sandboxwebhookcall", "response_status", "last_status"),
        migrations.RenameField("sandboxwebhookcall", "error", "last_error"),
        migrations.RenameField("sandboxwebhookcall", "sent_at", "delivered_at"),
        migrations.AlterField(
            model_name="sandboxwebhookcall",
            name="last_status",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="sandboxwebhookcall",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("claimed", "Claimed"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                ],
                db_index=True,
                default="pending",
                max_length=10,
            ),
        ),
        migrations.AddField("sandboxwebhookcall", "attempts", models.PositiveIntegerField(default=0)),
        migrations.AddField("sandboxwebhookcall", "claimed_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("sandboxwebhookcall", "next_attempt_at", models.DateTimeField(blank=True, null=True)),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
