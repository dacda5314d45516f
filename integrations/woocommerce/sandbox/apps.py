from connector.sandbox import apps  # the module, so Django finds one AppConfig here


class WooCommerceSandboxConfig(apps.SandboxAppConfig):
    """The WooCommerce emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED (connector.sandbox.apps)."""

    name = "integrations.woocommerce.sandbox"
    label = "woocommerce_sandbox"
    verbose_name = "WooCommerce sandbox"
    sandbox_of = "woocommerce"
    outbox_module = "delivery"  # registers its webhook outbox (connector.sandbox.outbox)
