"""Move DRF authtoken keys (stored in plain text) into hashed ApiToken rows, then drop their table.

A migrated key keeps working for 90 days in its owner's first organisation, named "Migrated API
token"; its plaintext is gone from the database. Nothing happens when the table does not exist.
"""

import hashlib
from datetime import timedelta

from django.db import migrations
from django.utils import timezone

TABLE = "authtoken_token"


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    Membership = apps.get_model("accounts", "Membership")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {TABLE}")  # noqa: S608 - constant table name
        rows = cursor.fetchall()
    expires = timezone.now() + timedelta(days=90)
    for key, user_id in rows:
        membership = Membership.objects.filter(user_id=user_id).order_by("created_at", "id").first()
        if membership is None:
            continue  # a key without an organisation could not call the API anyway
        ApiToken.objects.create(
            user_id=user_id,
            organization_id=membership.organization_id,
            name="Migrated API token",
            key_hash=hashlib.sha256(key.encode()).hexdigest(),
            key_hint=key[:6],
            expires_at=expires,
        )
    schema_editor.execute(f"DROP TABLE {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_profile_notifications_api_tokens")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
