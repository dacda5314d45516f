"""Re-encrypt every stored secret under the newest FIELD_ENCRYPTION_KEYS key.

Prepend a new key to FIELD_ENCRYPTION_KEYS, restart, run this, then the old key can be removed.
It reads raw ciphertext (no decryption to Python objects) and rotates it in place, row by row, each row
locked and in its own transaction, so a concurrent token refresh is never overwritten.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from connector.crypto import _EncryptedField, rotate_token


def encrypted_fields():
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, _EncryptedField)]
        if fields:
            yield model, fields


class Command(BaseCommand):
    help = "Re-encrypt all secrets under the newest key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        total = 0
        for model, fields in encrypted_fields():
            # Only the primary keys go through the ORM; the ciphertext is read and written raw.
            for pk in model._base_manager.values_list("pk", flat=True).iterator(chunk_size=500):
                total += self._rotate_row(model, pk, fields)
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} secret value(s) under the newest key."))

    def _rotate_row(self, model, pk, fields) -> int:
        """Re-encrypt one row's secrets in its own transaction, holding the row (SELECT ... FOR UPDATE).

        A token refresh holds the same row lock while it writes new tokens (DESIGN §6). Locking before
        reading means we wait for a refresh in progress and then rotate *its* ciphertext; without the
        lock we would read the old tokens, wait at the UPDATE, and write them back over the new ones.
        """
        ops = connection.ops
        table, pk_col = ops.quote_name(model._meta.db_table), ops.quote_name(model._meta.pk.column)
        columns = [ops.quote_name(field.column) for field in fields]
        for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {pk_col} = %s{for_update}", [pk])  # noqa: S608
            row = cursor.fetchone()
            if row is None:
                return 0  # deleted meanwhile
            changes = [(column, rotate_token(value)) for column, value in zip(columns, row, strict=True) if value]
            if changes:
                assignments = ", ".join(f"{column} = %s" for column, _value in changes)
                update = f"UPDATE {table} SET {assignments} WHERE {pk_col} = %s"  # noqa: S608 - quoted names only
                cursor.execute(update, [value for _column, value in changes] + [pk])
        return len(changes)
