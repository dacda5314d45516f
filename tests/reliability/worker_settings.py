"""Test settings for a worker process that can run the slow-poll preset (tests.reliability.slow_poll)."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.reliability.slow_poll.SlowPollConfig"]  # noqa: F405
