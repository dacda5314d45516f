"""`check --deploy` fails while STATIC_ROOT's manifest is missing or older than the static files
(with DEBUG off every page would answer 500), and plain `check` (run by migrate) does not."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from connector.checks import static_manifest_check

MANIFEST = {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}


@pytest.fixture
def production_static(tmp_path):
    """Manifest storage over a small static folder of our own, collected into a fresh STATIC_ROOT."""
    source = tmp_path / "static"
    (source / "css").mkdir(parents=True)
    (source / "css" / "app.css").write_text("body { color: black; }\n")
    with override_settings(
        STATIC_ROOT=tmp_path / "root",
        STATICFILES_DIRS=[source],
        STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
        STORAGES={**settings.STORAGES, "staticfiles": MANIFEST},
    ):
        yield source, tmp_path / "root"


def ids() -> list[str]:
    return [issue.id for issue in static_manifest_check()]


def test_no_manifest_is_an_error_that_says_what_to_run(production_static):
    (issue,) = static_manifest_check()
    assert issue.id == "connector.E001" and "collectstatic" in issue.hint
    with pytest.raises(SystemCheckError, match="connector.E001"):
        call_command("check", "--deploy")
    call_command("check")  # migrate's own checks do not need the manifest: release runs it first


def test_after_collectstatic_the_check_is_clean(production_static):
    call_command("collectstatic", "--noinput", verbosity=0)
    assert ids() == []


def test_a_file_added_since_collectstatic_is_an_error(production_static):
    source, _root = production_static
    call_command("collectstatic", "--noinput", verbosity=0)
    (source / "css" / "new.css").write_text("p { margin: 0; }\n")
    (issue,) = static_manifest_check()
    assert issue.id == "connector.E002" and "css/new.css" in issue.msg


def test_a_collected_file_gone_from_static_root_is_an_error(production_static):
    _source, root = production_static
    call_command("collectstatic", "--noinput", verbosity=0)
    for hashed in (root / "css").glob("app.*.css"):
        hashed.unlink()
    assert ids() == ["connector.E002"]


def test_without_the_manifest_storage_nothing_is_checked():
    assert settings.STORAGES["staticfiles"]["BACKEND"].endswith("StaticFilesStorage")
    assert "Manifest" not in settings.STORAGES["staticfiles"]["BACKEND"]
    assert ids() == []
