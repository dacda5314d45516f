from django.apps import AppConfig


class ExactSandboxConfig(AppConfig):
    """The Exact Online emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED, so a
    production database has none of its tables and no product module imports it."""

    name = "integrations.exact.sandbox"
    label = "exact_sandbox"
    verbose_name = "Exact Online sandbox"
    sandbox_of = "exact"  # connector/urls.py mounts this app's urls under /sandbox/exact/

    def ready(self) -> None:
        from connector.registry import SandboxInfo, register_sandbox

        from .provision import provision

        register_sandbox(
            SandboxInfo(
                system="exact",
                provision=provision,
                page_url_name="exact_sandbox",
                try_url_name="exact_sandbox_try",
            )
        )
