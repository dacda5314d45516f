"""Test settings for a worker process that can run the slow presets (tests.reliability.polls_worker_app)."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.reliability.polls_worker_app.WorkerAppConfig"]  # noqa: F405
