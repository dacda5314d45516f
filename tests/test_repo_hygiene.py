"""The repository is self-contained: the vendor specs the tests use live in tests/specs/, and nothing
else points at a spec folder outside the checkout (a fresh clone elsewhere must pass `make test`).

- No file outside tests/specs names an absolute path under the build machine's work folder or the
  old shared spec folder (those files cite the vendor's documentation, or tests/specs/<vendor>/<file>).
- Every file in tests/specs/<vendor>/ is listed in that folder's PROVENANCE.md; a vendor file listed
  with a sha256 still has exactly those bytes (corrections happen in memory, in the tests).
- The spec-based tests load their files from tests/specs and contain no skip: if a spec is missing
  they fail instead of quietly passing.
- The WSDL the QuickBooks Web Connector simulator loads lives inside the repository and is the vendor
  file's exact bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "tests" / "specs"
VENDORS = ("exact", "qbdesktop", "shipstation", "woocommerce", "zoho")

# Spelled in two parts so this file does not match its own rule.
FORBIDDEN = re.compile("(?<![\\w.~-])/wo" + "rk/|shared/" + "specs")
SKIPPED_DIRS = {".git", ".venv", "venv", "var", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules", "tmp"}
SKIPPED_PATHS = {SPECS, ROOT / "bench" / "out", Path(__file__).resolve()}
SKIPPED_FILES = {".env"}  # local secrets, not part of the repository

#: Every test module that reads a file in tests/specs, with the attribute naming where it reads from.
SPEC_READERS = {
    "tests.integrations.shipstation.openapi_v1": ("SPEC", "shipstation/shipstation-v1-openapi.apisguru.json"),
    "tests.integrations.shipstation.openapi_v2": ("SPEC", "shipstation/shipstation-v2-openapi.yaml"),
    "tests.integrations.woocommerce.test_adapter_and_deliveries": ("SPECS", "woocommerce"),
    "tests.integrations.zoho.test_sandbox": ("SPECS", "zoho"),
    "tests.integrations.exact.test_fidelity": ("ANSWERS", "exact/answers/exact-answers.json"),
    "tests.integrations.woocommerce.test_fidelity": ("SPEC", "woocommerce/deliveries/core-order-updated.json"),
    "tests.integrations.zoho.test_fidelity": ("ANSWERS", "zoho/answers/zoho-answers.json"),
}
#: The test files that run those readers (or replay captured vendor traffic): none may skip.
SPEC_TESTS = (
    "tests/integrations/shipstation/test_fidelity.py",
    "tests/integrations/shipstation/test_v2_sandbox.py",
    "tests/integrations/shipstation/test_v2_inventory.py",
    "tests/integrations/woocommerce/test_adapter_and_deliveries.py",
    "tests/integrations/zoho/test_sandbox.py",
    "tests/integrations/qbdesktop/test_soap_captured.py",
    "tests/integrations/exact/test_fidelity.py",
    "tests/integrations/woocommerce/test_fidelity.py",
    "tests/integrations/zoho/test_fidelity.py",
)
SKIP_MARKERS = ("pytest.skip", "mark.skip", "skipif", "importorskip", "xfail")

# A row of a PROVENANCE.md "Files in this folder" table: | `name` | bytes | sha256 or "ours" | used by |
PROVENANCE_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*[\d,]+\s*\|\s*(`[0-9a-f]{64}`|ours)\s*\|", re.MULTILINE)


def _candidate_files():
    """Files of the repository: git's view (tracked plus untracked, minus ignored ones) when this is a
    checkout, else a walk that skips the usual local folders."""
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        yield from (ROOT / name for name in listed.split("\0") if name)
        return
    for folder, dirs, files in os.walk(ROOT):
        here = Path(folder)
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith("_cache")]
        yield from (here / name for name in files)


def repository_text_files():
    for path in _candidate_files():
        if path.name in SKIPPED_FILES or not path.is_file():
            continue
        if any(path == p or p in path.parents for p in SKIPPED_PATHS):
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (images, fonts)
        yield path, data.decode("utf-8", errors="replace")


def test_no_file_outside_tests_specs_points_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path, text in repository_text_files()
        for number, line in enumerate(text.splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert offenders == [], f"cite the vendor docs or tests/specs/<vendor>/<file> instead: {offenders}"


def test_the_rule_catches_what_it_should():
    assert FORBIDDEN.search('SPEC = Path("/wo' + 'rk/shared/x.json")')
    assert FORBIDDEN.search("Sources: shared/" + "specs/zoho/ZOHO.md")
    assert not FORBIDDEN.search("https://example.com/network/work/ tests/specs/zoho/ZOHO.md ~/work/x")


def provenance(vendor: str) -> dict[str, str]:
    text = (SPECS / vendor / "PROVENANCE.md").read_text()
    return {name: digest.strip("`") for name, digest in PROVENANCE_ROW.findall(text)}


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_spec_file_is_listed_in_its_provenance_with_unchanged_bytes(vendor):
    listed = provenance(vendor)
    folder = SPECS / vendor
    present = {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.name != "PROVENANCE.md"
    }
    assert present and set(listed) == present
    for name, digest in listed.items():
        if digest != "ours":
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_spec_files_are_committed_so_a_clone_has_them():
    tracked = subprocess.run(
        ["git", "ls-files", "--", "tests/specs"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    on_disk = [path.relative_to(ROOT).as_posix() for path in SPECS.rglob("*") if path.is_file()]
    assert sorted(on_disk) == sorted(tracked)


@pytest.mark.parametrize("module", sorted(SPEC_READERS))
def test_spec_readers_load_from_tests_specs(module):
    attribute, relative = SPEC_READERS[module]
    location = Path(getattr(importlib.import_module(module), attribute)).resolve()
    assert location == (SPECS / relative).resolve() and location.exists()


@pytest.mark.parametrize("test_file", SPEC_TESTS)
def test_spec_based_tests_never_skip(test_file):
    source = (ROOT / test_file).read_text()
    assert not [marker for marker in SKIP_MARKERS if marker in source]


def test_the_web_connector_simulator_loads_the_wsdl_from_inside_the_repository():
    from integrations.qbdesktop.sandbox.client import WSDL_PATH

    assert WSDL_PATH.resolve().is_relative_to(ROOT)
    assert WSDL_PATH.read_bytes() == (SPECS / "qbdesktop" / "QBWebConnectorSvc.wsdl").read_bytes()


def test_the_captured_web_connector_envelopes_are_cut_verbatim_from_the_spec_copy():
    """The QBWC tests post fixtures beside them; each is the exact text of an envelope captured from a
    real Web Connector as tests/specs/qbdesktop/captured-envelopes.md gives it (with its provenance),
    and its headers are the ones logged with it."""
    spec = (SPECS / "qbdesktop" / "captured-envelopes.md").read_text()
    fixtures = ROOT / "tests" / "integrations" / "qbdesktop" / "fixtures"
    bodies = sorted(fixtures.glob("*.xml"))
    assert len(bodies) >= 9
    for body in bodies:
        assert body.read_text() in spec, body.name
        headers = body.with_suffix(".headers")
        if headers.exists():
            for line in headers.read_text().splitlines():
                if line and not line.startswith("Host:"):  # the test server's host replaces the logged one
                    assert line in spec, (headers.name, line)
