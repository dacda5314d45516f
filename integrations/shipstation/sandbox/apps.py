from connector.sandbox import apps  # the module, so Django finds one AppConfig here


class ShipStationSandboxConfig(apps.SandboxAppConfig):
    """The ShipStation emulator (DESIGN §9): its own app, installed only when SANDBOX_ENABLED (connector.sandbox.apps)."""

    name = "integrations.shipstation.sandbox"
    label = "shipstation_sandbox"
    verbose_name = "ShipStation sandbox"
    sandbox_of = "shipstation"
    outbox_module = "delivery"  # registers its webhook outbox (connector.sandbox.outbox)
