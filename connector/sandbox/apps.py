"""The one AppConfig base every vendor emulator app uses (DESIGN §9).

A sandbox app lives at `integrations/<system>/sandbox/`, is installed only when SANDBOX_ENABLED (so a
production database has none of its tables and no product module imports it), and registers how it
provisions an organisation's sandbox account. Subclasses set `name`, `label`, `verbose_name` and
`sandbox_of`; the app's `provision` module supplies `provision`, and its url names follow
`<system>_sandbox` / `<system>_sandbox_try`.

Every request under /sandbox/ nudges the outbox sweep (`outbox.nudge`): a webhook whose sender
died with its process goes out on the sandbox's next request, without beat.
"""

from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig
from django.core.signals import request_started


def _nudge_outboxes(sender, environ=None, **kwargs) -> None:
    if environ and str(environ.get("PATH_INFO", "")).startswith("/sandbox/"):
        from connector.sandbox.outbox import nudge

        nudge()


class SandboxAppConfig(AppConfig):
    sandbox_of: str = ""  # connector/urls.py mounts this app's urls under /sandbox/<sandbox_of>/
    outbox_module: str = ""  # the module (in this app) that registers its webhook outbox on import

    def ready(self) -> None:
        from connector.registry import SandboxInfo, register_sandbox

        request_started.connect(_nudge_outboxes, dispatch_uid="sandbox-outbox-nudge")
        if self.outbox_module:
            import_module(f"{self.name}.{self.outbox_module}")

        register_sandbox(
            SandboxInfo(
                system=self.sandbox_of,
                provision=import_module(f"{self.name}.provision").provision,
                page_url_name=f"{self.sandbox_of}_sandbox",
                try_url_name=f"{self.sandbox_of}_sandbox_try",
            )
        )
