"""Skipped tests, said loudly: a "SKIPPED TESTS" block at the end of every run, and on CI a failed run
when a test that CI must run was skipped (a browser test without chromium, a PostgreSQL-only test
on SQLite, the RabbitMQ broker variant without RabbitMQ). tests/conftest.py wires these into pytest's `pytest_terminal_summary` and
`pytest_sessionfinish` hooks; the logic lives here as plain functions so it is tested directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

#: Skips CI must never have: marked with one of these, or skipped for a reason naming one of these.
CI_REQUIRED_MARKERS = ("browser",)
CI_REQUIRED_REASON_WORDS = ("postgresql", "rabbitmq")


class SkipReport(Protocol):
    """What pytest's TestReport offers that we read."""

    nodeid: str
    longrepr: Any
    keywords: Mapping[str, Any]


def on_ci(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_reason(report: SkipReport) -> str:
    """The reason pytest recorded: skips carry (path, line, "Skipped: reason") as their longrepr."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
    return reason.removeprefix("Skipped: ")


def ci_must_run(report: SkipReport) -> bool:
    keywords = getattr(report, "keywords", None) or {}  # a collection report has none
    if any(marker in keywords for marker in CI_REQUIRED_MARKERS):
        return True
    reason = skip_reason(report).lower()
    return any(word in reason for word in CI_REQUIRED_REASON_WORDS)


def summary_lines(skipped: Iterable[SkipReport], *, ci: bool) -> list[str]:
    """One line per skipped test (id and reason), then what CI refuses, if anything."""
    reports = list(skipped)
    lines = [f"{report.nodeid}: {skip_reason(report)}" for report in reports]
    refused = [report.nodeid for report in reports if ci_must_run(report)]
    if refused and ci:
        lines.append(f"CI fails this run: {len(refused)} browser, PostgreSQL or RabbitMQ test(s) were skipped.")
    elif refused:
        lines.append(f"{len(refused)} of these are browser, PostgreSQL or RabbitMQ tests: CI would fail on them.")
    return lines


def ci_exit_status(skipped: Iterable[SkipReport], exitstatus: int, *, ci: bool) -> int:
    """The run's exit status: a green run on CI turns red (1, tests failed) when a required test skipped."""
    if ci and exitstatus == 0 and any(ci_must_run(report) for report in skipped):
        return 1
    return exitstatus
