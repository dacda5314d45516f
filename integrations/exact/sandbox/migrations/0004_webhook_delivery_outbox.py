"""Webhook deliveries become durable outbox rows (connector.sandbox.outbox): a status instead of the
delivered / gave_up flags, claims for senders that die, delivered_at."""

import django.utils.timezone
from django.db import migrations, models


def forward(apps, schema_editor):
    delivery = apps.get_model("exact_sandbox", "SandboxExactWebhookDelivery")
    delivery.objects.filter(delivered=True).update(status="sent")
    delivery.objects.filter(gave_up=True).update(status="failed")


def backward(apps, schema_editor):
    delivery = apps.get_model("exact_sandbox", "SandboxExactWebhookDelivery")
    delivery.objects.filter(status="sent").update(delivered=True)
    delivery.objects.filter(status="failed").update(gave_up=True)


class Migration(migrations.Migration):
    dependencies = [("exact_sandbox", "0003_organization_required")]

    operations = [
        migrations.AddField(
            model_name="sandboxexactwebhookdelivery",
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
        migrations.AddField("sandboxexactwebhookdelivery", "claimed_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField(
            "sandboxexactwebhookdelivery", "delivered_at", models.DateTimeField(blank=True, null=True)
        ),
        migrations.RunPython(forward, backward),
        migrations.RemoveField("sandboxexactwebhookdelivery", "delivered"),
        migrations.RemoveField("sandboxexactwebhookdelivery", "gave_up"),
        migrations.RenameField("sandboxexactwebhookdelivery", "response_code", "last_status"),
        migrations.RenameField("sandboxexactwebhookdelivery", "error", "last_error"),
        migrations.AlterField(
            model_name="sandboxexactwebhookdelivery", name="last_error", field=models.TextField(blank=True)
        ),
        migrations.AlterField(
            model_name="sandboxexactwebhookdelivery",
            name="attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="sandboxexactwebhookdelivery",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
    ]
