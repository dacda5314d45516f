from django.apps import AppConfig


class QBDesktopSandboxConfig(AppConfig):
    """The QuickBooks Desktop emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED, so a
    production database has none of its tables and no product module imports it."""

    name = "integrations.qbdesktop.sandbox"
    label = "qbdesktop_sandbox"
    verbose_name = "QuickBooks Desktop sandbox"
    sandbox_of = "qbdesktop"  # connector/urls.py mounts this app's urls under /sandbox/qbdesktop/

    def ready(self) -> None:
        from connector.registry import SandboxInfo, register_sandbox

        from .provision import provision

        register_sandbox(
            SandboxInfo(
                system="qbdesktop",
                provision=provision,
                page_url_name="qbdesktop_sandbox",
                try_url_name="qbdesktop_sandbox_try",
            )
        )
