from connector.sandbox import apps  # the module, so Django finds one AppConfig here


class ZohoSandboxConfig(apps.SandboxAppConfig):
    """The Zoho Books emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED (connector.sandbox.apps)."""

    name = "integrations.zoho.sandbox"
    label = "zoho_sandbox"
    verbose_name = "Zoho Books sandbox"
    sandbox_of = "zoho"
