from django.apps import AppConfig


class ShipStationSandboxConfig(AppConfig):
    """The ShipStation emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED, so a
    production database has none of its tables and no product module imports it."""

    name = "integrations.shipstation.sandbox"
    label = "shipstation_sandbox"
    verbose_name = "ShipStation sandbox"
    sandbox_of = "shipstation"  # connector/urls.py mounts this app's urls under /sandbox/shipstation/

    def ready(self) -> None:
        from connector.registry import SandboxInfo, register_sandbox

        from .provision import provision

        register_sandbox(
            SandboxInfo(
                system="shipstation",
                provision=provision,
                page_url_name="shipstation_sandbox",
                try_url_name="shipstation_sandbox_try",
            )
        )
