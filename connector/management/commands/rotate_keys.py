"""Re-encrypt every stored secret under the newest FIELD_ENCRYPTION_KEYS key.

Prepend a new key to FIELD_ENCRYPTION_KEYS, restart, run this, then the old key can be removed.
It reads raw ciphertext (no decryption to Python objects) and rotates it in place, row by row.
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
        table = connection.ops.quote_name(model._meta.db_table)
        pk_col = connection.ops.quote_name(model._meta.pk.column)
        rotated = 0
        with transaction.atomic(), connection.cursor() as cursor:
            for field in fields:
                col = connection.ops.quote_name(field.column)
                cursor.execute(f"SELECT {col} FROM {table} WHERE {pk_col} = %s", [pk])  # noqa: S608
                row = cursor.fetchone()
                if row is None or row[0] is None:
                    continue
                cursor.execute(f"UPDATE {table} SET {col} = %s WHERE {pk_col} = %s", [rotate_token(row[0]), pk])  # noqa: S608
                rotated += 1
        return rotated
