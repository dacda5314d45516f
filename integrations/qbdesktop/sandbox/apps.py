from connector.sandbox import apps  # the module, so Django finds one AppConfig here


class QBDesktopSandboxConfig(apps.SandboxAppConfig):
    """The QuickBooks Desktop emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED (connector.sandbox.apps)."""

    name = "integrations.qbdesktop.sandbox"
    label = "qbdesktop_sandbox"
    verbose_name = "QuickBooks Desktop sandbox"
    sandbox_of = "qbdesktop"
