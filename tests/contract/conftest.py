"""Parametrization and known adapter bugs for the contract suite.

A contract class names its cases' parameters from the adapter it tests (`source_types`,
`target_types`), so a type an adapter declares is always exercised. A vendor subclass lists the cases
its adapter is known to break in `known_bugs` ({"test_name[param]": reason}); each becomes a strict
xfail, so the case turns red the day the adapter is fixed and the entry must go.
"""

from __future__ import annotations

import pytest

# The cases live in plain modules, not test_*.py: have pytest explain their failed asserts too.
pytest.register_assert_rewrite("tests.contract.auth", "tests.contract.common", "tests.contract.source")
pytest.register_assert_rewrite("tests.contract.target")

from connector.http import ApiClient  # noqa: E402
from tests.contract.common import parameter_cases  # noqa: E402


def pytest_generate_tests(metafunc):
    cls = metafunc.cls
    if cls is None or not hasattr(cls, "contract_parameters"):
        return
    for name, values in parameter_cases(cls).items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=[str(v).replace(" ", "_") for v in values])


def pytest_collection_modifyitems(config, items):
    for item in items:
        bugs = getattr(getattr(item, "cls", None), "known_bugs", None)
        if not bugs:
            continue
        missing = [name for name in bugs if not callable(getattr(item.cls, name.split("[")[0], None))]
        if missing:
            raise pytest.UsageError(f"{item.cls.__name__}.known_bugs names no test: {missing}")
        if item.name in bugs:
            # Only the contract's own assertion may fail: a crash of another kind still shows red.
            item.add_marker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=bugs[item.name]))


@pytest.fixture
def surface_429(monkeypatch):
    """A 429 is raised at once instead of being waited out inline (a vendor's Retry-After can be a
    minute): the fault cases check what reaches the engine, which schedules the retry itself."""
    monkeypatch.setattr(ApiClient, "max_429_retries", 0)


@pytest.fixture(autouse=True)
def _short_lived_db_connections():
    """The live server's threads keep their database connections between requests (CONN_MAX_AGE);
    closing them after each request lets the test database be dropped at the end of the session."""
    from django.db import connection

    before = connection.settings_dict.get("CONN_MAX_AGE")
    connection.settings_dict["CONN_MAX_AGE"] = 0
    yield
    connection.settings_dict["CONN_MAX_AGE"] = before
