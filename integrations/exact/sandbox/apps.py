from connector.sandbox import apps  # the module, so Django finds one AppConfig here


class ExactSandboxConfig(apps.SandboxAppConfig):
    """The Exact Online emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED (connector.sandbox.apps)."""

    name = "integrations.exact.sandbox"
    label = "exact_sandbox"
    verbose_name = "Exact Online sandbox"
    sandbox_of = "exact"
    outbox_module = "webhooks"  # registers its webhook outbox (connector.sandbox.outbox)
