"""The skipped-tests report and the CI rule: browser, PostgreSQL and RabbitMQ tests may not skip on CI."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from tests import conftest, skips


@dataclass
class Report:
    nodeid: str
    reason: str
    keywords: dict[str, Any] = field(default_factory=dict)

    @property
    def longrepr(self):
        return ("tests/x.py", 3, f"Skipped: {self.reason}")


BROWSER = Report("tests/browser/test_signup.py::test_sign_up", "chromium is not installed", {"browser": 1})
POSTGRES = Report("tests/security/test_secrets.py::test_locks", "row locks need PostgreSQL (SQLite serialises)")
RABBIT = Report("tests/scale/test_scale_out.py::test_x[amqp]", "RabbitMQ not reachable at 127.0.0.1:5672//")
GIT = Report("tests/test_repo_hygiene.py::test_tracked", "not a git checkout")


def test_ci_is_read_from_the_environment():
    assert skips.on_ci({"CI": "true"}) and skips.on_ci({"CI": "1"})
    assert not skips.on_ci({}) and not skips.on_ci({"CI": "false"}) and not skips.on_ci({"CI": ""})


def test_every_skip_is_listed_with_its_reason():
    lines = skips.summary_lines([GIT, BROWSER], ci=False)
    assert lines[:2] == [
        "tests/test_repo_hygiene.py::test_tracked: not a git checkout",
        "tests/browser/test_signup.py::test_sign_up: chromium is not installed",
    ]
    assert lines[2] == "1 of these are browser, PostgreSQL or RabbitMQ tests: CI would fail on them."
    assert skips.summary_lines([GIT], ci=True) == ["tests/test_repo_hygiene.py::test_tracked: not a git checkout"]


def test_ci_fails_a_green_run_that_skipped_a_browser_or_postgresql_test():
    assert skips.ci_exit_status([BROWSER], 0, ci=True) == 1
    assert skips.ci_exit_status([POSTGRES, GIT], 0, ci=True) == 1
    assert skips.ci_exit_status([RABBIT], 0, ci=True) == 1  # the scale-out test runs on both brokers
    assert skips.ci_exit_status([GIT], 0, ci=True) == 0  # other skips are only reported
    assert skips.ci_exit_status([BROWSER], 0, ci=False) == 0  # a laptop without chromium still passes
    assert skips.ci_exit_status([BROWSER], 2, ci=True) == 2  # an interrupted run keeps its own status


def test_a_collection_skip_without_keywords_is_judged_by_its_reason():
    module_skip = SimpleNamespace(nodeid="tests/x.py", longrepr=("tests/x.py", 1, "Skipped: PostgreSQL only"))
    assert skips.ci_must_run(module_skip)
    assert skips.skip_reason(SimpleNamespace(longrepr=None)) == ""


class Reporter:
    def __init__(self, skipped):
        self.stats = {"skipped": skipped}
        self.out: list[str] = []

    def section(self, title, **markup):
        self.out.append(f"== {title} ==")

    def write_line(self, line, **markup):
        self.out.append(line)


def test_the_hooks_print_the_block_and_set_the_exit_status_on_ci(monkeypatch):
    reporter = Reporter([BROWSER])
    monkeypatch.setenv("CI", "true")
    conftest.pytest_terminal_summary(reporter, 0, None)
    assert reporter.out[0] == "== SKIPPED TESTS ==" and reporter.out[1].startswith(BROWSER.nodeid)
    assert reporter.out[-1] == "CI fails this run: 1 browser, PostgreSQL or RabbitMQ test(s) were skipped."
    session = SimpleNamespace(
        exitstatus=0, config=SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda name: reporter))
    )
    conftest.pytest_sessionfinish(session, 0)
    assert session.exitstatus == 1
    monkeypatch.setenv("CI", "false")
    session.exitstatus = 0
    conftest.pytest_sessionfinish(session, 0)
    assert session.exitstatus == 0
