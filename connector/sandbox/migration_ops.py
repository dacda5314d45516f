"""Migration operations the sandbox apps share.

Sandbox tables hold fakes of vendor accounts, never merchant data, so a row that cannot be given an
owner is deleted rather than guessed at.
"""

from __future__ import annotations

from django.db import migrations


def delete_orphans(app_label: str, model_name: str) -> migrations.RunPython:
    """Delete the sandbox accounts without an organisation (and, by cascade, everything under them)
    before `organization` becomes required. Such rows were made by tests that built sandbox rows
    directly; no person could see or control them."""

    def forwards(apps, schema_editor) -> None:
        model = apps.get_model(app_label, model_name)
        model.objects.using(schema_editor.connection.alias).filter(organization__isnull=True).delete()

    return migrations.RunPython(forwards, migrations.RunPython.noop)
