from django.apps import AppConfig


class WooCommerceSandboxConfig(AppConfig):
    """The WooCommerce emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED, so a
    production database has none of its tables and no product module imports it."""

    name = "integrations.woocommerce.sandbox"
    label = "woocommerce_sandbox"
    verbose_name = "WooCommerce sandbox"
    sandbox_of = "woocommerce"  # connector/urls.py mounts this app's urls under /sandbox/woocommerce/

    def ready(self) -> None:
        from connector.registry import SandboxInfo, register_sandbox

        from .provision import provision

        register_sandbox(
            SandboxInfo(
                system="woocommerce",
                provision=provision,
                page_url_name="woocommerce_sandbox",
                try_url_name="woocommerce_sandbox_try",
            )
        )
