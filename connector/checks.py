"""Deployment checks (`manage.py check --deploy`, the Procfile's release phase).

With DEBUG off the pages name static files through the manifest `collectstatic` writes into
STATIC_ROOT; without it every page answers 500, and a page using a file added since it was written
does too. This check says so before the web processes start, and what to run.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import Error, Tags, register
from django.core.files.storage import storages

# collectstatic's default ignore patterns: files it never copies, so never in the manifest either.
IGNORED = ["CVS", ".*", "*~"]
RUN = "Run `python manage.py collectstatic --noinput` (the Procfile's release phase does) with the web process's STATIC_ROOT."


def collectable_paths() -> set[str]:
    """Every static file the finders offer, as the manifest names them."""
    return {path.replace("\\", "/") for finder in get_finders() for path, _storage in finder.list(IGNORED)}


@register(Tags.staticfiles, deploy=True)
def static_manifest_check(app_configs=None, **kwargs) -> list[Error]:
    storage = storages["staticfiles"]
    if not isinstance(storage, ManifestFilesMixin):
        return []
    if storage.read_manifest() is None:
        where = Path(settings.STATIC_ROOT) / storage.manifest_name
        return [
            Error(
                f"No static files manifest at {where}: with DEBUG off every page answers 500.",
                hint=RUN,
                id="connector.E001",
            )
        ]
    paths, _hash = storage.load_manifest()
    missing = sorted(collectable_paths() - set(paths))
    missing += sorted(name for name, hashed in paths.items() if not storage.exists(hashed))
    if missing:
        return [
            Error(
                f"STATIC_ROOT is out of date: {len(missing)} static file(s) missing from its manifest or its "
                f"folder (e.g. {missing[0]}); pages using them answer 500 or lose their styles and scripts.",
                hint=RUN,
                id="connector.E002",
            )
        ]
    return []
