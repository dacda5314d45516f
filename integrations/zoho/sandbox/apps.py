from django.apps import AppConfig


class ZohoSandboxConfig(AppConfig):
    """The Zoho Books emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED, so a
    production database has none of its tables and no product module imports it."""

    name = "integrations.zoho.sandbox"
    label = "zoho_sandbox"
    verbose_name = "Zoho Books sandbox"
    sandbox_of = "zoho"  # connector/urls.py mounts this app's urls under /sandbox/zoho/

    def ready(self) -> None:
        from connector.registry import SandboxInfo, register_sandbox

        from .provision import provision

        register_sandbox(
            SandboxInfo(
                system="zoho",
                provision=provision,
                page_url_name="zoho_sandbox",
                try_url_name="zoho_sandbox_try",
            )
        )
